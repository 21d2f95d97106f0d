"""Real Airflow (LocalExecutor, PostgreSQL metadata) losing processes while site runs are in flight.

A backfill of four windows runs with the device answering slowly, so tasks are mid-load when
(1) one task process is SIGKILLed, and then (2) the scheduler, with its executor's workers and
their task processes, is SIGKILLed and started again. After Airflow's retries every window is
loaded exactly once: four successful runs, one successful sync_run per window, the counts of a
clean run. (A Celery worker SIGKILLed mid-load is tests/integration/test_celery.py.)
"""

from __future__ import annotations

import contextlib
import signal
import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest
import requests
import sqlalchemy as sa
from fault_figures import record
from test_backfill import counts

from footfall.pipeline import run_site_window
from footfall.warehouse.engine import get_engine, upgrade
from footfall_devtools.demo import start_simulator
from footfall_devtools.local_airflow import LocalAirflow, airflow_env, free_port

# Airflow's own retry delays (30 s, doubling) and start-up make this 4 to 10 minutes on a shared 2-core
# box; it runs in `make test` all the same (a promise about Airflow is tested against Airflow).
pytestmark = [pytest.mark.postgres, pytest.mark.airflow]

SITE_ID = "kill-site"
DAG_ID = f"site__{SITE_ID}"
FIRST = datetime(2026, 11, 18, 14, 0, tzinfo=UTC)  # a past weekday afternoon
WINDOWS = [FIRST + timedelta(minutes=5 * i) for i in range(4)]
RUNNING = (
    "SELECT count(*) FROM task_instance ti JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id"
    " WHERE ti.dag_id = :d AND dr.run_type = 'backfill' AND ti.state = 'running'"
)


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def calling(pid: int, port: int) -> psutil.Process | None:
    """The process under `pid` holding a connection to the device: a task mid-extract."""
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            if any(c.raddr and c.raddr.port == port for c in proc.net_connections(kind="tcp")):
                return proc
    return None


def wait_for_a_call(airflow: LocalAirflow, port: int, timeout: float = 180) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = calling(airflow.processes["scheduler"].pid, port)
        if found is not None:
            return found
        time.sleep(0.5)
    raise AssertionError("no task called the device")


def test_a_killed_task_process_and_a_killed_scheduler_leave_every_window_loaded_once(
    more_databases, registry, airflow_db, tmp_path, monkeypatch
):
    metadata_url, warehouse_url, clean_url = (more_databases(k) for k in ("meta", "wh", "clean"))
    registry.add_site(SITE_ID)
    sim_port = free_port()
    simulator = start_simulator(sim_port)
    sim = f"http://127.0.0.1:{sim_port}"
    try:
        monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_SIM", sim)
        upgrade(warehouse_url)
        env = airflow_env(
            tmp_path / "airflow_home",
            api_port=free_port(),
            metadata_url=metadata_url,
            extra={
                # Find tasks whose process died with the scheduler in seconds, not five minutes.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                "FOOTFALL_DB_URL": warehouse_url,
                "FOOTFALL_SITES_DIR": str(registry.path),
                "AIRFLOW_CONN_FOOTFALL_SIM": sim,
            },
        )
        # The device answers this day 20 s late: the tasks are mid-extract when they are killed.
        fault = {"kind": "timeout", "params": {"seconds": 20}, "start": FIRST.isoformat(),
                 "end": (FIRST + timedelta(minutes=20)).isoformat()}  # fmt: skip
        assert requests.post(f"{sim}/_sim/faults", json=fault, timeout=5).status_code == 201
        with LocalAirflow(env) as airflow:
            airflow.migrate()
            airflow.start(["dag-processor"])
            airflow.wait_for_dags([DAG_ID])
            airflow.backfill(DAG_ID, WINDOWS[0], WINDOWS[-1], max_active_runs=2)
            airflow.start(["api-server", "scheduler"])

            task = wait_for_a_call(airflow, sim_port)
            task.send_signal(signal.SIGKILL)  # (1) one task process, mid-load
            psutil.wait_procs([task], timeout=10)

            wait_for_a_call(airflow, sim_port)  # another task (or the retry) mid-load
            meta = sa.create_engine(metadata_url)
            with meta.connect() as conn:
                in_flight = conn.execute(sa.text(RUNNING), {"d": DAG_ID}).scalar_one()
            assert in_flight >= 1
            victims = tree(airflow.processes["scheduler"].pid)
            for proc in victims:  # (2) the scheduler, its executor's workers and their tasks: a box that died
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGKILL)
            airflow.processes.pop("scheduler").wait()
            _, alive = psutil.wait_procs(victims, timeout=10)
            assert not alive, alive
            requests.delete(f"{sim}/_sim/faults", timeout=5)  # the device answers at once from now on
            airflow.start(["scheduler"])
            states = airflow.wait_for_runs({DAG_ID: len(WINDOWS)}, timeout=480)
            with meta.connect() as conn:
                tries = conn.execute(
                    sa.text(
                        "SELECT max(ti.try_number) FROM task_instance ti JOIN dag_run dr ON dr.run_id = ti.run_id"
                        " AND dr.dag_id = ti.dag_id WHERE ti.dag_id = :d AND dr.run_type = 'backfill'"
                    ),
                    {"d": DAG_ID},
                ).scalar_one()
            meta.dispose()
        assert states[DAG_ID] == {"success": len(WINDOWS)}, states
        assert tries >= 2, "the killed tasks were retried"

        wh = get_engine(warehouse_url)
        with wh.connect() as conn:
            outcomes = conn.execute(
                sa.text(
                    "SELECT window_end, outcome FROM sync_run"
                    " WHERE site_id = :s AND window_end > :a AND window_end <= :b"
                ),
                {"s": SITE_ID, "a": FIRST, "b": WINDOWS[-1] + timedelta(minutes=5)},
            ).all()
        assert sorted(o for _, o in outcomes) == ["success"] * len(WINDOWS)

        upgrade(clean_url)
        monkeypatch.setenv("FOOTFALL_DB_URL", clean_url)
        for start in WINDOWS:
            run_site_window(SITE_ID, start, start + timedelta(minutes=5), run_id="clean")
        loaded, clean = counts(warehouse_url), counts(clean_url)
        assert loaded == clean != []
        get_engine(warehouse_url).dispose()
        get_engine(clean_url).dispose()
    finally:
        simulator.terminate()
    record(
        "Airflow: task process + scheduler SIGKILLed",
        faults=2,
        tried=len(WINDOWS),
        lost=len(set(clean) - set(loaded)),
        doubled=len(loaded) - len(set(loaded)),
        half_loaded=0,
    )
