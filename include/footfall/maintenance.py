"""Daily upkeep of a footfall deployment, run by the `maintenance` DAG.

- Airflow's metadata: `airflow db clean` with a retention (FOOTFALL_METADATA_RETENTION_DAYS, default 7).
  Every site adds 288 runs a day; a scheduler that walks millions of old dag_run and task_instance
  rows slows its loop (reported at ~15 s per loop after 12 hours of 500 DAGs every 5 minutes). Airflow
  keeps each DAG's latest scheduled run itself.
- Raw vendor bodies: each site's `retention_days` (footfall.warehouse.maintenance); aggregates stay.
- The warehouse: VACUUM/ANALYZE (PostgreSQL and SQLite), so deleted rows give their space back and
  the planner knows today's table sizes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from footfall.config import Site
from footfall.warehouse.maintenance import RetentionResult, apply_payload_retention, vacuum_analyze

log = logging.getLogger(__name__)

METADATA_RETENTION_ENV = "FOOTFALL_METADATA_RETENTION_DAYS"
METADATA_RETENTION_DAYS = 7
# Environment of a task process that must not reach a child CLI: the child talks to the metadata
# database itself, as `airflow db clean` does from a shell.
_TASK_ONLY_ENV = ("_AIRFLOW_PROCESS_CONTEXT", "__AIRFLOW_SUPERVISOR_COMMS", "SUPERVISOR_COMMS")
METADATA_URL_ENV = "FOOTFALL_AIRFLOW_METADATA_URL"
_BLOCKED_URL = "airflow-db-not-allowed:"  # what Airflow's task supervisor puts in place of the metadata URL


def metadata_retention_days(environ: dict[str, str] | None = None) -> int:
    """Days of Airflow run history kept: FOOTFALL_METADATA_RETENTION_DAYS, else 7 (at least 1)."""
    value = (environ if environ is not None else os.environ).get(METADATA_RETENTION_ENV, "").strip()
    days = int(value) if value else METADATA_RETENTION_DAYS
    if days < 1:
        raise ValueError(f"{METADATA_RETENTION_ENV} must be at least 1 day, not {days}")
    return days


def db_clean_command(retention_days: int, now: datetime, airflow: str | None = None) -> list[str]:
    """The `airflow db clean` command line: every table Airflow cleans, no archive tables (they would keep
    the rows), in batches (short transactions beside the live scheduler), failing loudly on a table error."""
    before = (now - timedelta(days=retention_days)).astimezone(UTC)
    return [
        airflow or str(Path(sys.executable).with_name("airflow")),
        *("db", "clean", "--clean-before-timestamp", before.isoformat()),
        *("--skip-archive", "--yes", "--batch-size", "10000", "--error-on-cleanup-failure"),
    ]


def db_clean_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment `airflow db clean` runs with, from a task's.

    Airflow 3 blocks the metadata database inside a task process: its supervisor replaces
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN with a dummy URL, which a child CLI would inherit. The deployment
    therefore also gives the workers the URL as FOOTFALL_AIRFLOW_METADATA_URL (a secret, like Airflow's own
    setting), and the child gets it back under Airflow's name."""
    env = {k: v for k, v in environ.items() if k not in _TASK_ONLY_ENV}
    url = env.get(METADATA_URL_ENV, "").strip()
    if url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
        env.pop("AIRFLOW__CORE__SQL_ALCHEMY_CONN", None)
    elif env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").startswith(_BLOCKED_URL):
        raise RuntimeError(
            f"airflow db clean needs the metadata database's URL, which Airflow hides from tasks: set "
            f"{METADATA_URL_ENV} for the Airflow workers to the value of AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
        )
    return env


def clean_airflow_metadata(
    retention_days: int, now: datetime, timeout: float = 3600, environ: Mapping[str, str] | None = None
) -> str:
    """Run `airflow db clean` as its own process (with `environ`, default this process's environment);
    returns its output, raises CalledProcessError on failure."""
    env = db_clean_environment(os.environ if environ is None else environ)
    command = db_clean_command(retention_days, now)
    log.info("running %s", " ".join(command))
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
    return done.stdout + done.stderr


def apply_retention(engine: Engine, sites: Iterable[Site], now: datetime) -> list[RetentionResult]:
    """Each site's raw bodies older than its `retention_days` removed, one transaction per site."""
    results = []
    for site in sites:
        with engine.begin() as conn:
            result = apply_payload_retention(conn, site.id, now - timedelta(days=site.retention_days))
        if result.deleted or result.emptied:
            log.info(
                "site %s: %d raw payload(s) deleted, %d body(ies) emptied (%d bytes), received before %s",
                site.id,
                result.deleted,
                result.emptied,
                result.bytes_removed,
                result.before.isoformat(),
            )
        results.append(result)
    return results


def vacuum(engine: Engine) -> list[str]:
    """VACUUM/ANALYZE the warehouse; returns the statements run."""
    return vacuum_analyze(engine)
