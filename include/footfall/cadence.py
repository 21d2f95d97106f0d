"""Which live runs do the day's work, and which only the window's.

Every 5-minute run loads and validates its window and refreshes the site-day's corrected occupancy
(what the share API's `/now` reads). The discrepancy checks over the whole site-day and its
`history_days` (spike, stuck counter, door disagreement... a 28-day read and every check) are not
per-window work: a live run does them every `quality.checks_every_minutes` (default 60), on its
site's own slot within that period, so a thousand sites do not all check at the same 5 minutes; and
always on the run whose interval ends the site-day, so each day's flags and correction factor are
settled. Runs that are not live 5-minute runs (backfills, manual runs, replays, imports, the CLI)
always check in full, as do merges whose rows reach beyond their window (a late batch).

A re-run of a run takes the same decision (it depends on the site, the interval and the run id only),
so re-runs leave the same tables.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from footfall.config import Site
from footfall.timewindow import Window

LIVE_RUN_PREFIX = "scheduled__"  # Airflow's run ids of scheduled runs
LIVE_INTERVAL = timedelta(minutes=5)


def site_slot(site_id: str, slots: int) -> int:
    """The site's fixed slot in [0, slots): a stable hash of its id (the same in every process)."""
    return zlib.crc32(site_id.encode("utf-8")) % slots


def site_day(site: Site, instant: datetime) -> object:
    """The local date of the site-day (from the reset time) holding `instant`."""
    reset = site.quality.reset_time
    return (instant.astimezone(site.zone) - timedelta(hours=reset.hour, minutes=reset.minute)).date()


def full_checks_due(site: Site, interval: Window, run_id: str) -> bool:
    """Whether the run of data interval `interval` runs every discrepancy check (else only the window's part)."""
    every = site.quality.checks_every_minutes
    if every <= 5 or not run_id.startswith(LIVE_RUN_PREFIX) or interval.end - interval.start > LIVE_INTERVAL:
        return True
    if site_day(site, interval.start) != site_day(site, interval.end):
        return True  # this interval ends the site-day: settle its flags and correction factor
    slots = every // 5
    return (interval.end.hour * 12 + interval.end.minute // 5) % slots == site_slot(site.id, slots)
