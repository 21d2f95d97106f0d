"""One site, one window, from the shell or a site DAG's task: the site's source through the run lifecycle.

This is what a site DAG's task runs, what `footfall sync` runs from the shell and what the
benchmarks time; footfall.lifecycle.run_window does the work for every source kind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import requests
from sqlalchemy import Engine

from footfall.config import Site
from footfall.endpoints import Endpoint, resolve_endpoint
from footfall.lifecycle import run_window
from footfall.sources import source_for
from footfall.sources.base import SyncResult
from footfall.timewindow import Window
from footfall.warehouse.engine import get_engine


def sync_window(
    site: Site,
    window: Window,
    *,
    engine: Engine | None = None,
    run_id: str = "cli",
    resolve: Callable[[str], Endpoint] = resolve_endpoint,
    session: requests.Session | None = None,
    started: datetime | None = None,
    full_checks: bool = True,
) -> SyncResult:
    """Run the site's source for `window` (a pull, a folder's new files, the pushes the window concerns);
    raises a SiteDataError naming what went wrong. `resolve` and `session` serve HTTP sources; `started`
    is the run's clock (now unless given), which decides whether the data is live enough for a nowcast;
    `full_checks=False`: only the window's part of the checks (footfall.cadence)."""
    options = {"resolve": resolve, "session": session} if site.source.kind.value.startswith("http") else {}
    source = source_for(site, **options)
    return run_window(
        source, site, window, engine=engine or get_engine(), run_id=run_id, started=started, full_checks=full_checks
    )


def run_site_window(
    site_id: str, interval_start: datetime, interval_end: datetime, *, run_id: str
) -> dict[str, object]:
    """Entry point of a site DAG run: the data interval widened by the site's lookback."""
    from footfall.cadence import full_checks_due
    from footfall.config import get_site
    from footfall.timewindow import Window, load_window

    site = get_site(site_id)
    window = load_window(interval_start, interval_end, site.source.lookback_minutes)
    full = full_checks_due(site, Window(interval_start, interval_end), run_id)
    return sync_window(site, window, run_id=run_id, full_checks=full).summary()


def warm_up() -> None:
    """Import and build everything a task needs, in a parent process that forks tasks.

    A forked task inherits all of it: the modules its run imports (every source kind, the checks, the
    nowcast; the plugin's preload adds the DAG factory its DAG file imports), the presets and registry, and
    Great Expectations' caches, which a process's first validation fills (one validation of a tiny batch
    here: a forked task's first validation took 55 ms instead of 65 ms)."""
    import holidays

    from footfall import alerts, cadence, validate  # noqa: F401 - imported for the forked tasks
    from footfall.config import load_presets, load_registry
    from footfall.forecast import nowcast  # noqa: F401
    from footfall.quality import docs, runner  # noqa: F401
    from footfall.sources import REGISTRY, source_class

    for kind in REGISTRY:
        source_class(kind)
    validate.warm_up()
    load_presets()
    sites, _ = load_registry()
    for country in {s.country for s in sites.values() if s.country}:
        holidays.country_holidays(country)
