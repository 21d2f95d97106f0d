"""The maintenance DAG's steps against the real things: Airflow's own `airflow db clean` on a migrated
metadata database, and raw-payload retention and VACUUM/ANALYZE on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, text, update

from footfall.maintenance import apply_retention, clean_airflow_metadata, vacuum
from footfall.pipeline import sync_window
from footfall.sources.fetched import Fetched
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.landing import land_payloads, pulled_bodies
from footfall_devtools.metadata_aging import age_metadata

NOW = datetime.now(UTC).replace(microsecond=0)
OLD_DAY = Window(datetime(2026, 11, 17, 23, tzinfo=UTC), datetime(2026, 11, 18, 23, tzinfo=UTC))


def test_db_clean_removes_runs_older_than_the_retention_and_keeps_the_rest(airflow_db, tmp_path, monkeypatch):
    """The real `airflow db clean` through footfall.maintenance: old runs and their task instances go,
    the last 7 days stay, and Airflow keeps each DAG's latest scheduled run."""
    home = tmp_path / "airflow_home"
    home.mkdir()
    shutil.copy(airflow_db, home / "airflow.db")
    url = f"sqlite:///{home / 'airflow.db'}"
    dags = ["site__old-a", "site__old-b"]
    written = age_metadata(url, dags, first=NOW - timedelta(days=10), last=NOW - timedelta(days=9))
    recent = age_metadata(url, dags, first=NOW - timedelta(days=2), last=NOW - timedelta(days=2) + timedelta(hours=1))
    assert (written, recent) == (2 * 288, 2 * 12)
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)

    clean_airflow_metadata(7, NOW)
    clean_airflow_metadata(7, NOW)  # again: nothing more to do, no error

    engine = create_engine(url)
    cut = NOW - timedelta(days=7)
    mine = "dag_id IN ('site__old-a', 'site__old-b')"  # the session's metadata copy may hold other tests' runs
    with engine.connect() as conn:
        old = conn.execute(text(f"SELECT COUNT(*) FROM dag_run WHERE {mine} AND run_after < :cut"), {"cut": cut})
        kept = conn.execute(text(f"SELECT COUNT(*) FROM dag_run WHERE {mine} AND run_after >= :cut"), {"cut": cut})
        tasks = conn.execute(text(f"SELECT COUNT(*) FROM task_instance WHERE {mine}")).scalar_one()
        old, kept = old.scalar_one(), kept.scalar_one()
    engine.dispose()
    assert old == 0 and kept == 2 * 12  # the recent runs are each DAG's latest: nothing old needs keeping
    assert tasks == kept  # the old runs' task instances went with them


@pytest.fixture
def engine(db_url, warehouse):
    return warehouse(db_url)


def test_retention_removes_old_bodies_and_keeps_every_aggregate(simulator, make_site, engine):
    site = make_site("kept-site", retention_days=30)
    sync_window(site, OLD_DAY, engine=engine, run_id="manual__old")
    spare = Fetched("SIM0000001", "GET /old", 200, "application/json", b'{"superseded": true}')
    (unreferenced,) = land_payloads(engine, site, OLD_DAY, [spare])
    rp, ci, oc = schema.raw_payload, schema.count_interval, schema.occupancy_corrected
    with engine.begin() as conn:
        conn.execute(update(rp).values(received_at=NOW - timedelta(days=40)))  # landed 40 days ago
    recent = Fetched("SIM0000002", "GET /new", 200, "application/json", b'{"recent": true}')
    (fresh,) = land_payloads(engine, site, OLD_DAY, [recent])

    def snapshot():
        with engine.connect() as conn:
            return (
                conn.execute(select(ci).order_by(ci.c.counter_id, ci.c.interval_start)).all(),
                conn.execute(select(oc).order_by(oc.c.interval_start)).all(),
                conn.execute(select(func.count()).select_from(schema.quality_run)).scalar_one(),
            )

    aggregates = snapshot()
    assert aggregates[0]
    (result,) = apply_retention(engine, [site], NOW)
    referenced = {r.payload_id for r in aggregates[0]}
    assert result.deleted == 1 and result.emptied == len(referenced) and result.bytes_removed > 0
    assert snapshot() == aggregates  # counts, corrected occupancy and quality runs untouched
    with engine.connect() as conn:
        bodies = dict(conn.execute(select(rp.c.payload_id, rp.c.body)).all())
    assert unreferenced not in bodies  # nothing pointed at it: deleted with its row
    assert all(bodies[p] == b"" for p in referenced)  # rows kept for the counts that name them, bodies gone
    assert bodies[fresh] != b""  # received today: kept
    assert [r.payload_id for r in pulled_bodies(engine, site.id, site.source_label, OLD_DAY)] == [fresh]

    (again,) = apply_retention(engine, [site], NOW)  # idempotent: nothing more goes
    assert (again.deleted, again.emptied) == (0, 0)
    longer = make_site("kept-site", retention_days=60)
    (none,) = apply_retention(engine, [longer], NOW)
    assert (none.deleted, none.emptied) == (0, 0)


def test_vacuum_analyze_runs_outside_a_transaction(simulator, make_site, engine):
    sync_window(make_site("vacuum-site"), OLD_DAY, engine=engine, run_id="manual__vacuum")
    statements = vacuum(engine)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            assert statements == ["VACUUM (ANALYZE)"]
            analyzed = conn.execute(
                text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'count_interval'")
            ).scalar_one()
            assert analyzed
        else:
            assert statements == ["VACUUM", "ANALYZE"]
            tables = {r[0] for r in conn.execute(text("SELECT tbl FROM sqlite_stat1"))}
            assert "count_interval" in tables


def test_db_clean_gets_the_metadata_url_that_airflow_hides_from_tasks():
    """Inside a task Airflow's supervisor puts a dummy URL in AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: the child
    `airflow db clean` gets FOOTFALL_AIRFLOW_METADATA_URL back under Airflow's name, or the error says what to set."""
    from footfall.maintenance import db_clean_environment

    task_env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "airflow-db-not-allowed:///", "SUPERVISOR_COMMS": "x"}
    with pytest.raises(RuntimeError, match="FOOTFALL_AIRFLOW_METADATA_URL"):
        db_clean_environment(task_env)
    env = db_clean_environment({**task_env, "FOOTFALL_AIRFLOW_METADATA_URL": "postgresql+psycopg://h/airflow"})
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg://h/airflow"
    assert "SUPERVISOR_COMMS" not in env
    shell = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////tmp/a.db"}  # from a shell: as it is
    assert db_clean_environment(shell) == shell
