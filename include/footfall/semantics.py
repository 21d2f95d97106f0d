"""Counter semantics: cumulative totals to interval counts, occupancy snapshots, site totals.

Delta rules for a cumulative counter (readings v[i] at instants t[i], one counter, time order):

1. Scheduled reset: when the daily reset (a local wall-clock time, e.g. 00:00 or 04:00) falls in
   (t[i-1], t[i]], the counter restarted from 0, so delta = v[i]. Traffic between t[i-1] and the reset
   is unknowable and counted as 0 (the reading at or after the reset is the lower bound).
2. No drop: v[i] >= v[i-1] gives delta = v[i] - v[i-1].
3. Rollover: a drop while v[i-1] is in the top tenth of the register (register_max set) is a wrap:
   delta = register_max - v[i-1] + v[i] (register_max is the modulus, the value that reads as 0 again).
4. Unexpected reset (reboot, manual reset): any other drop gives delta = v[i] (counted since the reset).
   A reset is therefore never negative traffic.
5. The first reading of a counter has no predecessor and yields no interval; a missing reading yields a
   missing delta and the next reading is compared with the last known one.
The delta lands in the interval that starts at the previous reading (floored to the native interval).

Occupancy snapshots are kept as the last value in each 5-minute interval. Site totals are raw sums of
entries and exits over all counters, never a sum of per-door values clamped at zero.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
ROLLOVER_ZONE = 0.9  # a drop from above this fraction of register_max is a wrap, not a reset


def reset_epochs(instants: pd.Series, zone: ZoneInfo, reset_at: time) -> np.ndarray:
    """A number that steps by one at every daily reset (local wall clock), so a change means a reset between."""
    local = instants.dt.tz_convert(zone).dt.tz_localize(None)
    shifted = local - pd.Timedelta(hours=reset_at.hour, minutes=reset_at.minute)
    return shifted.dt.floor("D").to_numpy().astype("datetime64[D]").astype("int64")


def cumulative_deltas(
    values: np.ndarray,
    scheduled_reset: np.ndarray | None = None,
    register_max: int | None = None,
    first: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval counts from running totals (rules in the module docstring), and the rule applied per reading.

    `scheduled_reset[i]` says a daily reset fell between reading i-1 and i. `first[i]` marks the first
    reading of a counter when `values` holds several counters one after the other (so all are done at
    once); without it the values are one counter's. Kinds: 'first', 'missing', 'count',
    'scheduled_reset', 'rollover', 'reset'.
    """
    deltas, (known, has_prev, sched, rollover, reset) = _deltas(values, scheduled_reset, register_max, first)
    kinds = np.empty(len(deltas), dtype=object)
    kinds[:] = "count"
    kinds[sched] = "scheduled_reset"
    kinds[rollover] = "rollover"
    kinds[reset] = "reset"
    kinds[~known] = "missing"
    kinds[known & ~has_prev] = "first"
    return deltas, kinds


def _deltas(
    values: np.ndarray, scheduled_reset: np.ndarray | None, register_max: int | None, first: np.ndarray | None
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """cumulative_deltas without the kinds: the deltas, and the masks the kinds are made of."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        none = np.zeros(0, dtype=bool)
        return np.full(0, np.nan), (none, none, none, none, none)
    # The previous *known* value for each reading (a missing reading does not break the chain).
    known = ~np.isnan(values)
    positions = np.arange(n)
    last_known = np.maximum.accumulate(np.where(known, positions, -1))
    prev_idx = np.concatenate(([-1], last_known[:-1]))
    if first is not None:  # a counter's chain starts at its first reading
        counter_start = np.maximum.accumulate(np.where(first, positions, 0))
        prev_idx = np.where(prev_idx >= counter_start, prev_idx, -1)
    has_prev = prev_idx >= 0
    prev = np.where(has_prev, values[np.maximum(prev_idx, 0)], np.nan)
    sched = np.zeros(n, dtype=bool) if scheduled_reset is None else np.asarray(scheduled_reset, dtype=bool)
    if scheduled_reset is not None:
        # A reset between the last known reading and this one counts even across missing readings.
        cum = np.cumsum(sched)
        sched = has_prev & (cum != np.where(has_prev, cum[np.maximum(prev_idx, 0)], cum))
    diff = values - prev
    drop = diff < 0
    rollover = drop & ~sched & (register_max is not None) & (prev >= ROLLOVER_ZONE * (register_max or 0))
    reset = drop & ~sched & ~rollover
    deltas = np.where(sched | reset, values, diff)
    if register_max is not None:
        deltas = np.where(rollover, register_max - prev + values, deltas)
    deltas = np.where(known & has_prev, deltas, np.nan)
    return deltas, (known, has_prev, sched, rollover, reset)


# --- on columns: many counters and payloads at once, no per-counter Python loop ---------------------

INT64_MAX = np.iinfo(np.int64).max


def sort_key(instants: np.ndarray) -> np.ndarray:
    """Instants (datetime64[us]) as integers that sort a missing instant last, as pandas sorts them."""
    return np.where(np.isnat(instants), INT64_MAX, instants.view(np.int64))


def order_by(counter: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Stable order by counter code, then key: one sort of a combined integer when it fits in 63 bits."""
    low, high = int(key.min()), int(key.max())
    span = high - low + 1
    if int(counter.min()) >= 0 and (int(counter.max()) + 1) * span < 2**62:
        return np.argsort(counter.astype(np.int64) * span + (key - low), kind="stable")
    return np.lexsort((key, counter))


def floor_instants(instants: np.ndarray, seconds: int) -> np.ndarray:
    """Instants (datetime64[us], UTC) floored to a multiple of `seconds` since the epoch."""
    step = seconds * 1_000_000
    floored = (instants.view(np.int64) // step) * step
    return np.where(np.isnat(instants), instants, floored.view("datetime64[us]"))


def run_starts(*sorted_keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys begins, the keys being sorted together already."""
    n = len(sorted_keys[0])
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for key in sorted_keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def sum_per_run(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of each run, missing when the run has no value (pandas' sum with min_count=1)."""
    known = ~np.isnan(values)
    total = np.add.reduceat(np.where(known, values, 0.0), starts)
    return np.where(np.add.reduceat(known.astype(np.int64), starts) > 0, total, np.nan)


def last_per_run(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Last known value of each run (pandas' groupby last, which skips missing values)."""
    position = np.where(np.isnan(values), -1, np.arange(len(values)))
    last = np.maximum.reduceat(position, starts)
    return np.where(last >= 0, values[np.maximum(last, 0)], np.nan)


def utc_offsets_us(instants: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """The zone's UTC offset at each instant (datetime64[us], UTC) in microseconds.

    Asked of the zone once per distinct UTC day (at both ends): readings are many, days few. A day whose
    ends differ holds a clock change, and its instants are asked one by one.
    """
    if zone.key in ("UTC", "Etc/UTC"):
        return np.zeros(len(instants), dtype=np.int64)
    us = instants.view(np.int64)
    known = ~np.isnat(instants)
    days = np.where(known, us // 86_400_000_000, 0)
    distinct, inverse = np.unique(days, return_inverse=True)

    def offset(microseconds: int) -> int:
        local = (_EPOCH + timedelta(microseconds=microseconds)).astimezone(zone)
        return local.utcoffset() // _US  # type: ignore[operator]

    start = np.array([offset(d * 86_400_000_000) for d in distinct.tolist()], dtype=np.int64)
    end = np.array([offset((d + 1) * 86_400_000_000) for d in distinct.tolist()], dtype=np.int64)
    out = start[inverse]
    for i in np.flatnonzero((start != end)[inverse] & known):
        out[i] = offset(int(us[i]))
    return out


def reset_days(instants: np.ndarray, zone: ZoneInfo, reset_at: time) -> np.ndarray:
    """reset_epochs on datetime64[us] UTC values, by integer arithmetic (the zone asked per day)."""
    local = instants.view(np.int64) + utc_offsets_us(instants, zone)
    shifted = local - (reset_at.hour * 60 + reset_at.minute) * 60_000_000
    return np.where(np.isnat(instants), np.iinfo(np.int64).min, shifted // 86_400_000_000)


def cumulative_columns(
    counter: np.ndarray,
    instants: np.ndarray,
    payload: np.ndarray,
    measures: dict[str, np.ndarray],
    ambiguous: np.ndarray,
    minutes: np.ndarray,
    *,
    zone: ZoneInfo,
    native_minutes: float,
    reset_at: time | None,
    register_max: int | None,
) -> dict[str, np.ndarray]:
    """Readings of running totals to interval rows (rules in the module docstring), all counters at once.

    `counter` holds codes that sort as the counter ids do; `instants` are reading instants
    (datetime64[us], UTC); a reading repeated by a later payload keeps the later payload's value. Rows come
    out one per (counter, interval start), sorted so: summed deltas, the latest payload, whether any
    reading was ambiguous, and the first reading's interval length.
    """
    key = sort_key(instants)
    order = np.lexsort((payload, key, counter))
    c, k = counter[order], key[order]
    last_of_instant = np.ones(len(order), dtype=bool)
    last_of_instant[:-1] = (c[1:] != c[:-1]) | (k[1:] != k[:-1])
    order, c = order[last_of_instant], c[last_of_instant]
    t = instants[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = c[1:] != c[:-1]
    sched = None
    if reset_at is not None:
        epochs = reset_days(t, zone, reset_at)
        sched = np.zeros(len(order), dtype=bool)
        sched[1:] = epochs[1:] != epochs[:-1]
        sched &= ~first
    later = np.flatnonzero(~first)  # each reading after a counter's first closes the interval before it
    starts = floor_instants(t[later - 1], int(native_minutes * 60))
    rows = order[later]
    out = {"counter": c[later], "start": starts, "payload": payload[rows], "ambiguous": ambiguous[rows]}
    out["minutes"] = minutes[rows]
    for name, values in measures.items():
        out[name] = _deltas(values[order], sched, register_max, first)[0][later]
    known = ~np.isnat(starts)  # groupby leaves out a missing instant
    out = {name: col[known] for name, col in out.items()}
    if not len(out["start"]):
        return out
    bounds = run_starts(out["counter"], out["start"])  # already in (counter, interval) order
    if len(bounds) == len(out["start"]):  # one reading per interval: nothing to add up
        return out
    grouped = {
        "counter": out["counter"][bounds],
        "start": out["start"][bounds],
        "payload": np.maximum.reduceat(out["payload"], bounds),
        "ambiguous": np.logical_or.reduceat(out["ambiguous"], bounds),
        "minutes": out["minutes"][bounds],
    }
    for name in measures:
        grouped[name] = sum_per_run(out[name], bounds)
    return grouped


def site_totals(rows: pd.DataFrame) -> pd.DataFrame:
    """Per interval: raw entries and exits summed over counters, and the (unclamped) net."""
    totals = rows.groupby("interval_start")[["entries", "exits"]].sum(min_count=1)
    totals["net"] = totals["entries"] - totals["exits"]
    return totals.reset_index()
