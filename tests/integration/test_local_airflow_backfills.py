"""The demo re-runs on the same Airflow home: backfills the scheduler had no time to close are closed first,
by the scheduler's own rule (never one that still has a queued or running run, or is still being set up)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text

from footfall_devtools.local_airflow import LocalAirflow

STAMP = "%Y-%m-%d %H:%M:%S.%f"


def add_backfill(conn, backfill_id: int, created: datetime, runs: list[str | None]) -> None:
    """A backfill and its dates; a state makes a dag_run for the date, None is a date the backfill skipped."""
    conn.execute(
        text(
            "INSERT INTO backfill (id, dag_id, from_date, to_date, dag_run_conf, is_paused, reprocess_behavior,"
            " max_active_runs, created_at, updated_at) VALUES (:id, 'site__x', :t, :t, '{}', 0, 'none', 4, :c, :c)"
        ),
        {"id": backfill_id, "t": created.strftime(STAMP), "c": created.strftime(STAMP)},
    )
    for n, state in enumerate(runs):
        run_id = None
        if state is not None:
            run_id = backfill_id * 100 + n
            conn.execute(
                text(
                    "INSERT INTO dag_run (id, dag_id, run_id, run_type, run_after, state, backfill_id)"
                    " VALUES (:id, 'site__x', :rid, 'backfill', :t, :state, :b)"
                ),
                {"id": run_id, "rid": f"backfill__{run_id}", "t": created.strftime(STAMP), "state": state,
                 "b": backfill_id},
            )  # fmt: skip
        conn.execute(
            text("INSERT INTO backfill_dag_run (backfill_id, dag_run_id, sort_ordinal) VALUES (:b, :r, :n)"),
            {"b": backfill_id, "r": run_id, "n": n},
        )


@pytest.fixture
def home(airflow_db, tmp_path) -> Iterator[tuple[LocalAirflow, Engine]]:
    """A copy of the migrated Airflow metadata in a home of its own, and an engine on it; without the
    runs and backfills that other tests left in the session's metadata."""
    path = tmp_path / "airflow.db"
    shutil.copy(airflow_db, path)
    url = f"sqlite:///{path}"
    airflow = LocalAirflow({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url})
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in ("task_instance", "backfill_dag_run", "dag_run", "backfill"):
            conn.execute(text(f"DELETE FROM {table}"))
    yield airflow, engine
    engine.dispose()


def test_only_finished_and_set_up_backfills_are_closed(home):
    airflow, engine = home
    now = datetime.now(UTC)
    with engine.begin() as conn:
        add_backfill(conn, 1, now, ["success", "failed"])  # done: the demo stopped before the scheduler saw it
        add_backfill(conn, 2, now, [None, None])  # every date already had a run: nothing to wait for
        add_backfill(conn, 3, now, ["success", "running"])  # still running
        add_backfill(conn, 4, now, ["queued"])  # still queued
        add_backfill(conn, 5, now, [])  # just created, dates not yet written
        add_backfill(conn, 6, now - timedelta(minutes=5), [])  # never got its dates: abandoned

    closed = airflow.complete_finished_backfills()

    with engine.connect() as conn:
        done = {r[0] for r in conn.execute(text("SELECT id FROM backfill WHERE completed_at IS NOT NULL"))}
    assert closed == 3 and done == {1, 2, 6}
    assert airflow.complete_finished_backfills() == 0


def test_backfills_left_by_an_interrupted_demo_are_cancelled_and_their_runs_failed(home):
    """Before the demo starts its scheduler, nothing will run a stopped demo's queued or running runs:
    they are failed (their task instances too) and every open backfill is completed, so Airflow
    accepts the next backfill of those DAGs."""
    airflow, engine = home
    now = datetime.now(UTC)
    with engine.begin() as conn:
        add_backfill(conn, 1, now, ["success", "running", "queued"])  # interrupted mid-way
        add_backfill(conn, 2, now - timedelta(days=1), ["failed"])  # closed long ago: left alone
        conn.execute(text("UPDATE backfill SET completed_at = :t WHERE id = 2"), {"t": now.strftime(STAMP)})
        for n, (run_id, state) in enumerate((("backfill__101", "running"), ("backfill__100", "success"))):
            conn.execute(
                text(
                    "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, state, try_number, pool,"
                    " pool_slots) VALUES (:id, 'sync', 'site__x', :run_id, -1, :state, 1, 'default_pool', 1)"
                ),
                {"id": f"{n:032x}", "run_id": run_id, "state": state},
            )

    assert airflow.complete_finished_backfills() == 0
    assert airflow.cancel_open_backfills() == 1

    with engine.connect() as conn:
        runs = dict(conn.execute(text("SELECT id, state FROM dag_run ORDER BY id")).all())
        tis = dict(conn.execute(text("SELECT run_id, state FROM task_instance")).all())
        open_ = conn.execute(text("SELECT count(*) FROM backfill WHERE completed_at IS NULL")).scalar_one()
    assert runs == {100: "success", 101: "failed", 102: "failed", 200: "failed"}
    assert tis == {"backfill__101": "failed", "backfill__100": "success"}
    assert open_ == 0
    assert airflow.cancel_open_backfills() == 0
