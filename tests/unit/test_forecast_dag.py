"""The retrain_forecasts DAG: hourly, whatever the sites; a fresh install skips with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from airflow.dag_processing.dagbag import DagBag
from sqlalchemy import select

from footfall.config import get_site
from footfall.forecast import training
from footfall.forecast.publish import NotEnoughHistory, run_retrain
from footfall.warehouse import schema
from footfall.warehouse.counts import write_counts
from footfall.warehouse.forecasts import counts_span
from footfall.warehouse.landing import ensure_site, land_body

FORECAST_DAG = Path(__file__).resolve().parents[2] / "dags" / "forecasts.py"


def parse() -> DagBag:
    return DagBag(dag_folder=str(FORECAST_DAG))


def test_scheduled_hourly_between_two_cycles_and_not_on_every_sync(registry):
    """The retrain runs at the cadence the model needs (hourly), not on each site's 5-minute counts Asset
    (a queued run per cycle), and its file does not read the site registry."""
    for site_id in ("alpha", "beta"):
        registry.add_site(site_id)
    bag = parse()
    assert bag.import_errors == {}
    dag = bag.dags["retrain_forecasts"]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert dag.timetable.expression == "18 * * * *"
    assert int(dag.timetable.expression.split()[0]) % 5 != 0  # not when a 5-minute cycle starts
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.task_ids == ["retrain"] and dag.get_task("retrain").retries >= 2
    assert "footfall" in dag.tags and "WAPE" in dag.doc_md
    assert "load_registry" not in FORECAST_DAG.read_text()


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
        run_retrain("scheduled-run", now=start + timedelta(days=2))
    assert read == []
