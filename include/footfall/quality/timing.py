"""Checks on when counts arrive: while closed, missing while open, stale feed, future timestamps,
whole-hour clock shifts and duplicate or revised intervals."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from .context import DAY_SPAN, Prepared, counter_groups, plain_values, reduce_groups, runs
from .flags import flag_frame

_REDUCE = {"sum": np.add, "max": np.maximum, "min": np.minimum}


def _by_run(
    df: pd.DataFrame, mask: pd.Series, extra_break: pd.Series | None = None, **agg: tuple[str, str]
) -> pd.DataFrame:
    """One row per run of `mask` (site, counter, start, end, n and the `agg` columns: sum, max or min).

    A run's rows are consecutive in `df` (one counter, back-to-back intervals), so the aggregates are
    numpy reductions over contiguous slices: no groupby, and next to nothing when nothing matches.
    """
    r = runs(df, mask, extra_break)
    rows = r["row"].to_numpy()
    run = r["run"].to_numpy()
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]]) if len(run) else np.zeros(0, dtype=np.int64)
    last = np.r_[first[1:], len(run)] - 1 if len(run) else first
    out = {
        "site_id": df["site_id"].to_numpy()[rows[first]],
        "counter_id": df["counter_id"].to_numpy()[rows[first]],
        "start": df["interval_start"].array[rows[first]],
        "end": df["interval_end"].array[rows[last]],
        "n": (last - first + 1).astype(np.int64),
    }
    for name, (column, how) in agg.items():
        values = df[column].to_numpy(dtype=float)[rows]
        out[name] = _REDUCE[how].reduceat(values, first) if len(first) else np.zeros(0)
    return pd.DataFrame(out, index=pd.Index(run[first], name="run"))


def counts_while_closed(p: Prepared) -> pd.DataFrame:
    """Counts in intervals that do not meet opening hours (widened by the grace for staff)."""
    df = p.df
    q = p.ctx.params
    hours_known = np.array([c.hours_known for c in p.sites.values()])
    if not hours_known.any():
        return flag_frame([], [], [], [], [], [])
    closed = ~df["near_open"] & (df["total"] > 0)
    if not hours_known.all():
        closed &= hours_known[df["site_code"].to_numpy()]
    if not closed.any():
        return flag_frame([], [], [], [], [], [])
    hit = (
        df[closed]
        .groupby(["site_code", "counter_id", "local_date"])
        .agg(start=("interval_start", "min"), end=("interval_end", "max"), total=("total", "sum"), n=("total", "size"))
    )
    hit = hit[hit["total"] >= q.closed_min_count].reset_index()
    detail = [{"intervals": int(n), "grace_minutes": q.closed_grace_minutes} for n in hit["n"]]
    site_id = p.site_id_of(hit["site_code"])
    return flag_frame(hit["counter_id"], hit["start"], hit["end"], hit["total"], 0.0, detail, site_id=site_id)


def modal_per_group(values: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """Each group's most frequent value, the smallest on ties (as Series.mode); groups are 0..groups-1."""
    order = np.lexsort((values, group))
    g, v = group[order], values[order]
    new = np.r_[True, (g[1:] != g[:-1]) | (v[1:] != v[:-1])] if len(g) else np.zeros(0, dtype=bool)
    firsts = np.flatnonzero(new)
    counts = np.diff(np.r_[firsts, len(v)])
    ug, uv = g[firsts], v[firsts]
    best = np.lexsort((uv, -counts, ug))
    top = np.r_[True, ug[best][1:] != ug[best][:-1]] if len(best) else np.zeros(0, dtype=bool)
    out = np.zeros(groups, dtype=values.dtype)
    out[ug[best][top]] = uv[best][top]
    return out


def expected_starts(
    p: Prepared, site_code: np.ndarray, step: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Interval starts (ns since 1970) that counter k, of `step[k]` minutes at site `site_code[k]`, should
    report in [start[k], end[k]) while its site is open; returns them with their k, in (k, start) order."""
    step_ns = step.astype(np.int64) * 60_000_000_000
    first = start - start % step_ns  # the grid is aligned in UTC
    n = np.where(end > first, -((first - end) // step_ns), 0)
    k = np.repeat(np.arange(len(step)), n)
    offset = np.arange(len(k)) - np.repeat(np.cumsum(n) - n, n)
    t = first[k] + offset * step_ns[k]
    if len(t) == 0:
        return t, k
    wall = pd.DatetimeIndex(t.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(p.ctx.timezone).tz_localize(None)
    day = wall.normalize()
    tod = ((wall - day).total_seconds() / 60).to_numpy()
    r, known = p.ranges_at(site_code[k], day.to_numpy())  # vectorised: no per-interval Python loop
    minutes = step[k][:, None]
    is_open = known & ((tod[:, None] < r[:, :, 1]) & (tod[:, None] + minutes > r[:, :, 0]) & (r[:, :, 0] >= 0)).any(
        axis=1
    )
    keep = is_open & (t >= start[k])
    return t[keep], k[keep]


def missing_intervals(p: Prepared) -> pd.DataFrame:
    """Open-hours intervals no row covers, between the site's first and last data (a gap is not a zero)."""
    df = p.df
    if df.empty:
        return flag_frame([], [], [], [], [], [])
    # datetime64 arithmetic: on aware columns a bare to_numpy() builds Python objects (100x slower).
    unit = df["interval_start"].dt.unit
    starts = df["interval_start"].to_numpy("datetime64[ns]").view(np.int64)
    ends = df["interval_end"].to_numpy("datetime64[ns]").view(np.int64)
    codes = df["site_code"].to_numpy()
    group, group_first = counter_groups(df)
    step = modal_per_group(df["interval_minutes"].to_numpy().astype(np.int64), group, len(group_first))
    # Per site: from its first data to its last, but rows dated in the future are flagged on their own
    # and must not stretch the span into phantom gaps (capping the span at now would still expect
    # intervals that end after now), and an interval not over by the site's last data is not missing yet.
    site_first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    site_start = np.minimum.reduceat(starts, site_first)
    limit = (p.now + pd.Timedelta(minutes=p.ctx.params.future_tolerance_minutes)).value
    site_end = np.maximum.reduceat(np.where(ends <= limit, ends, 0), site_first)
    site_of_group = np.searchsorted(site_first, group_first, side="right") - 1
    ended_by = site_end[site_of_group] - step * 60_000_000_000 + 1  # start + step <= the site's last end
    want, k = expected_starts(p, codes[group_first], step, site_start[site_of_group], ended_by)
    # The row covering each expected start: the last row of the same counter starting at or before it.
    is_row = np.r_[np.ones(len(starts), dtype=bool), np.zeros(len(want), dtype=bool)]
    order = np.lexsort((~is_row, np.r_[starts, want], np.r_[group, k]))
    seen = np.maximum.accumulate(np.where(is_row[order], order, -1))
    cover = np.empty(len(want), dtype=np.int64)
    cover[order[~is_row[order]] - len(starts)] = seen[~is_row[order]]
    safe = np.maximum(cover, 0)
    covered = (cover >= 0) & (group[safe] == k) & (want < ends[safe])
    miss, mk = want[~covered], k[~covered]
    if len(miss) == 0:
        return flag_frame([], [], [], [], [], [])
    step_ns = step[mk] * 60_000_000_000
    gap = np.r_[True, (mk[1:] != mk[:-1]) | (np.diff(miss) != step_ns[1:])]
    first = np.flatnonzero(gap)
    last = np.r_[first[1:], len(miss)] - 1
    n = last - first + 1
    rows = group_first[mk[first]]

    def instants(ns: np.ndarray) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC").as_unit(unit)

    detail = [{"missing_intervals": int(x)} for x in n]
    return flag_frame(
        df["counter_id"].to_numpy()[rows],
        instants(miss[first]),
        instants(miss[last] + step_ns[last]),
        0.0,
        n.astype(float),
        detail,
        site_id=df["site_id"].to_numpy()[rows],
    )


def stale_feed(p: Prepared) -> pd.DataFrame:
    """A counter whose newest interval ended more than `stale_minutes` of opening time ago."""
    df = p.df
    q = p.ctx.params
    if df.empty:
        return flag_frame([], [], [], [], [], [])
    # Rows are sorted by site and counter: each counter's newest end and each site's first start are
    # reductions over contiguous slices.
    codes, rows = df["site_code"].to_numpy(), np.arange(len(df))
    _, counter_first = counter_groups(df)
    last = reduce_groups(plain_values(df["interval_end"]), rows, counter_first, "max")
    site_first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    first = dict(
        zip(codes[site_first], reduce_groups(plain_values(df["interval_start"]), rows, site_first, "min"), strict=True)
    )
    reported: dict[int, list[tuple[object, pd.Timestamp]]] = {}
    for code, counter_id, end in zip(
        codes[counter_first], df["counter_id"].to_numpy()[counter_first], last, strict=True
    ):
        reported.setdefault(code, []).append((counter_id, pd.Timestamp(end, tz="UTC")))
    sample = pd.Timedelta(minutes=5)  # open_minutes_between's step: silent <= samples * 5 minutes
    stale: list[tuple] = []
    for code, site_id in enumerate(p.sites):
        if code not in reported:
            continue
        ends = reported[code]
        known = {c for c, _ in ends}
        ends += [(c, pd.Timestamp(first[code], tz="UTC")) for c in p.sites[site_id].counter_ids if c not in known]
        for counter_id, end in ends:
            if -((end - p.as_of) // sample) * 5 <= q.stale_minutes:
                continue  # too recent to be stale, whatever the opening hours
            silent = p.open_minutes_between(site_id, end, p.as_of)
            if silent > q.stale_minutes:
                minutes = (p.as_of - end).total_seconds() / 60
                stale.append((site_id, counter_id, end, p.as_of, minutes, {"open_minutes_silent": silent}))
    if not stale:
        return flag_frame([], [], [], [], [], [])
    site, c, s, e, m, d = zip(*stale, strict=True)
    return flag_frame(list(c), list(s), list(e), list(m), float(q.stale_minutes), list(d), site_id=list(site))


def future_timestamps(p: Prepared) -> pd.DataFrame:
    """Intervals ending after now (plus a tolerance): a device clock ahead, or a time-zone slip."""
    df = p.df
    limit = p.now + pd.Timedelta(minutes=p.ctx.params.future_tolerance_minutes)
    hit = _by_run(df, df["interval_end"] > limit)
    detail = [{"intervals": int(n), "now": p.now.isoformat()} for n in hit["n"]]
    ahead = (hit["end"] - p.now).dt.total_seconds() / 60
    return flag_frame(hit["counter_id"], hit["start"], hit["end"], ahead, 0.0, detail, site_id=hit["site_id"])


def _hour_matrix(p: Prepared, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Traffic per (site, counter, local day) and wall-clock hour, and which hours were fully reported.

    A whole-hour shift moves traffic between whole hours, so hourly totals lose nothing and carry
    less counting noise than 15-minute slots; an hour with missing rows (a gap, the day still
    running) is unknown rather than zero. Only `rows` (a mask of p.df) count. Returns the matrix,
    the reported hours, each matrix row's (site, counter) group and local day, and each df row's
    matrix row (-1 outside `rows`).
    """
    df = p.df
    group, _ = counter_groups(df)
    day = df["local_date"].to_numpy("datetime64[D]").astype(np.int64)
    keys, inverse = np.unique((group * DAY_SPAN + day)[rows], return_inverse=True)
    hour = (df["tod"].to_numpy()[rows] // 60).astype(np.int64).clip(0, 23)
    x = np.zeros((len(keys), 24))
    np.add.at(x, (inverse, hour), df["total"].to_numpy(dtype=float)[rows])
    minutes = np.zeros((len(keys), 24))
    np.add.at(minutes, (inverse, hour), df["interval_minutes"].to_numpy(dtype=float)[rows])
    row_of = np.full(len(df), -1, dtype=np.int64)
    row_of[rows] = inverse
    return x, minutes >= 60, keys, row_of


def clock_shift(p: Prepared) -> pd.DataFrame:
    """A day whose traffic matches the usual daily profile best when moved by a whole number of hours.

    Compared as hourly shares of the hours the day reported, so a busy or quiet day, a gap or a day
    still running does not hide (or fake) a shift.
    """
    df = p.df
    q = p.ctx.params
    if df.empty:
        return flag_frame([], [], [], [], [], [])
    codes = df["site_code"].to_numpy()
    step = modal_per_group(df["interval_minutes"].to_numpy().astype(np.int64), codes, len(p.sites))
    whole_hours = 60 % np.maximum(step, 1) == 0  # a site counting in steps that do not divide an hour is skipped
    rows = whole_hours[codes]
    if not rows.any():
        return flag_frame([], [], [], [], [], [])
    x, seen, keys, row_of = _hour_matrix(p, rows)
    groups = keys // DAY_SPAN
    dates = pd.DatetimeIndex((keys % DAY_SPAN).astype("datetime64[D]"))
    weekday = dates.weekday.to_numpy()
    # Usual profile: the median of the same counter's other days (same weekday when there are enough).
    base = np.zeros_like(x)
    bounds = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1], True])
    for lo, hi in pairwise(bounds):
        all_median = np.median(x[lo:hi], axis=0)
        for wd in np.unique(weekday[lo:hi]):
            same = np.flatnonzero(weekday[lo:hi] == wd) + lo
            base[same] = np.median(x[same], axis=0) if len(same) >= q.spike_min_history else all_median

    def shares(a: np.ndarray) -> np.ndarray:
        """Each day's traffic as shares of its reported hours: a shift is about when, not how many."""
        a = np.where(seen, a, 0.0)
        total = a.sum(axis=1, keepdims=True)
        return np.divide(a, total, out=np.zeros_like(a), where=total > 0)

    today = shares(x)
    errors = {}
    for k in range(-q.clock_max_shift_hours, q.clock_max_shift_hours + 1):
        shifted = np.zeros_like(base)
        if k > 0:
            shifted[:, k:] = base[:, : 24 - k]
        elif k < 0:
            shifted[:, :k] = base[:, -k:]
        else:
            shifted = base
        errors[k] = np.abs(today - shares(shifted)).sum(axis=1)
    err = np.stack([errors[k] for k in sorted(errors)], axis=1)
    lags = np.array(sorted(errors))
    best = lags[err.argmin(axis=1)]
    gain = np.where(errors[0] > 0, 1 - err.min(axis=1) / np.where(errors[0] > 0, errors[0], 1), 0.0)
    volume = np.where(seen, x, 0.0).sum(axis=1)
    hit = (best != 0) & (gain >= q.clock_min_gain) & (volume >= q.imbalance_min_count)
    if not hit.any():
        return flag_frame([], [], [], [], [], [])
    hit_rows = np.flatnonzero(hit)
    on_hit = np.isin(row_of, hit_rows)
    span = (
        df[on_hit]
        .groupby(row_of[on_hit])
        .agg(
            start=("interval_start", "min"),
            end=("interval_end", "max"),
            counter_id=("counter_id", "first"),
            site_code=("site_code", "first"),
        )
        .reindex(hit_rows)
    )
    detail = [
        {"shift_hours": int(b), "error_reduction": round(float(g), 3)}
        for b, g in zip(best[hit], gain[hit], strict=True)
    ]
    return flag_frame(
        span["counter_id"].to_numpy(),
        span["start"].to_numpy(),
        span["end"].to_numpy(),
        best[hit].astype(float),
        0.0,
        detail,
        site_id=p.site_id_of(span["site_code"]),
    )


def duplicate_intervals(raw: pd.DataFrame) -> pd.DataFrame:
    """The same (site, counter, interval) more than once; `revised` when the values differ."""
    key = ["site_id", "counter_id", "interval_start"]
    dup = raw[raw.duplicated(key, keep=False)]
    if dup.empty:
        return flag_frame([], [], [], [], [], [])
    dup = dup.assign(interval_start=pd.to_datetime(dup["interval_start"], utc=True))
    values = dup[["entries", "exits", "occupancy"]].astype("float64").fillna(-1)
    dup = dup.assign(sig=values["entries"] * 1e12 + values["exits"] * 1e6 + values["occupancy"])
    g = dup.groupby(key)
    hit = g.agg(n=("sig", "size"), versions=("sig", "nunique"), minutes=("interval_minutes", "max")).reset_index()
    hit["end"] = hit["interval_start"] + pd.to_timedelta(hit["minutes"].astype("int64"), unit="min")
    revised = hit["versions"] > 1
    detail = [{"rows": int(n), "revised": bool(r)} for n, r in zip(hit["n"], revised, strict=True)]
    severity = np.where(revised, "medium", "low")
    return flag_frame(
        hit["counter_id"],
        hit["interval_start"],
        hit["end"],
        hit["n"].astype(float),
        1.0,
        detail,
        severity,
        site_id=hit["site_id"],
    )
