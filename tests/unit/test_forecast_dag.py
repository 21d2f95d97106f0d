"""The retrain_forecasts DAG: on every site's counts Asset and daily; at most one retrain an hour on new counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag
from sqlalchemy import insert, select

from footfall.dag_factory import counts_asset
from footfall.forecast.publish import run_retrain
from footfall.warehouse import schema

FORECAST_DAG = Path(__file__).resolve().parents[2] / "dags" / "forecasts.py"


def parse() -> DagBag:
    return DagBag(dag_folder=str(FORECAST_DAG))


def test_scheduled_on_every_site_asset_and_daily(registry):
    for site_id in ("alpha", "beta"):
        registry.add_site(site_id)
    bag = parse()
    assert bag.import_errors == {}
    dag = bag.dags["retrain_forecasts"]
    timetable = dag.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert timetable.timetable.expression == "30 3 * * *"  # the daily run
    uris = {asset.uri for asset in timetable.asset_condition.objects}
    assert uris == {counts_asset("alpha").uri, counts_asset("beta").uri}
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.task_ids == ["retrain"] and dag.get_task("retrain").retries >= 2
    assert "footfall" in dag.tags and "WAPE" in dag.doc_md


def test_without_sites_it_still_runs_daily(registry):
    dag = parse().dags["retrain_forecasts"]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"


def test_new_counts_within_the_hour_do_not_retrain(registry, sqlite_url, warehouse, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)
    engine = warehouse(sqlite_url)
    now = datetime(2026, 10, 25, 12, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.forecast_model).values(
                trained_at=now - timedelta(minutes=20),
                method="model",
                promoted=True,
                reason="test",
                metrics=json.dumps({}),
                training_rows=1,
                sites=1,
            )
        )
    assert run_retrain("asset-run", asset_triggered=True, now=now) == {"skipped": "retrained less than an hour ago"}


def test_a_fresh_install_skips_the_retrain_with_its_reason(airflow_db, registry, sqlite_url, warehouse, monkeypatch):
    """No history yet: the run is green (the task skipped), not red after three retries."""
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)
    engine = warehouse(sqlite_url)
    registry.add_site("alpha")

    dag_run = parse().dags["retrain_forecasts"].test(logical_date=datetime(2026, 11, 20, 3, 30, tzinfo=UTC))

    (ti,) = dag_run.get_task_instances()
    assert ti.state == "skipped"
    assert dag_run.state == "success"
    with engine.connect() as conn:
        assert conn.execute(select(schema.forecast_model)).first() is None
