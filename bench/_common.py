"""Helpers shared by the benchmarks: timers, peak RSS, process-tree CPU, temporary databases, the RESULT line.

Standard library only at import time (psutil and SQLAlchemy are imported where used), so a bench can
time its own first imports.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Timer:
    """Wall (perf_counter) and CPU (process_time: this process, all threads) seconds of a block."""

    wall: float = 0.0
    cpu: float = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[Timer]:
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield self
        finally:
            self.wall += time.perf_counter() - w0
            self.cpu += time.process_time() - c0


def peak_rss_mb() -> float:
    """Peak resident set of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """Peak resident set of the largest terminated, waited-for child (or its waited descendants)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def result_line(values: dict[str, object]) -> str:
    """`RESULT key=value ...`: the machine-readable last line of every bench (n/a for missing values)."""
    parts = []
    for key, value in values.items():
        if value is None:
            text = "n/a"
        elif isinstance(value, float):
            text = f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
        else:
            text = str(value).replace(" ", "_")
        parts.append(f"{key}={text}")
    return "RESULT " + " ".join(parts)


class ProcessTreeMeter:
    """CPU seconds and resident memory of process trees (e.g. Airflow's components and their task processes).

    CPU is the sum over live processes of their own user+system time plus what their waited-for
    children used (Linux cutime/cstime), so a task process that ran and exited between two readings
    is still counted, once, by whichever live process reaped it.
    """

    def __init__(self, root_pids: list[int]):
        import psutil

        self._psutil = psutil
        self.roots = list(root_pids)
        self.max_process_rss_mb = 0.0
        self.max_tree_pss_mb = 0.0

    def _processes(self) -> list:
        procs = []
        for pid in self.roots:
            try:
                root = self._psutil.Process(pid)
                procs.append(root)
                procs.extend(root.children(recursive=True))
            except self._psutil.Error:
                continue
        return procs

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._processes():
            with contextlib.suppress(self._psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        return total

    def sample_memory(self) -> None:
        """Largest single RSS, and the tree's total PSS (forked processes share pages: RSS would count them twice)."""
        tree = 0.0
        for proc in self._processes():
            with contextlib.suppress(self._psutil.Error):
                info = proc.memory_full_info()
                tree += getattr(info, "pss", info.rss) / 2**20
                self.max_process_rss_mb = max(self.max_process_rss_mb, info.rss / 2**20)
        self.max_tree_pss_mb = max(self.max_tree_pss_mb, tree)


def axis_site_yaml(
    site_id: str, name: str, refs: list[str], *, res: str, capacity: int, hours: str, zone: str = "Europe/Paris"
) -> str:
    """A bench site file: Axis counters (`refs`) read through the simulator, open every day `hours`."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    lines = [
        f"id: {site_id}",
        f"name: {name}",
        f"timezone: {zone}",
        "country: FR",
        f"capacity: {capacity}",
        "opening_hours:",
        "  regular:",
        *(f"    {day}: {hours}" for day in days),
        "counters:",
        *(line for n, ref in enumerate(refs, 1) for line in (f"  - id: door-{n}", f"    ref: {ref}")),
        "source:",
        "  kind: http_json",
        "  preset: axis_tvpc_export_json",
        "  connection_id: footfall_sim",
        "  options:",
        "    base_path: /devices/{counter_ref}",
        f"    res: {res}",
        "tags: [bench]",
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def temp_postgres_database(server_url: str, label: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of `server_url`, dropped afterwards; yields its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    name = f"bench_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def start_simulator(port: int, sites_dir: Path, seed: int = 0, timeout: float = 30) -> subprocess.Popen:
    """`footfall-simulator serve` on loopback as its own process (its CPU stays out of the bench's)."""
    import urllib.request

    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "footfall_simulator", "serve", "--host", "127.0.0.1", "--port", str(port)),
            *("--seed", str(seed), "--sites-dir", str(sites_dir)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"simulator did not answer on port {port} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# N no-op DAGs shaped like footfall's site DAGs: the Airflow floor of bench/cycle.py and bench/dag_parse.py.
NOOP_DAGS = '''"""No-op DAGs shaped like footfall's site DAGs (one `sync` task, the same timetable)."""

from datetime import UTC, datetime

from airflow.sdk import DAG, CronDataIntervalTimetable, task

for i in range({count}):
    with DAG(
        dag_id=f"noop__{{i:04d}}",
        schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=4,
        tags=["bench"],
    ):

        @task(task_id="sync", multiple_outputs=False)
        def sync(site_id: str = f"noop-{{i:04d}}") -> dict:
            """Return at once, with a summary-sized XCom like the real task's (one XCom, as the real task's)."""
            return {{"site_id": site_id, "rows_loaded": 0}}

        sync()
'''
