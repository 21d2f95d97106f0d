"""`footfall demo`: the main job end to end on the embedded default, through real Airflow runs.

Migrates the warehouse (SQLite), starts the simulator on loopback, starts Airflow (api-server,
scheduler with LocalExecutor, dag-processor; SQLite metadata), asks Airflow to backfill every
registry site's DAG over the last hours (24 five-minute runs per site for two hours), waits for
the runs, and prints what landed per site.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import requests

from footfall import db
from footfall.config import load_registry
from footfall.dag_factory import site_dag_id
from footfall.local_airflow import LocalAirflow, airflow_env, free_port
from footfall.report import format_table, site_summaries
from footfall.timewindow import floor_time

log = logging.getLogger(__name__)


def start_simulator(port: int, seed: int = 0) -> subprocess.Popen:
    """The simulator as its own process, like a vendor's device would be."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "footfall.cli",
            "simulate",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--seed",
            str(seed),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"simulator did not start on port {port}")


def run_demo(hours: float = 2.0, out=sys.stdout) -> int:
    """Returns 0 when every run succeeded, 1 otherwise."""
    t0 = time.monotonic()
    sites, errors = load_registry()
    for err in errors:
        print(f"skipping broken site file: {err}", file=out)
    dag_ids = [site_dag_id(s) for s in sites]
    db.upgrade()
    sim_port = free_port()
    simulator = start_simulator(sim_port)
    end = floor_time(datetime.now(UTC), 5)
    start = end - timedelta(hours=hours)
    runs = int((end - start) / timedelta(minutes=5))
    env = airflow_env(api_port=free_port(), extra={"AIRFLOW_CONN_FOOTFALL_SIM": f"http://127.0.0.1:{sim_port}"})
    try:
        with LocalAirflow(env) as airflow:
            print(f"Airflow home {airflow.home}; starting dag-processor, api-server, scheduler...", file=out)
            airflow.migrate()
            airflow.start()
            airflow.wait_for_dags(dag_ids)
            print(
                f"Backfilling {len(dag_ids)} site DAGs over {start:%H:%M}-{end:%H:%M} UTC ({runs} runs each)", file=out
            )
            for dag_id in dag_ids:
                # Airflow's backfill range selects runs by logical date, start excluded: step back one.
                airflow.backfill(dag_id, start - timedelta(minutes=5), end - timedelta(minutes=5))
            created = {d: sum(n.values()) for d, n in airflow.run_states(dag_ids, "backfill").items()}
            airflow.start(["api-server", "scheduler"])
            states = airflow.wait_for_runs(created, timeout=600)
    finally:
        simulator.terminate()
    failed = {d.removeprefix("site__"): s.get("failed", 0) for d, s in states.items()}
    done = {d: s.get("success", 0) + s.get("failed", 0) for d, s in states.items()}
    print(file=out)
    print(format_table(site_summaries(db.get_engine(), start, end), failed), file=out)
    print(file=out)
    ok = all(n == 0 for n in failed.values()) and all(n >= created[d] >= runs for d, n in done.items())
    print(
        f"{sum(done.values())} Airflow runs finished in {time.monotonic() - t0:.0f} s "
        f"({'all succeeded' if ok else 'SOME FAILED OR DID NOT FINISH'}).",
        file=out,
    )
    print(f"Warehouse: {db.get_engine().url.render_as_string(hide_password=True)}", file=out)
    print("Open the Airflow UI on these runs with: make airflow   (then http://localhost:8080)", file=out)
    return 0 if ok else 1
