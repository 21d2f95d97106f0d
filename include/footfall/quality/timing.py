"""Checks on when counts arrive: while closed, missing while open, stale feed, future timestamps,
whole-hour clock shifts and duplicate or revised intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .context import Prepared, runs
from .flags import flag_frame

_REDUCE = {"sum": np.add, "max": np.maximum, "min": np.minimum}


def _by_run(
    df: pd.DataFrame, mask: pd.Series, extra_break: pd.Series | None = None, **agg: tuple[str, str]
) -> pd.DataFrame:
    """One row per run of `mask` (counter, start, end, n and the `agg` columns: sum, max or min).

    A run's rows are consecutive in `df` (one counter, back-to-back intervals), so the aggregates are
    numpy reductions over contiguous slices: no groupby, and next to nothing when nothing matches.
    """
    r = runs(df, mask, extra_break)
    rows = r["row"].to_numpy()
    run = r["run"].to_numpy()
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]]) if len(run) else np.zeros(0, dtype=np.int64)
    last = np.r_[first[1:], len(run)] - 1 if len(run) else first
    out = {
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
    if not p.ctx.hours_known:
        return flag_frame([], [], [], [], [], [])
    closed = ~df["near_open"] & (df["total"] > 0)
    hit = (
        df[closed]
        .groupby(["counter_id", "local_date"])
        .agg(start=("interval_start", "min"), end=("interval_end", "max"), total=("total", "sum"), n=("total", "size"))
    )
    hit = hit[hit["total"] >= q.closed_min_count].reset_index()
    detail = [{"intervals": int(n), "grace_minutes": q.closed_grace_minutes} for n in hit["n"]]
    return flag_frame(hit["counter_id"], hit["start"], hit["end"], hit["total"], 0.0, detail)


def expected_starts(p: Prepared, step: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Interval starts a counter of `step` minutes should report in [start, end) while the site is open."""
    t = pd.date_range(start.floor(f"{step}min"), end, freq=f"{step}min", inclusive="left")
    if len(t) == 0:
        return t
    wall = t.tz_convert(p.ctx.timezone).tz_localize(None)
    day = wall.normalize()
    tod = ((wall - day).total_seconds() / 60).to_numpy()
    days = pd.DatetimeIndex([pd.Timestamp(d) for d in p.days], dtype=f"datetime64[{day.unit}]")
    found = days.get_indexer(day)  # vectorised: no per-interval Python loop
    known = found >= 0
    pos = np.maximum(found, 0).astype(np.int64)
    r = p.ranges[pos]
    is_open = known & ((tod[:, None] < r[:, :, 1]) & (tod[:, None] + step > r[:, :, 0]) & (r[:, :, 0] >= 0)).any(axis=1)
    return t[is_open & (t >= start)]


def missing_intervals(p: Prepared) -> pd.DataFrame:
    """Open-hours intervals no row covers, between the site's first and last data (a gap is not a zero)."""
    df = p.df
    if df.empty:
        return flag_frame([], [], [], [], [], [])
    # Rows dated in the future are flagged on their own; they must not stretch the span into phantom gaps.
    span_start = df["interval_start"].min()
    span_end = min(df["interval_end"].max(), p.now + pd.Timedelta(minutes=p.ctx.params.future_tolerance_minutes))
    out = []
    for counter_id, rows in df.groupby("counter_id", sort=True):
        step = int(rows["interval_minutes"].mode().iloc[0])
        want = expected_starts(p, step, span_start, span_end)
        starts = rows["interval_start"].to_numpy()
        ends = rows["interval_end"].to_numpy()
        w = want.to_numpy()
        i = np.searchsorted(starts, w, side="right") - 1
        covered = (i >= 0) & (w < ends[np.maximum(i, 0)])
        miss = w[~covered]
        if len(miss) == 0:
            continue
        gap = np.ones(len(miss), dtype=bool)
        gap[1:] = np.diff(miss) != np.timedelta64(step, "m")
        run = np.cumsum(gap)
        m = pd.DataFrame({"start": pd.to_datetime(miss, utc=True), "run": run})
        agg = m.groupby("run").agg(start=("start", "min"), last=("start", "max"), n=("start", "size"))
        agg["end"] = agg["last"] + pd.Timedelta(minutes=step)
        agg["counter_id"] = counter_id
        out.append(agg)
    if not out:
        return flag_frame([], [], [], [], [], [])
    hit = pd.concat(out)
    detail = [{"missing_intervals": int(n)} for n in hit["n"]]
    return flag_frame(hit["counter_id"], hit["start"], hit["end"], 0.0, hit["n"].astype(float), detail)


def stale_feed(p: Prepared) -> pd.DataFrame:
    """A counter whose newest interval ended more than `stale_minutes` of opening time ago."""
    df = p.df
    q = p.ctx.params
    last = df.groupby("counter_id")["interval_end"].max()
    for counter_id in p.ctx.counter_ids:
        if counter_id not in last.index and len(df):
            last.loc[counter_id] = df["interval_start"].min()
    rows = []
    for counter_id, end in last.items():
        silent = p.open_minutes_between(end, p.as_of)
        if silent > q.stale_minutes:
            minutes = (p.as_of - end).total_seconds() / 60
            rows.append((counter_id, end, p.as_of, minutes, {"open_minutes_silent": silent}))
    if not rows:
        return flag_frame([], [], [], [], [], [])
    c, s, e, m, d = zip(*rows, strict=True)
    return flag_frame(list(c), list(s), list(e), list(m), float(q.stale_minutes), list(d))


def future_timestamps(p: Prepared) -> pd.DataFrame:
    """Intervals ending after now (plus a tolerance): a device clock ahead, or a time-zone slip."""
    df = p.df
    limit = p.now + pd.Timedelta(minutes=p.ctx.params.future_tolerance_minutes)
    hit = _by_run(df, df["interval_end"] > limit)
    detail = [{"intervals": int(n), "now": p.now.isoformat()} for n in hit["n"]]
    ahead = (hit["end"] - p.now).dt.total_seconds() / 60
    return flag_frame(hit["counter_id"], hit["start"], hit["end"], ahead, 0.0, detail)


def _slot_matrix(p: Prepared, step: int) -> tuple[pd.DataFrame, int]:
    df = p.df
    slots = 1440 // step
    slot = (df["tod"] // step).astype("int64").clip(0, slots - 1)
    m = (
        df.assign(slot=slot)
        .pivot_table(index=["counter_id", "local_date"], columns="slot", values="total", aggfunc="sum", fill_value=0)
        .reindex(columns=range(slots), fill_value=0)
    )
    return m, slots


def clock_shift(p: Prepared) -> pd.DataFrame:
    """A day whose traffic matches the usual daily profile best when moved by a whole number of hours."""
    df = p.df
    q = p.ctx.params
    if df.empty:
        return flag_frame([], [], [], [], [], [])
    step = int(df["interval_minutes"].mode().iloc[0])
    if 60 % step:
        return flag_frame([], [], [], [], [], [])
    m, slots = _slot_matrix(p, step)
    x = m.to_numpy(dtype=float)
    counters = m.index.get_level_values("counter_id").to_numpy()
    dates = m.index.get_level_values("local_date")
    weekday = dates.weekday.to_numpy()
    # Usual profile: the median of the same counter's other days (same weekday when there are enough).
    base = np.zeros_like(x)
    for counter_id in np.unique(counters):
        mine = counters == counter_id
        all_median = np.median(x[mine], axis=0)
        for wd in np.unique(weekday[mine]):
            same = mine & (weekday == wd)
            base[same] = np.median(x[same], axis=0) if same.sum() >= q.spike_min_history else all_median
    per_hour = 60 // step
    errors = {}
    for k in range(-q.clock_max_shift_hours, q.clock_max_shift_hours + 1):
        shifted = np.zeros_like(base)
        s = k * per_hour
        if s > 0:
            shifted[:, s:] = base[:, : slots - s]
        elif s < 0:
            shifted[:, :s] = base[:, -s:]
        else:
            shifted = base
        errors[k] = np.abs(x - shifted).sum(axis=1)
    err = np.stack([errors[k] for k in sorted(errors)], axis=1)
    lags = np.array(sorted(errors))
    best = lags[err.argmin(axis=1)]
    gain = 1 - err.min(axis=1) / np.where(errors[0] > 0, errors[0], np.inf)
    volume = x.sum(axis=1)
    hit = (best != 0) & (gain >= q.clock_min_gain) & (volume >= q.imbalance_min_count)
    if not hit.any():
        return flag_frame([], [], [], [], [], [])
    rows = (
        df[df["counter_id"].isin(counters[hit])]
        .groupby(["counter_id", "local_date"])
        .agg(start=("interval_start", "min"), end=("interval_end", "max"))
    )
    key = pd.MultiIndex.from_arrays([counters[hit], dates[hit]])
    span = rows.reindex(key)
    detail = [
        {"shift_hours": int(b), "error_reduction": round(float(g), 3)}
        for b, g in zip(best[hit], gain[hit], strict=True)
    ]
    return flag_frame(
        counters[hit], span["start"].to_numpy(), span["end"].to_numpy(), best[hit].astype(float), 0.0, detail
    )


def duplicate_intervals(raw: pd.DataFrame) -> pd.DataFrame:
    """The same (counter, interval) more than once; `revised` when the values differ."""
    key = ["counter_id", "interval_start"]
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
        hit["counter_id"], hit["interval_start"], hit["end"], hit["n"].astype(float), 1.0, detail, severity
    )
