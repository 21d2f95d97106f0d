"""Scale-out on Airflow's own CeleryExecutor (Redis broker, PostgreSQL metadata and warehouse).

Real processes: api-server, scheduler, dag-processor and two `airflow celery worker`s. A site's run
goes to a worker; while its task waits on the (slowed) device, that worker and its task process are
SIGKILLed. The scheduler finds the task without a heartbeat, retries it on the other worker, and the
window is loaded exactly once: one successful sync_run, each raw body stored once, the same counts
as a clean run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import psutil
import pytest
import requests
import sqlalchemy as sa
from test_backfill import counts

from footfall.warehouse.engine import get_engine, upgrade
from footfall_devtools.demo import start_simulator
from footfall_devtools.local_airflow import LocalAirflow, airflow_env, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.airflow]

SITE_ID = "celery-site"
DAG_ID = f"site__{SITE_ID}"
WINDOW = datetime(2026, 11, 18, 14, 0, tzinfo=UTC)  # a past weekday afternoon: deterministic history
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
# The backfilled window's task (the scheduler also runs the DAG's latest live interval, undelayed).
BACKFILL_TI = (
    "FROM task_instance ti JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id"
    " WHERE ti.dag_id = :d AND dr.run_type = 'backfill'"
)


@pytest.fixture
def redis_url() -> str:
    import redis

    url = os.environ.get("FOOTFALL_TEST_REDIS_URL", REDIS_DEFAULT)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI: {url}: {exc}")
        pytest.skip(f"Redis not reachable: {url}: {exc}")
    return url


def running_try(meta: sa.Engine) -> int | None:
    """The sync task's try number while it runs."""
    with meta.connect() as conn:
        return conn.execute(
            sa.text(f"SELECT ti.try_number {BACKFILL_TI} AND ti.state = 'running'"), {"d": DAG_ID}
        ).scalar()


def worker_calling(airflow: LocalAirflow, workers: list[str], port: int) -> str | None:
    """The worker whose process tree holds a connection to the device (its task is mid-extract)."""
    for name in workers:
        root = psutil.Process(airflow.processes[name].pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                if any(c.raddr and c.raddr.port == port for c in proc.net_connections(kind="tcp")):
                    return name
    return None


def test_a_killed_celery_worker_task_is_retried_and_its_window_loaded_once(
    more_databases, redis_url, registry, airflow_db, tmp_path, monkeypatch
):
    metadata_url, warehouse_url, clean_url = (more_databases(k) for k in ("meta", "wh", "clean"))
    registry.add_site(SITE_ID)
    sim_port = free_port()
    simulator = start_simulator(sim_port)
    sim = f"http://127.0.0.1:{sim_port}"
    queue = f"footfall-test-{uuid.uuid4().hex[:8]}"  # this test's own queue: other Celery users stay apart
    try:
        monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_SIM", sim)
        upgrade(warehouse_url)
        env = airflow_env(
            tmp_path / "airflow_home",
            api_port=free_port(),
            metadata_url=metadata_url,
            extra={
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": redis_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
                # Find the killed task in seconds, not the default five minutes.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                "FOOTFALL_DB_URL": warehouse_url,
                "FOOTFALL_SITES_DIR": str(registry.path),
                "AIRFLOW_CONN_FOOTFALL_SIM": sim,
            },
        )
        # The device answers the window 25 s late: the task is mid-extract when its worker dies.
        end = WINDOW + timedelta(minutes=5)
        fault = {"kind": "timeout", "params": {"seconds": 25}, "start": WINDOW.isoformat(), "end": end.isoformat()}
        assert requests.post(f"{sim}/_sim/faults", json=fault, timeout=5).status_code == 201
        with LocalAirflow(env) as airflow:
            airflow.migrate()
            airflow.start(["dag-processor"])
            airflow.wait_for_dags([DAG_ID])
            airflow.backfill(DAG_ID, WINDOW, WINDOW, max_active_runs=1)
            airflow.start(["api-server", "scheduler"])
            workers = airflow.start_celery_workers(2, queue=queue)
            meta = sa.create_engine(metadata_url)
            deadline = time.monotonic() + 180
            previous = None
            while True:
                assert time.monotonic() < deadline, "the task never called the device from a Celery worker"
                # Twice in a row, a second apart: the delayed call, not the live run's quick one.
                current = worker_calling(airflow, workers, sim_port)
                first_try = running_try(meta)
                if current is not None and current == previous and first_try is not None:
                    victim = current
                    break
                previous = current
                time.sleep(1)
            root = psutil.Process(airflow.processes[victim].pid)
            tree = [root, *root.children(recursive=True)]
            for proc in tree:  # the worker, its pool and the task process: a box that died
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGKILL)
            airflow.processes.pop(victim).wait()
            _, alive = psutil.wait_procs(tree, timeout=10)
            assert not alive, alive
            requests.delete(f"{sim}/_sim/faults", timeout=5)  # the device answers at once from now on
            states = airflow.wait_for_runs({DAG_ID: 1}, timeout=300)
            with meta.connect() as conn:
                tries, state = conn.execute(
                    sa.text(f"SELECT ti.try_number, ti.state {BACKFILL_TI}"), {"d": DAG_ID}
                ).one()
            meta.dispose()
        assert states[DAG_ID] == {"success": 1}, states
        assert state == "success" and tries > first_try  # retried, on the worker still alive

        wh = get_engine(warehouse_url)
        with wh.connect() as conn:
            outcomes = conn.execute(
                sa.text(
                    "SELECT outcome, count(*) FROM sync_run WHERE site_id = :s AND window_end = :e GROUP BY outcome"
                ),
                {"s": SITE_ID, "e": end},
            ).all()
            bodies = conn.execute(
                sa.text(
                    "SELECT counter_ref, count(*) FROM raw_payload WHERE site_id = :s AND window_end = :e"
                    " GROUP BY counter_ref"
                ),
                {"s": SITE_ID, "e": end},
            ).all()
        assert dict(outcomes).get("success") == 1
        # Each attempt that reached the device kept its answer (raw stays); the window was loaded once.
        assert bodies and all(n <= tries for _, n in bodies), bodies

        # A clean run of the same window (no fault, no kill) gives the same counts.
        upgrade(clean_url)
        from footfall.pipeline import run_site_window

        monkeypatch.setenv("FOOTFALL_DB_URL", clean_url)
        run_site_window(SITE_ID, WINDOW, WINDOW + timedelta(minutes=5), run_id="clean")
        assert counts(warehouse_url) == counts(clean_url) != []
        get_engine(warehouse_url).dispose()
        get_engine(clean_url).dispose()
    finally:
        simulator.terminate()
