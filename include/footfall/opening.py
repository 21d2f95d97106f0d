"""A site's opening on a local day: the one precedence every reader uses (quality checks, sharing, forecasts).

Precedence: a closed day, then a dated exception, then a public holiday (when the site closes on them),
then the weekly hours. A site without any hours is open all day. Public holidays come from the
`holidays` package for the site's country and region, looked up once per process and year set.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, time
from functools import cache

from footfall.config import OpeningHours, TimeRanges

ALL_DAY: TimeRanges = ((time(0, 0), time.max),)


@dataclass(frozen=True)
class DayHours:
    """One local day's opening ranges and why they differ from the week, if they do."""

    day: date
    ranges: TimeRanges
    note: str | None  # "exception", "closed_day", "public_holiday" or None


def hours_known(hours: OpeningHours) -> bool:
    """A site without any hours is treated as always open (closed-time checks then say nothing)."""
    return bool(hours.regular or hours.exceptions or hours.closed_days)


def day_hours(hours: OpeningHours, day: date, closed_holidays: Collection[date] = ()) -> DayHours:
    """The day's ranges by the precedence above; `closed_holidays`: the public holidays the site closes on."""
    if not hours_known(hours):
        return DayHours(day, ALL_DAY, None)
    if day in hours.closed_days:
        return DayHours(day, (), "closed_day")
    if day in hours.exceptions:
        return DayHours(day, hours.exceptions[day], "exception")
    if day in closed_holidays:
        return DayHours(day, (), "public_holiday")
    return DayHours(day, hours.hours_on(day), None)


def public_holidays(country: str | None, region: str | None, years: Iterable[int]) -> frozenset[date]:
    """Public holidays of a country (and region, e.g. US/CA) in these years; none without a country."""
    wanted = tuple(sorted(set(years)))
    if not country or not wanted:
        return frozenset()
    return _holidays(country.upper(), region or None, wanted)


@cache
def _holidays(country: str, region: str | None, years: tuple[int, ...]) -> frozenset[date]:
    """Built once per process (the holidays package takes milliseconds per call)."""
    import holidays

    try:
        return frozenset(holidays.country_holidays(country, subdiv=region, years=list(years)))
    except NotImplementedError:
        return frozenset()
