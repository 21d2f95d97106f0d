"""What the checks know about a site, and the counts prepared once for all of them.

Checks compare counts with the site's calendar (local days, opening hours, public holidays), so the
local wall clock, the local day (which starts at the site's reset time) and whether each interval
overlaps opening hours are computed here once, vectorised, instead of in every check; for one site
(`prepare`, the live path) or for many at once (`prepare_sites`, imports and backfills), so that
each check pays its fixed cost once per call rather than once per site. The small numpy helpers
(group_rows, reduce_groups...) aggregate rows that are sorted by site and counter without a groupby.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import TypeVar, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from footfall import opening
from footfall.config import OpeningHours, QualityParams, Site
from footfall.warehouse import schema

DAY_SPAN = 1 << 22  # (site, day) keys: site_code * DAY_SPAN + days since 1970 (dates up to year 13000)
T = TypeVar("T")


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
    region: str | None = None

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
            site.region,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hours_known(self) -> bool:
        """A site without any hours is treated as always open (closed-time checks then say nothing)."""
        return opening.hours_known(self.opening_hours)


def _minutes(t: time) -> int:
    return 1440 if t == time.max else t.hour * 60 + t.minute


def day_ranges(ctx: SiteContext, days: list[date]) -> np.ndarray:
    """Opening ranges per local day as minutes after midnight, shape (days, K, 2), padded with (-1, -1);
    each day's ranges by footfall.opening's precedence (the sharing API's too)."""
    closes = ctx.params.closed_on_public_holidays
    holidays = opening.public_holidays(ctx.country, ctx.region, {d.year for d in days}) if closes else frozenset()
    per_day = [
        tuple((_minutes(a), _minutes(b)) for a, b in opening.day_hours(ctx.opening_hours, day, holidays).ranges)
        for day in days
    ]
    width = max([1, *(len(r) for r in per_day)])
    out = np.full((len(days), width, 2), -1, dtype=np.int64)
    for i, ranges in enumerate(per_day):
        for j, (lo, hi) in enumerate(ranges):
            out[i, j] = (lo, hi)
    return out


def site_day_key(site_code: np.ndarray | pd.Series | pd.Index, day: np.ndarray | pd.Series | pd.Index) -> np.ndarray:
    """One int64 per (site, day): lookups of site-day facts without a MultiIndex join."""
    days = np.asarray(day).astype("datetime64[D]").astype(np.int64)
    return np.asarray(site_code, dtype=np.int64) * DAY_SPAN + days


def counter_groups(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row its (site, counter) number 0..G-1, and each group's first row (rows are sorted by both)."""
    ids = sorted_group_ids(df["site_code"].to_numpy(), df["counter_id"].to_numpy())
    return ids, np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else ids


def plain_values(column: pd.Series) -> np.ndarray:
    """A column as a plain numpy array (aware instants as naive UTC datetime64, in their unit)."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return column.to_numpy()


def group_rows(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts rows by `keys` (the first most significant) and where each group starts in
    it: aggregates are then numpy reductions over contiguous slices, without a groupby's fixed cost."""
    order = np.lexsort(keys[::-1])
    new = np.zeros(len(order), dtype=bool)
    if len(order):
        new[0] = True
        for key in keys:
            k = key[order]
            new[1:] |= k[1:] != k[:-1]
    return order, np.flatnonzero(new)


def sorted_group_ids(*keys: np.ndarray) -> np.ndarray:
    """Each row's group number (0, 1, ...) for rows already sorted by `keys`."""
    change = np.zeros(len(keys[0]), dtype=bool)
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.cumsum(change)


def reduce_groups(values: np.ndarray, order: np.ndarray, first: np.ndarray, how: str) -> np.ndarray:
    """Per group of group_rows: "sum", "min" or "max" of `values`, skipping NaN and NaT as pandas does."""
    v = values[order]
    if how == "sum" and v.dtype.kind == "f":
        v = np.nan_to_num(v)
    if len(first) == 0:
        return v[:0]
    return {"sum": np.add, "min": np.fmin, "max": np.fmax}[how].reduceat(v, first)


def _stack(ranges: list[np.ndarray]) -> np.ndarray:
    """Opening ranges of several sites or spans as one array, padded with (-1, -1) to one width."""
    width = max(r.shape[1] for r in ranges)
    out = np.full((sum(len(r) for r in ranges), width, 2), -1, dtype=np.int64)
    at = 0
    for r in ranges:
        out[at : at + len(r), : r.shape[1]] = r
        at += len(r)
    return out


def local_instant(zone: str, wall: pd.Series) -> pd.Series:
    """Wall-clock times to UTC; a time skipped by DST moves forward, a repeated one takes its first pass."""
    first_pass = np.ones(len(wall), dtype=bool)
    return wall.dt.tz_localize(zone, ambiguous=first_pass, nonexistent="shift_forward").dt.tz_convert("UTC")


@dataclass
class Prepared:
    """Counts of one or several sites with local-time columns, plus the instants the run is judged at.

    The sites of one Prepared share a time zone, quality parameters and `as_of` (`prepare_sites` groups
    them so), so the checks run once over all of them, grouping by site where a site matters; opening
    ranges, capacity and counters stay per site. Derived frames several checks need (site-days, site
    net, slot baselines) are computed once and kept in `memo`.
    """

    sites: dict[str, SiteContext]  # in the caller's order: site_code indexes it, flags come out in it
    df: pd.DataFrame  # sorted by site_code, counter_id, interval_start; unique key
    as_of: pd.Timestamp  # end of the data (or of the run's window)
    now: pd.Timestamp  # wall-clock now: later intervals are in the future
    days: dict[str, list[date]]  # per site: its local days and site-days
    ranges: dict[str, np.ndarray]  # per site: day_ranges(ctx, days[site])
    memo: dict[object, object] = field(default_factory=dict)

    @property
    def ctx(self) -> SiteContext:
        """The first site; its time zone and params are every site's (capacity, hours... are not)."""
        return next(iter(self.sites.values()))

    @property
    def site_ids(self) -> list[str]:
        return list(self.sites)

    def site_id_of(self, site_code: np.ndarray | pd.Series | pd.Index) -> np.ndarray:
        """Site ids of site codes (flags name sites, the checks group by their codes)."""
        return np.asarray(self.site_ids, dtype=object)[np.asarray(site_code, dtype=np.int64)]

    def previous(self, column: str) -> pd.Series:
        """Each row's previous row of the same counter (NaN/NaT on a counter's first row)."""

        def build() -> pd.Series:
            df = self.df
            same = np.zeros(len(df), dtype=bool)
            if len(df) > 1:
                same[1:] = df["site_code"].to_numpy()[1:] == df["site_code"].to_numpy()[:-1]
                same[1:] &= df["counter_id"].to_numpy()[1:] == df["counter_id"].to_numpy()[:-1]
            return df[column].shift(1).where(same)

        return self.shared(("previous", column), build)

    def one(self, site_id: str) -> Prepared:
        """The part of one site, as `prepare` would build it (for a check run site by site)."""
        code = self.site_ids.index(site_id)
        lo, hi = np.searchsorted(self.df["site_code"].to_numpy(), [code, code + 1])
        df = self.df.iloc[lo:hi].reset_index(drop=True).assign(site_code=0)
        days, ranges = {site_id: self.days[site_id]}, {site_id: self.ranges[site_id]}
        return Prepared({site_id: self.sites[site_id]}, df, self.as_of, self.now, days, ranges)

    def shared(self, key: object, build: Callable[[], T]) -> T:
        """`build()` once per Prepared: a frame several checks read (and none changes)."""
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]  # type: ignore[return-value]

    @cached_property
    def _lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """(site_code, day) keys, sorted, and their opening ranges padded to one width."""
        keys = [
            site_day_key(np.full(len(self.days[site_id]), code), np.array(self.days[site_id], dtype="datetime64[D]"))
            for code, site_id in enumerate(self.sites)
        ]
        keys_all = np.concatenate(keys)
        order = np.argsort(keys_all, kind="stable")
        return keys_all[order], _stack(list(self.ranges.values()))[order]

    def ranges_at(self, site_code: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Opening ranges of each (site, local day), shape (n, K, 2), and whether the day is known.

        `day` is datetime64 (any unit; the date is taken). Unknown days get (-1, -1) ranges.
        """
        keys, ranges = self._lookup
        want = site_day_key(site_code, day)
        pos = np.searchsorted(keys, want)
        pos = np.minimum(pos, len(keys) - 1)
        known = keys[pos] == want if len(keys) else np.zeros(len(want), dtype=bool)
        r = ranges[pos] if len(keys) else np.full((len(want), 1, 2), -1, dtype=np.int64)
        r = np.where(known[:, None, None], r, -1)
        return r, known

    def ranges_of(self, site_id: str, day: date) -> np.ndarray:
        return self.ranges[site_id][self.days[site_id].index(day)]

    def open_minutes_between(self, site_id: str, start: pd.Timestamp, end: pd.Timestamp, step: int = 5) -> int:
        """Open minutes of a site in [start, end), sampled every `step` minutes (stale feed)."""
        if end <= start:
            return 0
        ctx, own_days, own = self.sites[site_id], self.days[site_id], self.ranges[site_id]
        t = pd.date_range(start, end, freq=f"{step}min", inclusive="left").tz_convert(ctx.timezone)
        wall = t.tz_localize(None)
        tod = (wall - wall.normalize()).total_seconds().to_numpy() / 60
        days = [d.date() for d in wall.normalize()]
        index = {d: i for i, d in enumerate(own_days)}
        missing = [d for d in dict.fromkeys(days) if d not in index]
        ranges = _stack([own, day_ranges(ctx, missing)]) if missing else own
        index.update({d: len(own_days) + i for i, d in enumerate(missing)})
        r = ranges[[index[d] for d in days]]
        inside = ((tod[:, None] >= r[:, :, 0]) & (tod[:, None] < r[:, :, 1])).any(axis=1)
        return int(inside.sum() * step)


COUNT_COLUMNS = list(schema.COUNT_COLUMNS)


def prepare(
    counts: pd.DataFrame, ctx: SiteContext, as_of: datetime | None = None, now: datetime | None = None
) -> Prepared:
    """One site's counts (their site_id column is not read) prepared for the checks."""
    frame = counts.loc[:, COUNT_COLUMNS].assign(site_id=ctx.site_id)
    return _prepare(frame, {ctx.site_id: ctx}, as_of, now)


def prepare_sites(
    counts: pd.DataFrame,
    contexts: Mapping[str, SiteContext],
    as_of: datetime | Mapping[str, datetime] | None = None,
    now: datetime | None = None,
) -> list[Prepared]:
    """Several sites' counts, one Prepared per group of sites that share time zone, params and `as_of`
    (one instant, one per site id, or none: each site's then ends with its data, as in `prepare`).
    Sites are kept in the order of `contexts`; counts of a site it does not describe are an error."""
    unknown = sorted(set(counts["site_id"].unique()) - set(contexts))
    if unknown:
        raise ValueError(f"counts of site(s) {', '.join(map(str, unknown))} but no site context for them")
    frame = counts.loc[:, COUNT_COLUMNS]
    frame = frame.assign(interval_start=pd.to_datetime(frame["interval_start"], utc=True))
    ends: dict[str, datetime] = {}
    if isinstance(as_of, Mapping):
        ends = dict(as_of)
    elif as_of is None and len(frame):
        minutes = pd.to_timedelta(frame["interval_minutes"].astype("int64"), unit="min")
        ends = cast(dict[str, datetime], (frame["interval_start"] + minutes).groupby(frame["site_id"]).max().to_dict())
    now = now if now is not None else pd.Timestamp.now("UTC")
    groups: dict[tuple, dict[str, SiteContext]] = {}
    for site_id, ctx in contexts.items():
        site_end = ends.get(site_id) if isinstance(as_of, Mapping) or as_of is None else as_of
        key = (ctx.timezone, ctx.params.model_dump_json(), None if site_end is None else pd.Timestamp(site_end))
        groups.setdefault(key, {})[site_id] = ctx
    if len(groups) == 1:
        ((key, members),) = groups.items()
        return [_prepare(frame, members, key[2], now)]
    out = []
    for (_, _, end), members in groups.items():
        out.append(_prepare(frame[frame["site_id"].isin(list(members))], members, end, now))
    return out


def _sorted_unique(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by site, counter and start, the last of each repeated key kept: one stable numpy
    lexsort (a pandas drop_duplicates plus sort_values cost three times as much)."""
    counter, _ = pd.factorize(df["counter_id"], sort=True)
    start = plain_values(df["interval_start"])
    if (counter < 0).any() or np.isnat(start).any():  # missing keys: pandas' rules for them
        key = ["site_code", "counter_id", "interval_start"]
        return df.drop_duplicates(key, keep="last").sort_values(key).reset_index(drop=True)
    site = df["site_code"].to_numpy()
    order = np.lexsort((start, counter, site))
    s, c, t = site[order], counter[order], start[order]
    last = np.r_[(s[1:] != s[:-1]) | (c[1:] != c[:-1]) | (t[1:] != t[:-1]), True] if len(order) else order[:0] > 0
    return df.take(order[last]).reset_index(drop=True)


def _prepare(
    frame: pd.DataFrame, sites: dict[str, SiteContext], as_of: datetime | None, now: datetime | None
) -> Prepared:
    """Sort, de-duplicate (last row wins, duplicates are flagged elsewhere) and add local-time columns."""
    ctx = next(iter(sites.values()))  # time zone and params are every site's
    codes = {site_id: code for code, site_id in enumerate(sites)}
    df = frame.assign(
        interval_start=pd.to_datetime(frame["interval_start"], utc=True),
        site_code=frame["site_id"].map(codes).astype("int64") if len(codes) > 1 else 0,
    )
    df = _sorted_unique(df)
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
    site_code = df["site_code"].to_numpy()
    local_day = df["local_date"].to_numpy("datetime64[D]").astype(np.int64)
    site_day = df["day"].to_numpy("datetime64[D]").astype(np.int64)
    pairs = np.unique(np.concatenate([site_code * DAY_SPAN + local_day, site_code * DAY_SPAN + site_day]))
    days: dict[str, list[date]] = {}
    for code, site_id in enumerate(sites):
        mine = pairs[(pairs >= code * DAY_SPAN) & (pairs < (code + 1) * DAY_SPAN)] - code * DAY_SPAN
        days[site_id] = mine.astype("datetime64[D]").tolist()
    ranges = {site_id: day_ranges(sites[site_id], days[site_id]) for site_id in sites}
    end = (
        pd.Timestamp(as_of) if as_of is not None else (df["interval_end"].max() if len(df) else pd.Timestamp.now("UTC"))
    )
    current = pd.Timestamp(now) if now is not None else pd.Timestamp.now("UTC")
    p = Prepared(sites, df, end.tz_convert("UTC"), current.tz_convert("UTC"), days, ranges)
    r, _ = p.ranges_at(site_code, df["local_date"].to_numpy())
    tod = df["tod"].to_numpy()
    end_tod = tod + minutes.to_numpy()
    grace = ctx.params.closed_grace_minutes
    valid = r[:, :, 0] >= 0
    df["open"] = np.asarray((valid & (tod[:, None] < r[:, :, 1]) & (end_tod[:, None] > r[:, :, 0])).any(axis=1))
    df["near_open"] = np.asarray(
        (valid & (tod[:, None] < r[:, :, 1] + grace) & (end_tod[:, None] > r[:, :, 0] - grace)).any(axis=1)
    )
    return p


def runs(df: pd.DataFrame, mask: pd.Series, extra_break: pd.Series | None = None) -> pd.DataFrame:
    """Consecutive rows of one counter where `mask` holds, as one row per run (id, first, last index)."""
    m = mask.to_numpy(dtype=bool)
    counter = df["counter_id"].to_numpy()
    site = df["site_code"].to_numpy() if "site_code" in df else np.zeros(len(df), dtype=np.int64)
    # datetime64 arrays: on an aware column a bare to_numpy() builds Python objects (100x slower).
    start = df["interval_start"].to_numpy("datetime64[ns]")
    end = df["interval_end"].to_numpy("datetime64[ns]")
    brk = np.ones(len(df), dtype=bool)
    if len(df) > 1:
        brk[1:] = (m[1:] != m[:-1]) | (counter[1:] != counter[:-1]) | (site[1:] != site[:-1]) | (start[1:] != end[:-1])
    if extra_break is not None:
        brk |= extra_break.to_numpy(dtype=bool)
    run_id = np.cumsum(brk)
    return pd.DataFrame({"run": run_id[m], "row": np.flatnonzero(m)})
