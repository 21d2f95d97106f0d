"""Local-calendar facts per UTC slot: slot of day, weekday, public holidays, terms, opening hours.

Everything a visitor's week is made of is local, so it is computed in the site's IANA zone; a
"same slot yesterday" is the same wall-clock time a local day earlier, which on DST days is 23 or
25 hours back, never a fixed 24.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, time

import numpy as np
import pandas as pd

from footfall.opening import public_holidays


def holiday_dates(country: str | None, region: str | None, years: Iterable[int]) -> set[date]:
    """Public holidays of the site's country (and region, e.g. US/CA or FR/ + none): footfall.opening's."""
    return set(public_holidays(country, region, years))


def in_periods(days: np.ndarray, periods: Iterable[tuple[date, date]]) -> np.ndarray:
    """Whether each local date falls in one of the inclusive (start, end) periods (school or university terms)."""
    inside = np.zeros(len(days), dtype=bool)
    for start, end in periods:
        inside |= (days >= np.datetime64(start)) & (days <= np.datetime64(end))
    return inside


def same_wall_time_positions(index: pd.DatetimeIndex, zone: str, days: int) -> np.ndarray:
    """Position in `index` of the same local wall-clock time `days` earlier, or -1 where absent.

    Wall times that do not exist (spring forward) or repeat (fall back) on the earlier day map to -1.
    """
    local = index.tz_convert(zone).tz_localize(None)
    earlier = (local - pd.Timedelta(days=days)).tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    positions = index.get_indexer(earlier.tz_convert("UTC"))
    return np.where(earlier.isna(), -1, positions).astype(np.int64)


def calendar_frame(
    index: pd.DatetimeIndex,
    zone: str,
    minutes: int,
    holidays_on: set[date] | None = None,
    terms: Iterable[tuple[date, date]] = (),
    open_slots: np.ndarray | None = None,
) -> pd.DataFrame:
    """Calendar features of each slot, in the site's local time."""
    local = index.tz_convert(zone)
    days = np.asarray(local.tz_localize(None).normalize().values.astype("datetime64[D]"))
    holidays_on = holidays_on or set()
    holiday = (
        np.isin(days, np.array(sorted(holidays_on), dtype="datetime64[D]"))
        if holidays_on
        else np.zeros(len(index), dtype=bool)
    )
    slot = (local.hour * 60 + local.minute) // minutes
    weekday = local.weekday
    return pd.DataFrame(
        {
            "slot_of_day": np.asarray(slot, dtype=np.int16),
            "weekday": np.asarray(weekday, dtype=np.int8),
            "weekly_slot": np.asarray(weekday * (1440 // minutes) + slot, dtype=np.int32),
            "holiday": holiday,
            "term": in_periods(days, terms),
            "open": np.ones(len(index), dtype=bool) if open_slots is None else open_slots,
            "local_date": days,
        },
        index=index,
    )


def open_mask(index: pd.DatetimeIndex, zone: str, hours_on: Callable[[date], tuple] | None) -> np.ndarray | None:
    """Whether each slot starts inside the site's opening hours (None when the site has none).

    `hours_on` is asked once per local date, then every slot of the date is compared at once.
    """
    if hours_on is None:
        return None
    local = index.tz_convert(zone)
    codes, days = pd.factorize(local.tz_localize(None).normalize())
    minute = np.asarray(local.hour * 60 + local.minute)
    ranges = [hours_on(day.date()) for day in days]
    width = max((len(r) for r in ranges), default=0)
    if width == 0:
        return np.zeros(len(index), dtype=bool)
    opens = np.zeros((len(days), width))
    closes = np.zeros((len(days), width))
    for row, day_ranges in enumerate(ranges):
        for col, (start, end) in enumerate(day_ranges):
            opens[row, col] = start.hour * 60 + start.minute
            closes[row, col] = 1440 if end == time.max else end.hour * 60 + end.minute
    inside = (minute[:, None] >= opens[codes]) & (minute[:, None] < closes[codes])
    return np.asarray(inside.any(axis=1))
