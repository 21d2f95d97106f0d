"""footfall's Airflow plugin: preload the pipeline where tasks are forked from.

Airflow's LocalExecutor workers and Celery workers fork each task process from a long-lived
parent. Importing pandas, SQLAlchemy and Great Expectations (~3 s) and building the validation
suite once in that parent means every 5-minute site task inherits them instead of paying the
cost on each run. Plugins load at process start when `[core] lazy_load_plugins = False`, which
footfall's Airflow settings set; `FOOTFALL_PRELOAD=false` turns the preload off.
"""

from __future__ import annotations

import logging
import os
import sys

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

FORKING_COMMANDS = ("scheduler", "worker")


def should_preload(argv: list[str]) -> bool:
    """Only processes that fork task processes benefit (the scheduler for LocalExecutor, Celery workers)."""
    if os.environ.get("FOOTFALL_PRELOAD", "true").lower() in ("0", "false", "no"):
        return False
    return any(word in argv[1:3] for word in FORKING_COMMANDS)


if should_preload(sys.argv):
    from footfall.pipeline import warm_up

    warm_up()
    log.info("footfall: pipeline preloaded for forked task processes")


class FootfallPlugin(AirflowPlugin):
    """Registers footfall with Airflow (the preload above is the plugin's work)."""

    name = "footfall"
