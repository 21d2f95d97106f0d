"""A site's readings to count_interval rows: counter semantics, the 5-minute base, later payload wins.

Cumulative totals become interval counts (footfall.semantics), occupancy snapshots the last value per
5 minutes, finer-than-5-minute data is summed to 5 minutes, a swapped counter's directions are
exchanged, and a later payload replaces an earlier one's interval. All of it works on typed columns
(`Rows`); the frame is built once at the end (footfall.normalize.frame).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any

import numpy as np
import pandas as pd

from footfall import semantics
from footfall.config import Site

from .batch import read_payloads
from .common import BASE_MINUTES, Payload
from .frame import Rows, _frame, empty_counts
from .interpretation import Columns


def normalize_counts(site: Site, payloads: Iterable[Payload]) -> pd.DataFrame:
    """Rows of count_interval for these payloads (later payloads win on a repeated interval).

    Finer-than-5-minute data is summed to 5 minutes; coarser data keeps its native length; cumulative
    totals become interval counts and occupancy snapshots the last value per 5 minutes (footfall.semantics).
    Columns are COLUMNS plus `ambiguous_time` (local time in the repeated autumn hour, order unknown).
    All payloads are read first and interpreted as one batch, so a payload costs little more than its
    decoding; the frame is built once at the end.
    """
    options = site.options()
    return _counts(site, options, read_payloads(site, list(payloads), options))


def _counts(site: Site, options: dict[str, Any], cols: Columns) -> pd.DataFrame:
    """Readings of a site to typed count_interval rows (semantics, 5-minute base, later payload wins)."""
    if not cols.frames:
        return empty_counts()
    preset = site.preset
    by_ref = {c.ref: c for c in site.counters}
    id_of_ref = [by_ref[r].id if r in by_ref else None for r in cols.refs]
    ids = sorted({cid for cid in id_of_ref if cid is not None})
    rank: dict[str | None, int] = {cid: i for i, cid in enumerate(ids)}
    counter_of_ref = np.array([rank.get(cid, -1) for cid in id_of_ref] + [-1], dtype=np.int64)
    measures = dict(cols.measures)
    if "entries" in measures and "exits" in measures:
        flips = np.array([by_ref[r].direction == "swapped" if r in by_ref else False for r in cols.refs] + [False])
        if flips.any():
            swapped = flips[cols.ref]
            entries, exits = measures["entries"], measures["exits"]
            measures["entries"] = np.where(swapped, exits, entries)
            measures["exits"] = np.where(swapped, entries, exits)
    rows = Rows(counter_of_ref[cols.ref], cols.start, cols.payload, cols.ambiguous, cols.minutes, measures)
    if preset.measure == "cumulative":
        reset = options.get("reset_time")
        out = semantics.cumulative_columns(
            rows.counter, rows.start, rows.payload, {m: measures[m] for m in ("entries", "exits") if m in measures},
            rows.ambiguous, rows.minutes,
            zone=site.zone,
            native_minutes=float(rows.minutes[0]),
            reset_at=_as_time(reset) if reset not in (None, "") else None,
            register_max=int(options["register_max"]) if options.get("register_max") else None,
        )  # fmt: skip
        rows = Rows(
            out.pop("counter"), out.pop("start"), out.pop("payload"), out.pop("ambiguous"), out.pop("minutes"), out
        )
    elif preset.measure == "occupancy":
        rows = _snapshots(rows)
    fine = rows.minutes < BASE_MINUTES
    if fine.any():
        rows = _sum_to_base(rows, fine)
    # A later payload (a resend, a re-read after a revision) replaces an earlier one's interval; the
    # cumulative and occupancy rules already left one row per interval, from the latest payload.
    grouped = preset.measure in ("cumulative", "occupancy") and not fine.any()
    if cols.frames > 1 and not grouped:
        rows = rows.take(_latest_payload(rows))
    key = semantics.sort_key(rows.start)
    if len(key) > 1 and not _in_order(rows.counter, key):
        rows = rows.take(semantics.order_by(rows.counter, key))
    return _frame(site.id, ids, rows)


def _as_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):  # YAML reads 04:00 as sexagesimal minutes
        return time(value // 60, value % 60)
    hh, _, mm = str(value).partition(":")
    return time(int(hh), int(mm or 0))


def _in_order(counter: np.ndarray, key: np.ndarray) -> bool:
    """Already sorted by counter then instant (one device's export usually is): no sort needed."""
    same = counter[1:] == counter[:-1]
    return bool(((counter[1:] > counter[:-1]) | (same & (key[1:] >= key[:-1]))).all())


def _snapshots(rows: Rows) -> Rows:
    """Occupancy snapshots: the last known value in each 5-minute interval (later payloads last)."""
    floored = semantics.floor_instants(rows.start, BASE_MINUTES * 60)
    known = np.flatnonzero(~np.isnat(floored))
    order = known[np.lexsort((rows.payload[known], semantics.sort_key(floored[known]), rows.counter[known]))]
    bounds = semantics.run_starts(rows.counter[order], floored[order])
    last = order[np.append(bounds[1:], len(order)) - 1]
    measures = {m: semantics.last_per_run(v[order], bounds) for m, v in rows.measures.items()}
    minutes = np.full(len(bounds), float(BASE_MINUTES))
    return Rows(rows.counter[last], floored[last], rows.payload[last], rows.ambiguous[last], minutes, measures)


def _sum_to_base(rows: Rows, fine: np.ndarray) -> Rows:
    """Finer-than-5-minute readings summed to 5 minutes (occupancy: the last), after the coarser ones."""
    idx = np.flatnonzero(fine)
    floored = semantics.floor_instants(rows.start[idx], BASE_MINUTES * 60)
    known = ~np.isnat(floored)
    idx, floored = idx[known], floored[known]
    sub = np.lexsort((semantics.sort_key(floored), rows.counter[idx]))
    order, floored = idx[sub], floored[sub]
    coarse = rows.take(np.flatnonzero(~fine))
    if not len(order):
        return coarse
    bounds = semantics.run_starts(rows.counter[order], floored)
    summed = {}
    for m, v in rows.measures.items():
        reduce = semantics.last_per_run if m == "occupancy" else semantics.sum_per_run
        summed[m] = np.concatenate([coarse.measures[m], reduce(v[order], bounds)])
    return Rows(
        np.concatenate([coarse.counter, rows.counter[order][bounds]]),
        np.concatenate([coarse.start, floored[bounds]]),
        np.concatenate([coarse.payload, np.maximum.reduceat(rows.payload[order], bounds)]),
        np.concatenate([coarse.ambiguous, np.logical_or.reduceat(rows.ambiguous[order], bounds)]),
        np.concatenate([coarse.minutes, np.full(len(bounds), float(BASE_MINUTES))]),
        summed,
    )


def _latest_payload(rows: Rows) -> np.ndarray:
    """Rows whose payload is the latest for their (counter, interval); a missing instant is left out."""
    order = np.lexsort((semantics.sort_key(rows.start), rows.counter))
    bounds = semantics.run_starts(rows.counter[order], rows.start[order])
    keep = np.zeros(len(rows.counter), dtype=bool)
    if len(bounds):
        latest = np.maximum.reduceat(rows.payload[order], bounds)
        sizes = np.diff(np.append(bounds, len(order)))
        keep[order] = rows.payload[order] == np.repeat(latest, sizes)
    return keep & ~np.isnat(rows.start)
