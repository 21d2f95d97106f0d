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
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, task

from footfall.alerts import failure_notifiers  # no pandas: parsing stays cheap
from footfall.config import WEEKDAYS, ConfigError, Site, get_site, load_registry, site_path

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
VENDOR_POOL_SLOTS = 4  # concurrent syncs per vendor cloud API; FOOTFALL_VENDOR_POOL_SLOTS overrides


def vendor_pool(site: Site) -> dict[str, Any]:
    """`pool=` for the sync task: one pool per vendor family whose cloud API rate-limits the account
    (`shared_api` presets); other sites take Airflow's default pool.

    Only where the deployment created the pools (it then sets FOOTFALL_VENDOR_POOLS=true): Airflow
    never schedules a task whose pool does not exist.
    """
    pool = site.preset.pool
    if pool and os.environ.get(VENDOR_POOLS_ENV, "").strip().lower() in ("1", "true", "yes"):
        return {"pool": pool}
    return {}


def vendor_pools(sites: Iterable[Site], slots: int | None = None) -> dict[str, dict[str, Any]]:
    """One Airflow pool per vendor cloud API the registry reads (`shared_api` presets), in `airflow pools
    import` form: what a deployment with FOOTFALL_VENDOR_POOLS=true must create (`footfall sites pools`)."""
    slots = slots or int(os.environ.get("FOOTFALL_VENDOR_POOL_SLOTS") or VENDOR_POOL_SLOTS)
    return {
        pool: {
            "slots": slots,
            "description": f"footfall: site syncs at once against {pool.removeprefix('vendor_')}'s cloud API",
            "include_deferred": False,
        }
        for site in sites
        if (pool := site.preset.pool)
    }


def counts_asset(site_id: str) -> Asset:
    """The Asset a site's load updates; forecasting DAGs are scheduled on these."""
    return Asset(name=f"footfall_counts__{site_id}", uri=f"x-footfall://counts/{site_id}", group="footfall")


def site_dag_id(site_id: str) -> str:
    return f"{DAG_PREFIX}{site_id}"


SITE_PAGE = "/dags/{dag_id}/plugin/footfall-site"  # the plugin's Site tab inside the Airflow UI


def _shown_path(path: Path) -> Path:
    """Relative to the working directory (the checkout Airflow runs in) when the file is in it, else absolute."""
    here = Path.cwd()
    return path.relative_to(here) if path.is_relative_to(here) else path


def _hours(ranges: tuple) -> str:
    return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in ranges) or "closed"


def site_doc_md(site: Site, sites_dir: Path | None = None) -> str:
    """The site's own page in the DAG's docs: what the site is, where its counts come from, where to look."""
    dag_id = site_dag_id(site.id)
    source = site.source
    lines = [
        f"# {site.name}",
        "",
        f"[Site page: occupancy, flags, payloads]({SITE_PAGE.format(dag_id=dag_id)})",
        "",
        "| | |",
        "|---|---|",
        f"| site id | `{site.id}` |",
        f"| time zone | {site.timezone} |",
        f"| capacity | {site.capacity if site.capacity is not None else 'not set'} |",
        f"| source | {site.preset.label_kind}, preset `{source.preset}` |",
        f"| connection id | `{source.connection_id}` |" if source.connection_id else "| connection id | none |",
        f"| lookback | {source.lookback_minutes} min |",
        f"| site file | `{_shown_path(site_path(site.id, sites_dir))}` |",
        "",
        "**Counters**",
        "",
        "| id | name | ref | direction | connection |",
        "|---|---|---|---|---|",
        *(
            f"| `{c.id}` | {c.name or ''} | `{c.ref}` | {c.direction} | {c.connection_id or '(source)'} |"
            for c in site.counters
        ),
        "",
        "**Opening hours** (local time)",
        "",
        "| day | hours |",
        "|---|---|",
        *(f"| {day} | {_hours(site.opening_hours.regular.get(day, ()))} |" for day in WEEKDAYS),
    ]
    hours = site.opening_hours
    if hours.exceptions:
        lines += ["", "Exceptions: " + "; ".join(f"{d}: {_hours(r)}" for d, r in sorted(hours.exceptions.items()))]
    if hours.closed_days:
        lines += ["", "Closed: " + ", ".join(str(d) for d in sorted(hours.closed_days))]
    return "\n".join(lines)


def build_site_dag(site: Site, doc_md: str | None = None, sites_dir: Path | None = None) -> DAG:
    """One site's DAG: schedule, retries and tags as the data team expects them everywhere."""
    own_doc = site_doc_md(site, sites_dir)
    with DAG(
        dag_id=site_dag_id(site.id),
        dag_display_name=site.name,
        description=f"{site.name}: {site.source.kind.value} via {site.source.preset}, every 5 minutes",
        schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=MAX_ACTIVE_RUNS,
        dagrun_timeout=timedelta(minutes=30),
        default_args=DEFAULT_ARGS,
        tags=["footfall", "site", site.source.kind.value, site.source.preset, *site.tags],
        doc_md=f"{own_doc}\n\n---\n\n{doc_md}" if doc_md else own_doc,
    ) as dag:

        @task(
            task_id="sync",
            # The run's summary is one XCom: returning a dict would otherwise push each of its ~16 keys
            # as an XCom of its own too, each a call to the api-server and a row, on every 5-minute run.
            multiple_outputs=False,
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


class SiteFilesError(ConfigError):
    """Every broken site file in one error: raised by `dags/site_files.py`, a DAG file without DAGs.

    Airflow marks every DAG of a file that has an import error stale, so the file that builds the site
    DAGs (`dags/sites.py`) never raises for a broken site file; this one does, and the UI's import-errors
    list shows it under `site_files.py`, naming each broken file, the field and the reason.
    """

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        lines = [f"{len(errors)} broken site file(s); their DAGs are not built, every other site runs:"]
        lines += [f"- {err}" for err in errors]
        super().__init__("site registry", ["\n".join(lines)])

    def __str__(self) -> str:
        return self.problems[0]


def build_site_dags(
    only_dag_id: str | None = None, sites_dir: Path | None = None, doc_md: str | None = None
) -> list[DAG]:
    """A DAG per valid site file; a broken file is skipped (`check_site_files` reports it).

    When Airflow runs one task (`only_dag_id`), only that site's file is read; if it is broken, its
    error is raised, since that run cannot go on.
    """
    if only_dag_id is not None and only_dag_id.startswith(DAG_PREFIX):
        return [build_site_dag(get_site(only_dag_id.removeprefix(DAG_PREFIX), sites_dir), doc_md, sites_dir)]
    sites, _ = load_registry(sites_dir)
    return [build_site_dag(site, doc_md, sites_dir) for site in sites.values()]


def check_site_files(sites_dir: Path | None = None) -> int:
    """Raise SiteFilesError naming every broken site file; returns the number of valid sites."""
    sites, errors = load_registry(sites_dir)
    if errors:
        raise SiteFilesError(errors)
    return len(sites)


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
            from footfall.imports.run import plan_for_params

            return plan_for_params(context["params"])

        @task(task_id="import_chunk", map_index_template="{{ chunk['start'][:10] }}")
        def import_chunk(chunk: dict[str, str], **context: object) -> dict[str, object]:
            """Validate, flag and load one chunk; a chunk already done is skipped."""
            from footfall.imports.run import run_chunk_dict

            return run_chunk_dict(chunk, run_id=str(context["run_id"]))

        import_chunk.expand(chunk=plan())
    return dag
