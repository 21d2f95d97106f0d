"""Real Airflow on one machine: the environment and the components, for the demo, tests and benchmarks.

Not a scheduler of our own: this starts Airflow's api-server, scheduler (LocalExecutor) and
dag-processor as subprocesses with footfall's settings, asks Airflow for backfills through its
CLI, and reads run states from Airflow's metadata database. `footfall-dev airflow ...` uses the same
environment, so what the data team opens in the UI is what the demo ran.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from footfall import settings
from footfall_devtools import REPO_DIR

log = logging.getLogger(__name__)

COMPONENTS = ("api-server", "scheduler", "dag-processor")

# Airflow's processes share one SQLite file in the embedded setup: wait for locks instead of failing.
SQLITE_CONNECT_ARGS = {"timeout": 60}
FINISHED = ("success", "failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_home() -> Path:
    return Path(os.environ.get("FOOTFALL_AIRFLOW_HOME", REPO_DIR / "airflow_home"))


def airflow_env(
    home: Path | None = None,
    *,
    api_port: int = 8080,
    log_port: int | None = None,
    metadata_url: str | None = None,
    parallelism: int = 4,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment for every Airflow process of a local footfall deployment."""
    home = home or airflow_home()
    env = dict(os.environ)
    env.update(
        {
            # Airflow starts its own subprocesses by name (`airflow standalone` does): use this venv's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_DIR / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_DIR / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port or free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url or f"sqlite:///{home / 'airflow.db'}",
            "FOOTFALL_DB_URL": settings.db_url(),
            # footfall finds its registry and data folder through these (never through its own location).
            "FOOTFALL_SITES_DIR": str(settings.sites_dir().resolve()),
            "FOOTFALL_DATA_DIR": str(settings.data_dir().resolve()),
        }
    )
    metadata = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    env["FOOTFALL_AIRFLOW_METADATA_URL"] = metadata  # the maintenance DAG's `airflow db clean` (tasks cannot read it)
    if metadata.startswith("postgresql+psycopg://"):
        # Airflow's async engine defaults to asyncpg; psycopg 3 (already here) has an async driver too.
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = metadata.replace("+psycopg://", "+psycopg_async://", 1)
    if metadata.startswith("sqlite"):
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "footfall_devtools.local_airflow.SQLITE_CONNECT_ARGS"
    env.update(extra or {})
    return env


def airflow_command() -> list[str]:
    """The airflow entry point of this interpreter's environment."""
    script = Path(sys.executable).with_name("airflow")
    return [str(script)] if script.exists() else [shutil.which("airflow") or "airflow"]


@dataclass
class LocalAirflow:
    """Airflow components as subprocesses; use as a context manager so they always stop."""

    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['AIRFLOW__API__PORT']}"

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `airflow <args>` with this deployment's environment."""
        result = subprocess.run(
            [*airflow_command(), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"airflow {' '.join(args)} failed ({result.returncode}): " + " | ".join(tail))
        return result

    def migrate(self) -> None:
        """Create or upgrade Airflow's metadata DB; on SQLite switch it to WAL so readers never block writers."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.cli("db", "migrate")
        url = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if url.startswith("sqlite:///"):
            import sqlite3

            with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        self.create_vendor_pools()

    def create_vendor_pools(self) -> dict[str, dict]:
        """Create the registry's vendor pools as the deployments do (`footfall sites pools`, then `airflow pools
        import`), then let DAGs use them (FOOTFALL_VENDOR_POOLS)."""
        from footfall.dag_factory import VENDOR_POOLS_ENV

        path = self.home / "vendor_pools.json"
        made = subprocess.run(
            [sys.executable, "-m", "footfall.cli", "sites", "pools", "--output", str(path)],
            env=self.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"footfall sites pools failed ({made.returncode}): {made.stderr.strip()[-500:]}")
        pools: dict[str, dict] = json.loads(path.read_text(encoding="utf-8"))
        if pools:
            self.cli("pools", "import", str(path))
            self.env[VENDOR_POOLS_ENV] = "true"
        return pools

    def start(self, components: Iterable[str] = COMPONENTS) -> None:
        components = [c for c in components if c not in self.processes]
        for name in components:
            self._spawn(name, [name], self.env)
        if "api-server" in components:
            self._wait_for_api()

    def start_celery_workers(self, count: int, queue: str | None = None) -> list[str]:
        """`count` Celery workers (CeleryExecutor), each its own process group and task-log port, as on one box."""
        names = []
        for n in range(1, count + 1):
            name = f"worker-{n}"
            argv = ["celery", "worker", "--celery-hostname", f"{name}@%h", *(("--queues", queue) if queue else ())]
            self._spawn(name, argv, {**self.env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())})
            names.append(name)
        return names

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = (logs / f"{name}.out").open("ab")
        self.processes[name] = subprocess.Popen(
            [*airflow_command(), *argv], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _wait_for_api(self, timeout: float = 120) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise TimeoutError(f"Airflow api-server did not answer on {self.api_url} within {timeout:.0f} s")

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}; see {self.home}/logs/{name}.out")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        self.processes.clear()

    def __enter__(self) -> LocalAirflow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- reading Airflow's own state -------------------------------------------------------------

    def _metadata(self):
        return create_engine(self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180) -> None:
        """Until the dag-processor has serialized every DAG (runs cannot be created before)."""
        wanted = set(dag_ids)
        engine = self._metadata()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._check_alive()
                with engine.connect() as conn:
                    have = {r[0] for r in conn.execute(text("SELECT dag_id FROM serialized_dag"))}
                if wanted <= have:
                    return
                time.sleep(1)
        finally:
            engine.dispose()
        raise TimeoutError(f"DAGs not parsed within {timeout:.0f} s: {sorted(wanted - have)}")

    def complete_finished_backfills(self) -> int:
        """Mark backfills whose runs have all finished as completed; returns how many.

        The scheduler does this every 30 s; a deployment stopped right after its last runs (the demo)
        leaves the last backfills open, and Airflow then refuses a new backfill of those DAGs
        ("Another backfill is running"). Same rule as the scheduler's: no queued or running run left,
        and set up (it has its runs, or was created over 2 minutes ago).
        """
        engine = self._metadata()
        now = datetime.now(UTC)
        try:
            with engine.begin() as conn:
                sqlite = conn.dialect.name == "sqlite"
                stamps: dict[str, datetime | str] = {"now": now, "cutoff": now - timedelta(minutes=2)}
                if sqlite:  # Airflow keeps naive UTC text there
                    stamps = {
                        "now": f"{now:%Y-%m-%d %H:%M:%S.%f}",
                        "cutoff": f"{now - timedelta(minutes=2):%Y-%m-%d %H:%M:%S.%f}",
                    }
                return conn.execute(
                    text(
                        "UPDATE backfill SET completed_at = :now WHERE completed_at IS NULL"
                        " AND (EXISTS (SELECT 1 FROM backfill_dag_run b WHERE b.backfill_id = backfill.id)"
                        " OR created_at < :cutoff)"
                        " AND NOT EXISTS (SELECT 1 FROM dag_run d WHERE d.backfill_id = backfill.id"
                        " AND d.state IN ('queued', 'running'))"
                    ),
                    stamps,
                ).rowcount
        finally:
            engine.dispose()

    def cancel_open_backfills(self) -> int:
        """Close every backfill still open on this home, as Airflow's cancel does; returns how many.

        Only for a home whose scheduler is stopped (the demo calls it before starting one): an open
        backfill there was left by a deployment stopped mid-way (a demo interrupted with Ctrl-C), and
        nothing will run its queued or running runs, so they are failed (their unfinished task
        instances too) and the backfill completed. Otherwise Airflow refuses the next backfill of
        those DAGs ("Another backfill is running").
        """
        engine = self._metadata()
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if engine.dialect.name == "sqlite" else now
        unfinished = (
            "SELECT d.dag_id, d.run_id FROM dag_run d JOIN backfill b ON b.id = d.backfill_id"
            " WHERE b.completed_at IS NULL AND d.state IN ('queued', 'running')"
        )
        try:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE task_instance SET state = 'failed' WHERE state IN ('scheduled', 'queued', 'running')"
                        f" AND (dag_id, run_id) IN ({unfinished})"
                    )
                )
                conn.execute(
                    text(
                        "UPDATE dag_run SET state = 'failed' WHERE state IN ('queued', 'running') AND backfill_id IN"
                        " (SELECT id FROM backfill WHERE completed_at IS NULL)"
                    )
                )
                return conn.execute(
                    text("UPDATE backfill SET completed_at = :now WHERE completed_at IS NULL"), {"now": stamp}
                ).rowcount
        finally:
            engine.dispose()

    def backfill(
        self, dag_id: str, start: datetime, end: datetime, max_active_runs: int = 4, reprocess: str = "none"
    ) -> None:
        """Airflow's own backfill over logical dates [start, end] (inclusive, as the CLI takes them).

        SQLite metadata can answer "database is locked" when another component writes at the same
        moment: try again then; with reprocess "none" a retry skips the runs already created.
        """
        args = ["backfill", "create", "--dag-id", dag_id, "--from-date", start.isoformat()]
        args += ["--to-date", end.isoformat(), "--max-active-runs", str(max_active_runs)]
        args += ["--reprocess-behavior", reprocess]
        for attempt in range(5):
            result = self.cli(*args, check=False)
            if result.returncode == 0:
                return
            if "database is locked" not in result.stderr + result.stdout or attempt == 4:
                self.cli(*args)  # raises with Airflow's own message
            time.sleep(1 + attempt)

    def run_states(self, dag_ids: Iterable[str], run_type: str | None = None) -> dict[str, dict[str, int]]:
        """Run counts by state per DAG."""
        ids = list(dag_ids)
        engine = self._metadata()
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT dag_id, state, run_type, count(*) FROM dag_run GROUP BY dag_id, state, run_type")
                ).all()
        finally:
            engine.dispose()
        out: dict[str, dict[str, int]] = {d: {} for d in ids}
        for dag_id, state, kind, n in rows:
            if dag_id in out and (run_type is None or kind == run_type):
                out[dag_id][state] = out[dag_id].get(state, 0) + n
        return out

    def failed_runs_since(self, since: datetime) -> dict[str, int]:
        """Failed runs per DAG (any DAG, any run type) that started at or after `since`."""
        engine = self._metadata()
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT dag_id, start_date FROM dag_run WHERE state = 'failed' AND start_date IS NOT NULL")
                ).all()
        finally:
            engine.dispose()
        out: dict[str, int] = {}
        for dag_id, started in rows:
            started = datetime.fromisoformat(str(started)) if not isinstance(started, datetime) else started
            if (started if started.tzinfo else started.replace(tzinfo=UTC)) >= since:
                out[dag_id] = out.get(dag_id, 0) + 1
        return out

    def wait_for_runs(
        self, expected: dict[str, int], run_type: str = "backfill", timeout: float = 600, poll: float = 2
    ) -> dict[str, dict[str, int]]:
        """Until each DAG has `expected` finished runs of that type; returns the final counts by state."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            states = self.run_states(expected, run_type)
            done = all(sum(states[d].get(s, 0) for s in FINISHED) >= n for d, n in expected.items())
            if done or time.monotonic() > deadline:
                return states
            time.sleep(poll)
