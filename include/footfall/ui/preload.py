"""When the footfall plugin preloads the pipeline: once per process tree, in the processes that fork tasks.

Airflow's LocalExecutor (the scheduler) and Celery workers fork every task process from a long-lived
parent; importing pandas, SQLAlchemy and Great Expectations and building the validation suite there
once means each 5-minute task inherits them. Airflow 3.3's task runner imports the plugins again inside
every forked task process (`get_template_context` -> `integrate_macros_plugins`), where `sys.argv` is
still the scheduler's: without a guard each task would warm up again (~1 s, and the registry load in it
grows with the number of sites). A fork inherits the parent's `sys.modules`, so "the pipeline is already
imported" marks a process whose tree has been warmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FORKING_COMMANDS = ("scheduler", "worker")
PARSING_COMMANDS = ("dag-processor",)  # forks a process per DAG file parse
PRELOAD_ENV = "FOOTFALL_PRELOAD"
WARM_MODULE = "footfall.pipeline"


def should_preload(argv: Sequence[str], modules: Mapping[str, object], environ: Mapping[str, str]) -> bool:
    """True only in a process that forks tasks, has not been warmed, and has not turned the preload off."""
    if environ.get(PRELOAD_ENV, "true").strip().lower() in ("0", "false", "no"):
        return False
    if WARM_MODULE in modules:
        return False  # this process, or the one it was forked from, already has the pipeline
    return any(word in argv[1:3] for word in FORKING_COMMANDS)


def should_warm_registry(argv: Sequence[str], modules: Mapping[str, object], environ: Mapping[str, str]) -> bool:
    """True in the dag-processor's own process (not the parse processes it forks, which inherit its warm
    registry): there the site files are validated once, and each parse validates only the files that
    changed since. No data library is imported: parsing stays light."""
    if environ.get(PRELOAD_ENV, "true").strip().lower() in ("0", "false", "no"):
        return False
    config = modules.get("footfall.config")
    if config is not None and getattr(config, "cached_site_files", lambda: 0)():
        return False  # forked from a process that warmed it
    return any(word in argv[1:3] for word in PARSING_COMMANDS)


def preload_if_needed(argv: Sequence[str], modules: Mapping[str, object], environ: Mapping[str, str]) -> bool:
    """Warm the pipeline up when `should_preload` (the registry alone when `should_warm_registry`);
    returns whether it did."""
    registry_only = should_warm_registry(argv, modules, environ)
    if not (registry_only or should_preload(argv, modules, environ)):
        return False
    from footfall import dag_factory  # noqa: F401 - with Airflow's task decorator, for every parse or task forked

    if registry_only:
        from footfall.config import load_registry

        load_registry()
        return True
    from footfall.pipeline import warm_up

    warm_up()
    return True
