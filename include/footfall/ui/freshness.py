"""A site's freshness, judged against its opening hours: late data only matters while data is expected."""

from __future__ import annotations

from datetime import datetime, timedelta

from footfall.config import Site

FRESH_MINUTES = 15  # a 5-minute site is fine up to two missed cycles and a lookback's worth


def is_open(site: Site, now: datetime) -> bool:
    local = now.astimezone(site.zone)
    return any(a <= local.time() < b for a, b in site.opening_hours.hours_on(local.date()))


def freshness(site: Site | None, last_interval_start: datetime | None, now: datetime) -> tuple[str, str]:
    """(css class, words): fresh | late | stale while open; `closed` when no counts are expected."""
    if last_interval_start is None:
        return "stale", "no data yet"
    age = now - last_interval_start
    words = f"{_age(age)} ago"
    if site is not None and not is_open(site, now):
        return "closed", f"{words} (closed)"
    if age <= timedelta(minutes=FRESH_MINUTES):
        return "fresh", words
    stale = timedelta(minutes=site.quality.stale_minutes if site is not None else 60)
    return ("late" if age <= stale else "stale"), words


def _age(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"
