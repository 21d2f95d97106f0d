"""Airflow's own backfill (scheduler + LocalExecutor, PostgreSQL metadata and warehouse) loads exactly
what `dag.test()` runs of the same windows load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag

from footfall.warehouse import schema
from footfall.warehouse.engine import get_engine, upgrade
from footfall_devtools.demo import start_simulator
from footfall_devtools.local_airflow import LocalAirflow, airflow_env, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.airflow]

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
SITE_ID = "backfill-site"
# Six 5-minute windows on a past weekday afternoon: the simulator answers history deterministically.
FIRST = datetime(2026, 11, 18, 13, 0, tzinfo=UTC)
RUNS = 6


def counts(url: str) -> list[tuple]:
    """The backfilled day's rows (the scheduler's live runs of today may have added today's)."""
    engine = get_engine(url)
    t = schema.count_interval
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    t.c.site_id,
                    t.c.counter_id,
                    t.c.interval_start,
                    t.c.interval_minutes,
                    t.c.entries,
                    t.c.exits,
                    t.c.occupancy,
                )
                .where(t.c.interval_start < FIRST + timedelta(days=1))
                .order_by(t.c.counter_id, t.c.interval_start)
            )
        ]


def test_scheduler_backfill_equals_dag_test_runs(more_databases, registry, airflow_db, tmp_path, monkeypatch):
    # Two more databases on the test server: Airflow's metadata and the backfill's warehouse.
    metadata_url, backfill_wh = more_databases("meta"), more_databases("wh")
    registry.add_site(SITE_ID)
    sim_port = free_port()
    simulator = start_simulator(sim_port)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_SIM", f"http://127.0.0.1:{sim_port}")
        upgrade(backfill_wh)
        env = airflow_env(
            tmp_path / "airflow_home",
            api_port=free_port(),
            metadata_url=metadata_url,
            parallelism=2,
            extra={
                "FOOTFALL_DB_URL": backfill_wh,
                "FOOTFALL_SITES_DIR": str(registry.path),
                "AIRFLOW_CONN_FOOTFALL_SIM": f"http://127.0.0.1:{sim_port}",
            },
        )
        with LocalAirflow(env) as airflow:
            airflow.migrate()
            airflow.start(["dag-processor"])
            airflow.wait_for_dags([f"site__{SITE_ID}"])
            airflow.backfill(f"site__{SITE_ID}", FIRST, FIRST + timedelta(minutes=5 * (RUNS - 1)), max_active_runs=2)
            created = sum(airflow.run_states([f"site__{SITE_ID}"], "backfill")[f"site__{SITE_ID}"].values())
            airflow.start(["api-server", "scheduler"])
            states = airflow.wait_for_runs({f"site__{SITE_ID}": created}, timeout=300)
            meta = sa.create_engine(metadata_url)
            with meta.connect() as conn:
                logical_dates = [
                    r[0]
                    for r in conn.execute(
                        sa.text("SELECT logical_date FROM dag_run WHERE run_type = 'backfill' ORDER BY logical_date")
                    )
                ]
            meta.dispose()
        assert states[f"site__{SITE_ID}"] == {"success": created}, states
        assert created == RUNS and logical_dates[0] == FIRST  # both ends of the range are included

        # The same windows through dag.test() into another warehouse.
        test_wh = more_databases("dt")
        upgrade(test_wh)
        monkeypatch.setenv("FOOTFALL_DB_URL", test_wh)
        dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags[f"site__{SITE_ID}"]
        for logical_date in logical_dates:
            run = dag.test(logical_date=logical_date)
            assert run.state == "success"
        backfilled, tested = counts(backfill_wh), counts(test_wh)
        assert backfilled and backfilled == tested
        get_engine(backfill_wh).dispose()
    finally:
        simulator.terminate()
