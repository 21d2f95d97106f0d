"""The one DAG factory: a `site__<id>` DAG per registry site, every 5 minutes.

Each run is one task, `sync`, that extracts, normalizes, validates and loads its data interval
(plus the source's lookback). Why one task: on one box Airflow itself tops out at a few task
instances per second, so every extra task per site-run divides the number of sites a box can
serve; the stages are still separate functions with their own errors (the log and sync_run say
which stage failed), the raw body is committed before parsing, and `footfall replay` re-runs the
later stages without calling the source.

This module imports Airflow's Task SDK but none of the heavy data libraries: DAG parsing stays
cheap, and the task imports the pipeline only when it runs (the footfall plugin preloads it in
the scheduler so forked task processes get it for free).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, task

from footfall.alerts import failure_notifiers  # no pandas: parsing stays cheap
from footfall.config import ConfigError, Site, get_site, load_registry

DAG_PREFIX = "site__"
SCHEDULE = "*/5 * * * *"
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_ARGS = {
    "owner": "footfall-data",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=4),
}
MAX_ACTIVE_RUNS = 4


VENDOR_POOLS_ENV = "FOOTFALL_VENDOR_POOLS"


def vendor_pool(site: Site) -> dict[str, Any]:
    """`pool=` for the sync task: one pool per vendor family, since rate limits are per vendor account.

    Only where the deployment created the pools (it then sets FOOTFALL_VENDOR_POOLS=true): Airflow
    never schedules a task whose pool does not exist.
    """
    if os.environ.get(VENDOR_POOLS_ENV, "").strip().lower() in ("1", "true", "yes"):
        return {"pool": site.preset.pool}
    return {}


def counts_asset(site_id: str) -> Asset:
    """The Asset a site's load updates; forecasting DAGs are scheduled on these."""
    return Asset(name=f"footfall_counts__{site_id}", uri=f"x-footfall://counts/{site_id}", group="footfall")


def site_dag_id(site_id: str) -> str:
    return f"{DAG_PREFIX}{site_id}"


def build_site_dag(site: Site, doc_md: str | None = None) -> DAG:
    """One site's DAG: schedule, retries and tags as the data team expects them everywhere."""
    with DAG(
        dag_id=site_dag_id(site.id),
        description=f"{site.name}: {site.source.kind.value} via {site.source.preset}, every 5 minutes",
        schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=MAX_ACTIVE_RUNS,
        dagrun_timeout=timedelta(minutes=30),
        default_args=DEFAULT_ARGS,
        tags=["footfall", "site", site.source.kind.value, site.source.preset, *site.tags],
        doc_md=doc_md,
    ) as dag:

        @task(
            task_id="sync",
            outlets=[counts_asset(site.id)],
            **vendor_pool(site),
            on_failure_callback=failure_notifiers(site) or None,
        )
        def sync(site_id: str = site.id, **context: Any) -> dict[str, object]:
            """Extract, normalize, validate and load this run's window."""
            from footfall.pipeline import run_site_window

            return run_site_window(
                site_id, context["data_interval_start"], context["data_interval_end"], run_id=str(context["run_id"])
            )

        sync()
    return dag


class RegistryErrorDag(DAG):
    """Stands for broken site files: its validation fails, so the DagBag records one import error
    naming each broken file, while every valid site's DAG from the same file still loads."""

    errors: tuple[str, ...] = ()

    def validate(self) -> None:
        raise ConfigError("site registry", list(self.errors))


def build_site_dags(
    only_dag_id: str | None = None, sites_dir: Path | None = None, doc_md: str | None = None
) -> list[DAG]:
    """All site DAGs; when Airflow runs one task (`only_dag_id`), read just that site's file."""
    if only_dag_id is not None and only_dag_id.startswith(DAG_PREFIX):
        try:
            return [build_site_dag(get_site(only_dag_id.removeprefix(DAG_PREFIX), sites_dir), doc_md)]
        except ConfigError:
            pass  # fall through to the full registry, which reports the error the usual way
    sites, errors = load_registry(sites_dir)
    dags = [build_site_dag(site, doc_md) for site in sites.values()]
    if errors:
        with RegistryErrorDag(dag_id="footfall_registry_errors", schedule=None, start_date=START_DATE) as broken:
            broken.errors = tuple(str(e) for e in errors)
        dags.append(broken)
    return dags


def build_import_dag(doc_md: str | None = None) -> DAG:
    """`import_history`: an analyst's history import, one mapped task per chunk so the UI shows progress."""
    from airflow.sdk import Param

    sites, _ = load_registry()
    with DAG(
        dag_id="import_history",
        description="Import a site's history from its API or an export file, chunk by chunk (resumable)",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=2,
        max_active_tasks=2,
        default_args={**DEFAULT_ARGS, "retries": 2, "execution_timeout": timedelta(minutes=30)},
        tags=["footfall", "import"],
        doc_md=doc_md,
        params={
            "site": Param(next(iter(sorted(sites)), ""), type="string", enum=sorted(sites) or [""]),
            "start": Param(None, type=["null", "string"], format="date", description="first local date"),
            "end": Param(None, type=["null", "string"], format="date", description="last local date"),
            "source": Param("api", type="string", enum=["api", "file"]),
            "file": Param(None, type=["null", "string"], description="path of a counts CSV/XLSX export"),
            "chunk": Param("day", type="string", enum=["day", "week"]),
        },
    ) as dag:

        @task(task_id="plan")
        def plan(**context: Any) -> list[dict[str, str]]:
            """Chunk the range (and, for a file, land its rows per chunk in one streaming pass)."""
            from footfall.history import plan_for_params

            return plan_for_params(context["params"])

        @task(task_id="import_chunk", map_index_template="{{ chunk['start'][:10] }}")
        def import_chunk(chunk: dict[str, str], **context: object) -> dict[str, object]:
            """Validate, flag and load one chunk; a chunk already done is skipped."""
            from footfall.history import run_chunk_dict

            return run_chunk_dict(chunk, run_id=str(context["run_id"]))

        import_chunk.expand(chunk=plan())
    return dag
