"""footfall's Airflow plugin: the data team's pages in the Airflow UI, and the pipeline preload.

Pages: a FastAPI app mounted by Airflow's api-server under `/footfall` (Sites, a site's page, Data
Docs), shown inside the Airflow UI through `external_views` (a "Sites" entry in the navigation and a
"Site" tab on every site DAG). A mounted plugin app does not inherit Airflow's auth: every route of it
depends on Airflow's own `get_user` and the auth manager (footfall.ui.auth). The app is built on its
first request, so importing this plugin stays cheap where Airflow imports it (every task process).

Preload: Airflow's LocalExecutor and Celery workers fork each task from a long-lived parent; warming
the pipeline up there once lets every task inherit it. Airflow 3.3 re-imports plugins in every forked
task process with the parent's `sys.argv`, so footfall.ui.preload runs the warm-up once per process
tree (`FOOTFALL_PRELOAD=false` turns it off). Plugins load at process start because footfall's
Airflow settings set `[core] lazy_load_plugins = False`.
"""

from __future__ import annotations

import logging
import os
import sys

from airflow.plugins_manager import AirflowPlugin

from footfall.ui.lazy_app import LazyASGIApp
from footfall.ui.preload import preload_if_needed

log = logging.getLogger(__name__)

if preload_if_needed(sys.argv, sys.modules, os.environ):
    log.info("footfall: preloaded for the processes this one forks")

URL_PREFIX = "/footfall"


class FootfallPlugin(AirflowPlugin):
    """The footfall pages inside the Airflow UI (the preload above is the plugin's other work)."""

    name = "footfall"
    fastapi_apps = [
        {"app": LazyASGIApp("footfall.ui.app:create_app"), "url_prefix": URL_PREFIX, "name": "footfall pages"}
    ]
    external_views = [
        {
            "name": "Sites",
            "href": f"{URL_PREFIX}/sites",
            "url_route": "footfall-sites",
            "destination": "nav",
            "nav_top_level": True,
        },
        {
            "name": "Site",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}",
            "url_route": "footfall-site",
            "destination": "dag",
        },
    ]
