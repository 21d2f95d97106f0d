"""The retrain_forecasts DAG: on every site's counts Asset and daily; at most one retrain an hour on new counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from airflow.dag_processing.dagbag import DagBag
from sqlalchemy import insert, select

from footfall.config import get_site
from footfall.dag_factory import counts_asset
from footfall.forecast import training
from footfall.forecast.publish import NotEnoughHistory, run_retrain
from footfall.warehouse import schema
from footfall.warehouse.counts import write_counts
from footfall.warehouse.forecasts import counts_span
from footfall.warehouse.landing import ensure_site, land_body

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


def test_counts_of_less_than_two_days_skip_the_retrain_from_one_query(registry, sqlite_url, warehouse, monkeypatch):
    """New counts on a young warehouse: the span of all its counts answers, no site's history is read."""
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)
    engine = warehouse(sqlite_url)
    registry.add_site("alpha")
    site = get_site("alpha")
    assert counts_span(engine) is None
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    counts = pd.DataFrame({
        "site_id": "alpha", "counter_id": site.counters[0].id,
        "interval_start": [pd.Timestamp(start), pd.Timestamp(start + timedelta(days=1, hours=23))],
        "interval_minutes": 5, "entries": [3, 4], "exits": [1, 2], "occupancy": pd.NA,
    })  # fmt: skip
    with engine.begin() as conn:
        ensure_site(conn, site)
        payload = land_body(conn, site_id="alpha", source="test", body=b"counts", received_at=start)
        write_counts(conn, "alpha", counts.assign(payload_id=payload), mode="merge", window=None)
    assert counts_span(engine) == timedelta(days=1, hours=23)
    read: list[str] = []
    monkeypatch.setattr(training, "training_series", lambda engine, site: read.append(site.id))
    with pytest.raises(NotEnoughHistory, match="2 days of history"):
        run_retrain("asset-run", asset_triggered=True, now=start + timedelta(days=2))
    assert read == []
