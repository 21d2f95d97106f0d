"""Real Airflow runs (`dag.test()`) of a site DAG against the simulator, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from sqlalchemy import select

from footfall import db
from footfall.timewindow import Window
from footfall_simulator import Fault, count_intervals

pytestmark = pytest.mark.airflow

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
SITE_ID = "it-site"
DAG_ID = f"site__{SITE_ID}"
REFS = {"main-door": "SIM0000001", "side-door": "SIM0000002"}
LOOKBACK = timedelta(minutes=30)
# A Friday morning in Paris; the simulator's frozen clock is later that day.
LOGICAL_DATE = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(airflow_db, db_url, warehouse, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    return warehouse(db_url)


@pytest.fixture
def site_dag(registry, simulator, engine):
    """The site's DAG as Airflow parses it from the dags folder, with the test registry."""
    registry.add_site(SITE_ID)
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


def table(engine, name: str, order: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY {order}")]


def sync_runs(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(db.sync_run)).mappings().all()]


def run_window(dag_run) -> Window:
    """The window a run loads: its data interval widened by the site's lookback."""
    return Window(dag_run.data_interval_start - LOOKBACK, dag_run.data_interval_end)


def test_dag_run_loads_what_the_devices_counted(site_dag, simulator, engine):
    dag_run = site_dag.test(logical_date=LOGICAL_DATE)

    assert dag_run.state == "success"
    window = run_window(dag_run)
    assert window.end - window.start == LOOKBACK + timedelta(minutes=5)
    now, seed = simulator.state.now(), simulator.state.seed
    expected = {
        (counter_id, i.start_utc): (15, i.entries, i.exits)
        for counter_id, ref in REFS.items()
        for i in count_intervals(simulator.state.profile(ref), window.start, window.end, 15, seed, now)
    }
    assert len(expected) >= 2 * 2
    with engine.connect() as conn:
        rows = conn.execute(select(db.count_interval)).mappings().all()
    assert {
        (r["counter_id"], r["interval_start"]): (r["interval_minutes"], r["entries"], r["exits"]) for r in rows
    } == (expected)
    assert {r["site_id"] for r in rows} == {SITE_ID}

    (run,) = sync_runs(engine)
    assert (run["site_id"], run["outcome"], run["stage"], run["error"]) == (SITE_ID, "success", None, None)
    assert (run["window_start"], run["window_end"]) == (window.start, window.end)
    assert run["run_id"] == dag_run.run_id
    assert run["rows_loaded"] == len(expected)


def test_same_window_twice_leaves_identical_tables(site_dag, engine):
    first = site_dag.test(logical_date=LOGICAL_DATE)
    assert first.state == "success"
    before = {
        "count_interval": table(engine, "count_interval", "site_id, counter_id, interval_start"),
        "raw_payload": table(engine, "raw_payload", "payload_id"),
        "counter": table(engine, "counter", "site_id, counter_id"),
    }
    assert before["count_interval"]

    second = site_dag.test(logical_date=LOGICAL_DATE)

    assert second.state == "success"
    assert second.run_id != first.run_id
    after = {name: table(engine, name, order) for name, order in _ORDER.items()}
    assert after == before
    (run,) = sync_runs(engine)  # one record per window, now the second run's
    assert (run["run_id"], run["outcome"]) == (second.run_id, "success")


def test_failing_run_fails_and_loads_nothing(site_dag, simulator, engine):
    simulator.add_fault(Fault("malformed", params={"body": "html"}))
    site_dag.get_task("sync").retries = 0

    dag_run = site_dag.test(logical_date=LOGICAL_DATE)

    assert dag_run.state == "failed"
    assert table(engine, "count_interval", "site_id") == []
    (run,) = sync_runs(engine)
    assert (run["run_id"], run["outcome"], run["stage"]) == (dag_run.run_id, "failed", "normalize")
    assert run["error"].startswith(
        f"site {SITE_ID}, source http_json:axis_tvpc_export_json: normalize failed: not JSON"
    )
    with engine.connect() as conn:
        errors = conn.execute(select(db.raw_payload.c.error)).scalars().all()
    assert any(e and e.startswith("normalize: not JSON (looks like an HTML page)") for e in errors)


_ORDER = {
    "count_interval": "site_id, counter_id, interval_start",
    "raw_payload": "payload_id",
    "counter": "site_id, counter_id",
}
