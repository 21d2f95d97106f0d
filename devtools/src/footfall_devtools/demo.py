"""`footfall-dev demo` (`make demo`): the main job end to end on the embedded default, through real Airflow runs.

Migrates the warehouse (SQLite), starts the simulator on loopback, starts Airflow (api-server,
scheduler with LocalExecutor, dag-processor; SQLite metadata), asks Airflow to backfill every
registry site's DAG over the last hours (24 five-minute runs per site for two hours), waits for
the runs, and prints what landed per site. Sites whose source is not a device (a `sql` site's own
database, a `file` site's export folder) get their source filled from the same traffic model first.

A `push` site's sensors call us: the demo starts the ingestion API on loopback, creates the site a
token (stored hashed, as `footfall tokens create` does; revoked once the sensors are done), and the
simulated sensors POST their backlog over the backfill range, one Xovis push per line and interval.
Those bodies arrive now, after the windows they describe: the backfilled runs find them because a
push site's run also merges the in-window intervals of payloads received after its window
(footfall.push), which is what a backfill of a push site means in production too.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from footfall import db, settings
from footfall.config import Site, SourceKind, load_registry
from footfall.dag_factory import site_dag_id
from footfall.report import format_table, site_summaries
from footfall.timewindow import floor_time
from footfall_devtools.local_airflow import LocalAirflow, airflow_env, free_port
from footfall_simulator import SimInterval, count_intervals
from footfall_simulator.profiles import profiles_from_sites
from footfall_simulator.pusher import XOVIS_PRESET, push_backlog

log = logging.getLogger(__name__)


def _start_service(command: list[str], port: int, what: str, log_path: Path | None = None) -> subprocess.Popen:
    """`python -m <command>` as its own process, once its /healthz answers on loopback `port`."""
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab") if log_path is not None else None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", *command, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log_file if log_file is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    finally:
        if log_file is not None:
            log_file.close()  # the child has its own copy
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{what} did not start on port {port}" + (f"; see {log_path}" if log_path else ""))


def start_simulator(port: int, seed: int = 0) -> subprocess.Popen:
    """The simulator as its own process, like a vendor's device would be."""
    return _start_service(["footfall_simulator", "serve", "--seed", str(seed)], port, "simulator")


def start_api(port: int) -> subprocess.Popen:
    """The ingestion API (`footfall api serve`) on loopback, over the demo's warehouse (plain HTTP)."""
    return _start_service(
        ["footfall.cli", "api", "serve"], port, "ingestion API", settings.data_dir() / "demo" / "api.log"
    )


DEMO_SEED = 0
DEMO_TABLE = (
    "CREATE TABLE gate_counts (gate TEXT NOT NULL, period_start TEXT NOT NULL, period_minutes INTEGER NOT NULL, "
    "people_in INTEGER, people_out INTEGER, PRIMARY KEY (gate, period_start))"
)


def demo_counts(site: Site, start: datetime, end: datetime) -> dict[str, list[SimInterval]]:
    """What each counter of a site saw over [start, end), from the simulator's traffic model."""
    profiles = profiles_from_sites([site])
    return {c.ref: count_intervals(profiles[c.ref], start, end, 15, DEMO_SEED, end) for c in site.counters}


def fill_site_database(site: Site, path: Path, start: datetime, end: datetime) -> int:
    """A `sql` site's own database, as its turnstiles would have written it (naive UTC times)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    rows = [
        (ref, i.start_utc.strftime("%Y-%m-%d %H:%M:%S"), 15, i.entries, i.exits)
        for ref, intervals in demo_counts(site, start, end).items()
        for i in intervals
    ]
    with sqlite3.connect(path) as conn:
        conn.execute(DEMO_TABLE)
        conn.executemany("INSERT INTO gate_counts VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)


def fill_export_folder(site: Site, folder: Path, start: datetime, end: datetime) -> int:
    """A `file` site's folder: one Axis CSV export per counter and hour, camera-local times."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    files = 0
    for ref, intervals in demo_counts(site, start, end).items():
        by_hour: dict[str, list[str]] = {}
        for i in intervals:
            local = i.start_utc.astimezone(site.zone)
            by_hour.setdefault(i.start_utc.strftime("%Y%m%d%H"), []).append(
                f"{local:%Y-%m-%d %H:%M},{i.entries},{i.exits}\n"
            )
        for hour, lines in by_hour.items():
            (folder / f"{ref}-{hour}.csv").write_text("Interval start,In,Out\n" + "".join(lines), encoding="utf-8")
            files += 1
    return files


def site_database(site: Site) -> Path:
    """Where the demo keeps a `sql` site's own database."""
    return settings.data_dir() / "demo" / f"{site.source.connection_id}.sqlite"


def demo_connections(sites: Iterable[Site]) -> dict[str, str]:
    """Airflow connections (environment form) of the demo's `sql` sites: their SQLite databases."""
    return {
        f"AIRFLOW_CONN_{site.source.connection_id.upper()}": f"sqlite:///{site_database(site)}"
        for site in sites
        if site.source.kind == SourceKind.SQL and site.source.connection_id
    }


def prepare_demo_sources(sites: Iterable[Site], start: datetime, end: datetime, out=sys.stdout) -> dict[str, str]:
    """Sources that are not devices on the simulator: a site database and an export folder the demo fills.

    Returns the Airflow connections (environment form) the sites' DAGs need.
    """
    from footfall.sources import site_folder

    sites = list(sites)
    for site in sites:
        if site.source.kind == SourceKind.SQL and site.source.connection_id:
            path = site_database(site)
            print(f"{site.id}: site database {path} with {fill_site_database(site, path, start, end)} rows", file=out)
        elif site.source.kind == SourceKind.FILE:
            folder = site_folder(site)
            print(f"{site.id}: {fill_export_folder(site, folder, start, end)} export files in {folder}", file=out)
    return demo_connections(sites)


def push_demo_backlogs(sites: Iterable[Site], api_url: str, start: datetime, end: datetime, out=sys.stdout) -> int:
    """Each push site's simulated sensors POST their intervals in [start, end) to the API; returns the bodies."""
    from footfall.api import tokens
    from footfall.normalize import parse_duration_minutes

    engine = db.get_engine()
    total = 0
    for site in sites:
        if site.source.kind != SourceKind.PUSH:
            continue
        if site.source.preset != XOVIS_PRESET:
            print(f"{site.id}: no simulated sensor pushes {site.source.preset}; nothing pushed", file=out)
            continue
        token_id, token = tokens.create_token(engine, site.id, "demo sensors")
        try:
            sent = push_backlog(
                api_url,
                site.id,
                token,
                profiles_from_sites([site]).values(),
                start,
                end,
                resolution_minutes=int(parse_duration_minutes(str(site.options().get("interval", "15m")))),
                seed=DEMO_SEED,
            )
        finally:
            tokens.revoke_token(engine, site.id, token_id)
        print(f"{site.id}: {sent} Xovis pushes to {api_url} (token #{token_id}, stored hashed, now revoked)", file=out)
        total += sent
    return total


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
    lookback = max((s.source.lookback_minutes for s in sites.values()), default=0)
    try:
        connections = prepare_demo_sources(sites.values(), start - timedelta(minutes=lookback + 15), end, out)
        if any(s.source.kind == SourceKind.PUSH for s in sites.values()):
            api_port = free_port()
            api = start_api(api_port)
            try:
                push_demo_backlogs(
                    sites.values(), f"http://127.0.0.1:{api_port}", start - timedelta(minutes=lookback + 15), end, out
                )
            finally:
                api.terminate()
                api.wait(timeout=30)
        env = airflow_env(
            api_port=free_port(), extra={"AIRFLOW_CONN_FOOTFALL_SIM": f"http://127.0.0.1:{sim_port}", **connections}
        )
        with LocalAirflow(env) as airflow:
            print(f"Airflow home {airflow.home}; dag-processor first, then api-server, scheduler...", file=out)
            airflow.migrate()
            # A previous demo's last backfills may still be open (finished, or interrupted with Ctrl-C).
            airflow.complete_finished_backfills()
            airflow.cancel_open_backfills()
            # Only the dag-processor until the backfills exist: a scheduler already running races their
            # creation (it can pick up a run the backfill command is still settling, and crash).
            airflow.start(["dag-processor"])
            airflow.wait_for_dags(dag_ids)
            print(
                f"Backfilling {len(dag_ids)} site DAGs over {start:%H:%M}-{end:%H:%M} UTC ({runs} runs each)", file=out
            )
            for dag_id in dag_ids:
                # Airflow's backfill range holds logical dates, both ends included: the last run's
                # data interval starts 5 minutes before `end`.
                airflow.backfill(dag_id, start, end - timedelta(minutes=5))
            created = {d: sum(n.values()) for d, n in airflow.run_states(dag_ids, "backfill").items()}
            airflow.start(["api-server", "scheduler"])
            states = airflow.wait_for_runs(created, timeout=600)
    finally:
        simulator.terminate()
    failed = {d.removeprefix("site__"): s.get("failed", 0) for d, s in states.items()}
    done = {d: s.get("success", 0) + s.get("failed", 0) for d, s in states.items()}
    print(file=out)
    summaries = site_summaries(db.get_engine(), start, end)
    print(format_table(summaries, failed), file=out)
    print(file=out)
    empty = sorted(set(sites) - {s.site_id for s in summaries if s.intervals > 0})
    if empty:
        print(f"No intervals loaded for: {', '.join(empty)}", file=out)
    ok = not empty and all(n == 0 for n in failed.values()) and all(n >= created[d] >= runs for d, n in done.items())
    print(
        f"{sum(done.values())} Airflow runs finished in {time.monotonic() - t0:.0f} s "
        f"({'all succeeded' if ok else 'SOME FAILED OR DID NOT FINISH'}).",
        file=out,
    )
    print(f"Warehouse: {db.get_engine().url.render_as_string(hide_password=True)}", file=out)
    print("Open the Airflow UI on these runs with: make airflow   (then http://localhost:8080)", file=out)
    return 0 if ok else 1
