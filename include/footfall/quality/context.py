"""What the checks know about a site, and the counts prepared once for all of them.

Checks compare counts with the site's calendar (local days, opening hours, public holidays), so the
local wall clock, the local day (which starts at the site's reset time) and whether each interval
overlaps opening hours are computed here once, vectorised, instead of in every check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from footfall.config import OpeningHours, QualityParams, Site

FULL_DAY = ((0, 1440),)


@dataclass(frozen=True)
class SiteContext:
    """A site as the checks see it; built from a site file or from CLI flags."""

    site_id: str
    timezone: str
    capacity: int | None = None
    opening_hours: OpeningHours = field(default_factory=OpeningHours)
    country: str | None = None
    params: QualityParams = field(default_factory=QualityParams)
    counter_ids: tuple[str, ...] = ()

    @classmethod
    def from_site(cls, site: Site) -> SiteContext:
        return cls(
            site.id,
            site.timezone,
            site.capacity,
            site.opening_hours,
            site.country,
            site.quality,
            tuple(c.id for c in site.counters),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hours_known(self) -> bool:
        """A site without any hours is treated as always open (closed-time checks then say nothing)."""
        h = self.opening_hours
        return bool(h.regular or h.exceptions or h.closed_days)


def _minutes(t: time) -> int:
    return 1440 if t == time.max else t.hour * 60 + t.minute


def _public_holidays(country: str | None, years: set[int]) -> set[date]:
    if not country or not years:
        return set()
    import holidays

    try:
        return set(holidays.country_holidays(country.upper(), years=sorted(years)))
    except NotImplementedError:
        return set()


def day_ranges(ctx: SiteContext, days: list[date]) -> np.ndarray:
    """Opening ranges per local day as minutes after midnight, shape (days, K, 2), padded with (-1, -1).

    Order of precedence: dated exception, closed day, public holiday (if the site closes on
    them), weekly hours. A site with no hours at all is open all day.
    """
    hours = ctx.opening_hours
    closed_holidays = (
        _public_holidays(ctx.country, {d.year for d in days}) if ctx.params.closed_on_public_holidays else set()
    )
    per_day: list[tuple[tuple[int, int], ...]] = []
    for day in days:
        if not ctx.hours_known:
            per_day.append(FULL_DAY)
        elif day in hours.exceptions or day in hours.closed_days:
            per_day.append(tuple((_minutes(a), _minutes(b)) for a, b in hours.hours_on(day)))
        elif day in closed_holidays:
            per_day.append(())
        else:
            per_day.append(tuple((_minutes(a), _minutes(b)) for a, b in hours.hours_on(day)))
    width = max([1, *(len(r) for r in per_day)])
    out = np.full((len(days), width, 2), -1, dtype=np.int64)
    for i, ranges in enumerate(per_day):
        for j, (lo, hi) in enumerate(ranges):
            out[i, j] = (lo, hi)
    return out


def local_instant(zone: str, wall: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Wall-clock times to UTC; a time skipped by DST moves forward, a repeated one takes its first pass."""
    first_pass = np.ones(len(wall), dtype=bool)
    return wall.dt.tz_localize(zone, ambiguous=first_pass, nonexistent="shift_forward").dt.tz_convert("UTC")


@dataclass
class Prepared:
    """One site's counts with local-time columns, plus the instants the run is judged at."""

    ctx: SiteContext
    df: pd.DataFrame  # sorted by counter_id, interval_start; unique key
    as_of: pd.Timestamp  # end of the data (or of the run's window)
    now: pd.Timestamp  # wall-clock now: later intervals are in the future
    days: list[date]
    ranges: np.ndarray  # day_ranges(ctx, days)

    @cached_property
    def day_index(self) -> dict[date, int]:
        return {d: i for i, d in enumerate(self.days)}

    def ranges_of(self, day: date) -> np.ndarray:
        return self.ranges[self.day_index[day]]

    def open_minutes_between(self, start: pd.Timestamp, end: pd.Timestamp, step: int = 5) -> int:
        """Open minutes in [start, end), sampled every `step` minutes (stale feed, missing counters)."""
        if end <= start:
            return 0
        t = pd.date_range(start, end, freq=f"{step}min", inclusive="left").tz_convert(self.ctx.timezone)
        wall = t.tz_localize(None)
        tod = (wall - wall.normalize()).total_seconds().to_numpy() / 60
        days = [d.date() for d in wall.normalize()]
        missing = [d for d in dict.fromkeys(days) if d not in self.day_index]
        ranges = np.concatenate([self.ranges, day_ranges(self.ctx, missing)]) if missing else self.ranges
        if missing and ranges.shape[1] != self.ranges.shape[1]:
            return int(len(t) * step)  # mixed widths: assume open rather than miss a stale feed
        index = {**self.day_index, **{d: len(self.days) + i for i, d in enumerate(missing)}}
        r = ranges[[index[d] for d in days]]
        inside = ((tod[:, None] >= r[:, :, 0]) & (tod[:, None] < r[:, :, 1])).any(axis=1)
        return int(inside.sum() * step)


def prepare(
    counts: pd.DataFrame, ctx: SiteContext, as_of: datetime | None = None, now: datetime | None = None
) -> Prepared:
    """Sort, de-duplicate (last row wins, duplicates are flagged elsewhere) and add local-time columns."""
    df = counts.loc[:, ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy"]]
    df = df.assign(interval_start=pd.to_datetime(df["interval_start"], utc=True))
    df = df.drop_duplicates(["counter_id", "interval_start"], keep="last").sort_values(["counter_id", "interval_start"])
    df = df.reset_index(drop=True)
    minutes = df["interval_minutes"].astype("int64")
    df["interval_end"] = df["interval_start"] + pd.to_timedelta(minutes, unit="min")
    for measure in ("entries", "exits", "occupancy"):
        df[measure] = pd.to_numeric(df[measure], errors="coerce").astype("float64")
    df["total"] = df["entries"].fillna(0) + df["exits"].fillna(0)
    wall = df["interval_start"].dt.tz_convert(ctx.timezone).dt.tz_localize(None)
    reset = timedelta(hours=ctx.params.reset_time.hour, minutes=ctx.params.reset_time.minute)
    df["local_date"] = wall.dt.normalize()
    df["day"] = (wall - reset).dt.normalize()  # the site's day, from reset time to reset time
    df["tod"] = (wall - df["local_date"]).dt.total_seconds() / 60
    df["weekday"] = wall.dt.weekday
    days = sorted({*df["local_date"].dt.date, *df["day"].dt.date})
    ranges = day_ranges(ctx, days)
    index = {d: i for i, d in enumerate(days)}
    r = ranges[df["local_date"].dt.date.map(index).to_numpy(dtype=np.int64)] if len(df) else ranges[:0]
    tod = df["tod"].to_numpy()
    end_tod = tod + minutes.to_numpy()
    grace = ctx.params.closed_grace_minutes
    valid = r[:, :, 0] >= 0
    df["open"] = (valid & (tod[:, None] < r[:, :, 1]) & (end_tod[:, None] > r[:, :, 0])).any(axis=1)
    df["near_open"] = (valid & (tod[:, None] < r[:, :, 1] + grace) & (end_tod[:, None] > r[:, :, 0] - grace)).any(
        axis=1
    )
    end = (
        pd.Timestamp(as_of) if as_of is not None else (df["interval_end"].max() if len(df) else pd.Timestamp.now("UTC"))
    )
    current = pd.Timestamp(now) if now is not None else pd.Timestamp.now("UTC")
    return Prepared(ctx, df, end.tz_convert("UTC"), current.tz_convert("UTC"), days, ranges)


def runs(df: pd.DataFrame, mask: pd.Series, extra_break: pd.Series | None = None) -> pd.DataFrame:
    """Consecutive rows of one counter where `mask` holds, as one row per run (id, first, last index)."""
    m = mask.to_numpy(dtype=bool)
    counter = df["counter_id"].to_numpy()
    # datetime64 arrays: on an aware column a bare to_numpy() builds Python objects (100x slower).
    start = df["interval_start"].to_numpy("datetime64[ns]")
    end = df["interval_end"].to_numpy("datetime64[ns]")
    brk = np.ones(len(df), dtype=bool)
    if len(df) > 1:
        brk[1:] = (m[1:] != m[:-1]) | (counter[1:] != counter[:-1]) | (start[1:] != end[:-1])
    if extra_break is not None:
        brk |= extra_break.to_numpy(dtype=bool)
    run_id = np.cumsum(brk)
    return pd.DataFrame({"run": run_id[m], "row": np.flatnonzero(m)})
