"""Open or closed at an instant, the next change, and a week's hours, from a site's opening hours.

Each day's hours come from footfall.opening (the precedence the quality checks use too). Ranges are
local wall-clock times turned into UTC instants per day, so DST days have the right length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from footfall import opening
from footfall.config import Site
from footfall.opening import DayHours

LOOKAHEAD_DAYS = 14


def hours_known(site: Site) -> bool:
    return opening.hours_known(site.opening_hours)


def day_hours(site: Site, day: date) -> DayHours:
    closes = site.quality.closed_on_public_holidays
    holidays = opening.public_holidays(site.country, site.region, [day.year]) if closes else frozenset()
    return opening.day_hours(site.opening_hours, day, holidays)


def _instants(site: Site, day: date, start: time, end: time) -> tuple[datetime, datetime]:
    zone = site.zone
    begin = datetime.combine(day, start, tzinfo=zone)
    finish = (
        datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
        if end == time.max
        else datetime.combine(day, end, tzinfo=zone)
    )
    return begin.astimezone(UTC), finish.astimezone(UTC)


def open_ranges(site: Site, first: date, last: date) -> list[tuple[datetime, datetime]]:
    """UTC (open, close) ranges of the local days first..last, touching ranges merged (24:00 then 00:00)."""
    merged: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        for start, end in day_hours(site, day).ranges:
            begin, finish = _instants(site, day, start, end)
            if merged and merged[-1][1] >= begin:
                merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
            else:
                merged.append((begin, finish))
        day += timedelta(days=1)
    return merged


@dataclass(frozen=True)
class OpenState:
    open: bool
    next_change: tuple[bool, datetime] | None  # (open after the change, when), None when none is known


_AHEAD: dict[tuple[int, date], tuple[Site, list[tuple[datetime, datetime]]]] = {}


def _ranges_around(site: Site, today: date) -> list[tuple[datetime, datetime]]:
    """open_ranges from yesterday to two weeks ahead, kept per site file (object) and day: every request asks."""
    key = (id(site), today)
    found = _AHEAD.get(key)
    if found is None or found[0] is not site:  # the site is kept with its ranges, so its id is not reused
        if len(_AHEAD) > 10_000:
            _AHEAD.clear()
        ahead = open_ranges(site, today - timedelta(days=1), today + timedelta(days=LOOKAHEAD_DAYS))
        found = _AHEAD[key] = (site, ahead)
    return found[1]


def open_state(site: Site, now: datetime) -> OpenState:
    """Whether the site is open at `now`, and when that next changes (within two weeks)."""
    if not hours_known(site):
        return OpenState(True, None)
    for begin, finish in _ranges_around(site, now.astimezone(site.zone).date()):
        if begin <= now < finish:
            return OpenState(True, (False, finish))
        if begin > now:
            return OpenState(False, (True, begin))
    return OpenState(False, None)


def week_hours(site: Site, today: date, week: int) -> list[DayHours]:
    """Monday to Sunday of the local week `week` weeks after today's."""
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=week)
    return [day_hours(site, monday + timedelta(days=i)) for i in range(7)]
