"""A real Airflow run (`dag.test()`) of a push site's DAG: it merges what the service received."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import test_api
from airflow.dag_processing.dagbag import DagBag
from sqlalchemy import select
from test_api import SITE, batch, connector_site, post

from footfall import db
from footfall.api.tokens import create_token
from footfall.timewindow import floor_time
from footfall_devtools.api_thread import serve_in_thread

pytestmark = pytest.mark.airflow
tls = test_api.tls  # shared fixture

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def engine(airflow_db, db_url, warehouse, registry, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    registry.write(connector_site(SITE))
    return warehouse(db_url)


def test_push_site_dag_run_loads_the_batches_received_in_its_window(engine, tls):
    now = datetime.now(UTC)
    first = floor_time(now, 15) - timedelta(hours=2)
    rows = [
        {"counter_ref": ref, "interval_start": (first + timedelta(minutes=15 * k)).isoformat(),
         "interval_minutes": 15, "entries": k + n, "exits": k}
        for k in range(4) for n, ref in enumerate(("GATE-A", "GATE-B"))
    ]  # fmt: skip
    server = serve_in_thread(engine, certfile=tls["certfile"], keyfile=tls["certfile"])
    try:
        token = create_token(engine, SITE)[1]
        assert post(server, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=rows)).encode(), token).ok
    finally:
        server.stop()
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}

    dag = bag.dags[f"site__{SITE}"]
    dag.get_task("sync").retries = 0  # a failure shows at once instead of after the retry delays

    # A manual run's data interval ends at its logical date; with the 30-minute lookback this run's
    # window [logical - 35 min, logical) holds the moment the batch was received.
    dag_run = dag.test(logical_date=floor_time(now, 5) + timedelta(minutes=10))

    assert dag_run.state == "success"
    with engine.connect() as conn:
        loaded = conn.execute(select(db.count_interval)).mappings().all()
        (run,) = conn.execute(select(db.sync_run)).mappings().all()
    assert {(r["counter_id"], r["interval_start"], r["entries"], r["exits"]) for r in loaded} == {
        (ref.lower(), first + timedelta(minutes=15 * k), k + n, k)
        for k in range(4)
        for n, ref in enumerate(("GATE-A", "GATE-B"))
    }
    assert (run["run_id"], run["outcome"], run["rows_loaded"]) == (dag_run.run_id, "success", 8)
