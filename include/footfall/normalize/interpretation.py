"""Raw columns of many payloads interpreted at once: device codes, UTC instants, counts as numbers.

The preset's meaning is applied here with numpy over the whole batch (one time parse, one count
conversion, one localisation), so a body costs little more than decoding it. Per source, times are
local, local with an offset or offset/DST fields, UTC, epoch, or the time the body was received; long
formats (a record per direction) become one reading per instant. Errors name the record and field.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from footfall import semantics
from footfall.config import Paths, Site

from .common import MEASURES, _digit_integers, _per_distinct
from .read import Raw
from .records import MISSING, _all_text, _alternatives, _describe, _Missing
from .times import _EPOCH_US, _localize, _times

_OFFSET_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"

_TRUE = {"1", "true", "yes", "on", "y"}


def _count_value(value: Any) -> float | None:
    """A count as a number (None when absent); booleans and non-numeric text are shape errors."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"count {value!r} is a boolean")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"count {value!r} is not a number") from None
    raise ValueError(f"count {value!r} is not a number")


_FAST_TYPES = {int, float, type(None), str}


def _digit_strings(values: list[str]) -> np.ndarray | None:
    """Counts written as plain ASCII digits (a CSV's cells, a vendor's quoted numbers) as floats; None
    when any value is not 1-15 digits (exact in a float), so the general conversion decides."""
    whole = _digit_integers(values, 15)
    return None if whole is None else whole.astype(float)


def count_column(values: list[Any], paths: Paths) -> np.ndarray:
    """Counts as floats (NaN when absent); the first bad value raises naming its record and field."""
    if values and type(values[0]) is str:  # digits only (a CSV, quoted numbers): no scan of the types
        digits = _digit_strings(values)
        if digits is not None:
            return digits
    types = set(map(type, values))
    if _Missing in types:
        i = next(i for i, v in enumerate(values) if v is MISSING)
        raise ValueError(f"record {i}: missing {_describe(paths)}")
    if types == {int}:
        try:
            return np.array(values, dtype=np.int64).astype(float)
        except OverflowError:
            pass
    if types <= _FAST_TYPES:
        try:
            return np.array(values, dtype=float)
        except (ValueError, TypeError):
            pass
    out = np.empty(len(values))
    name = _alternatives(paths)[0]
    for i, v in enumerate(values):
        try:
            number = _count_value(v)
        except ValueError as exc:
            raise ValueError(f"record {i}: {name}: {exc}") from None
        out[i] = np.nan if number is None else number
    return out


@dataclass
class Columns:
    """Readings of many payloads as columns: device (codes into `refs`), UTC start, measures, interval."""

    refs: list[str]
    ref: np.ndarray
    start: np.ndarray  # datetime64[us], UTC
    ambiguous: np.ndarray
    measures: dict[str, np.ndarray]
    minutes: np.ndarray
    payload: np.ndarray
    frames: int  # payloads that gave at least one reading

    def take(self, keep: np.ndarray) -> Columns:
        return Columns(
            self.refs, self.ref[keep], self.start[keep], self.ambiguous[keep],
            {m: v[keep] for m, v in self.measures.items()}, self.minutes[keep], self.payload[keep], self.frames,
        )  # fmt: skip


def _concat(lists: Iterable[list[Any]]) -> list[Any]:
    """Lists one after the other (the list itself when there is one: a single body is not copied)."""
    parts = list(lists)
    return parts[0] if len(parts) == 1 else list(itertools.chain.from_iterable(parts))


def _ref_codes(raws: list[Raw]) -> tuple[list[str], np.ndarray]:
    """Device ids as codes, in order of first appearance."""
    if all(not isinstance(r.refs, list) for r in raws):
        index: dict[Any, int] = {}
        codes = [index.setdefault(r.refs, len(index)) for r in raws]
        return list(index), np.repeat(np.array(codes, dtype=np.int64), [r.n for r in raws])
    column = _concat(r.refs if isinstance(r.refs, list) else [r.refs] * r.n for r in raws)
    if column and column[-1] == column[0] and column.count(column[0]) == len(column):  # one device, usually
        return [column[0]], np.zeros(len(column), dtype=np.int64)
    if len(column) < 5000:  # a dictionary beats pandas' set-up on a few hundred ids
        index = {}
        small = [index.setdefault(r, len(index)) for r in column]
        return list(index), np.array(small, dtype=np.int64)
    factor_codes, uniques = pd.factorize(np.fromiter(column, dtype=object, count=len(column)))
    return list(uniques), factor_codes.astype(np.int64)


def _instants(
    site: Site, options: dict[str, Any], raws: list[Raw], sizes: list[int], keys: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Vendor times to UTC instants (datetime64[us]), and a flag for local times the autumn change made
    ambiguous.

    Per source: local without offset, local with offset or offset/DST fields, UTC, epoch, or the time the
    body was received. Site option `utc_clock_with_local_offset: true` repairs the Hikvision defect (a UTC
    clock with the local offset appended: the offset is dropped and the clock read as UTC).
    """
    spec = site.preset.time
    n = sum(sizes)
    no_flag = np.zeros(n, dtype=bool)
    if spec.format == "received":
        received = _concat(r.received_us if isinstance(r.received_us, list) else [r.received_us] * r.n for r in raws)
        return np.array(received, dtype=np.int64).view("datetime64[us]"), no_flag
    values = _concat(r.times or [] for r in raws)
    epoch = None
    if spec.epoch_field:
        raw = _concat(r.epoch or [] for r in raws)
        if (_all_text(raw) and all(raw)) or (MISSING not in raw and None not in raw and "" not in raw):
            return _times(raw, "epoch_s", True, sizes)[0], no_flag
        present = np.array([v is not MISSING and v not in (None, "") for v in raw], dtype=bool)
        if present.any():
            filled = [v if p else 0 for v, p in zip(raw, present, strict=True)]
            epoch = (present, _times(filled, "epoch_s", True, sizes)[0])
    if spec.format in _EPOCH_US or spec.zone == "utc":
        parsed, flags = _times(values, spec.format, True, sizes)[0], no_flag
    elif spec.zone == "offset":
        if options.get("utc_clock_with_local_offset"):
            values = pd.Series(values, dtype=object).astype(str).str.replace(_OFFSET_SUFFIX, "", regex=True).tolist()
        parsed, flags = _times(values, spec.format, True, sizes)[0], no_flag
    else:
        naive, aware = _times(values, spec.format, False, sizes)
        if aware:
            raise ValueError(f"times carry an offset ({values[0]!r}) but the preset says local time")
        offsets = _concat(r.offsets or [] for r in raws) if spec.utc_offset_hours else None
        if offsets is not None and not all(v is MISSING or v is None for v in offsets):
            hours = pd.to_numeric(pd.Series(offsets, dtype=object).replace({MISSING: None}), errors="raise")
            if spec.dst_flag:
                dst = _per_distinct(_concat(r.dst or [] for r in raws), lambda v: str(v).strip().lower() in _TRUE)
                hours = hours + dst.astype(float)
            if hours.isna().any():
                raise ValueError(f"record {int(hours.isna().to_numpy().argmax())}: missing {spec.utc_offset_hours!r}")
            shifted = pd.Series(naive) - pd.to_timedelta(hours.to_numpy(), unit="h")
            parsed, flags = shifted.dt.as_unit("us").to_numpy(), no_flag
        else:
            parsed, flags = _localize(naive, site, keys)
    if epoch is not None:
        present, from_epoch = epoch
        parsed = np.where(present, from_epoch, parsed)
        flags = flags & ~present
    return parsed, flags


def interpret(site: Site, options: dict[str, Any], raws: list[Raw]) -> Columns:
    """Raw columns of some payloads to readings, all at once (errors name a record of a one-payload batch)."""
    preset = site.preset
    sizes = [r.n for r in raws]
    n = sum(sizes)
    per_payload = _concat([1] * r.n if r.payload_ids is not None else [r.n] for r in raws)
    pidx = np.repeat(np.arange(len(per_payload)), per_payload)  # position of each record's payload
    refs, ref = _ref_codes(raws)
    if n:
        start, ambiguous = _instants(site, options, raws, per_payload, [pidx, ref])
    else:
        start, ambiguous = np.array([], dtype="datetime64[us]"), np.zeros(0, dtype=bool)
    fields = preset.fields
    measures: dict[str, np.ndarray] = {}
    if fields.label is not None and fields.value is not None:
        values = count_column(_concat(r.counts["value"] for r in raws), fields.value)
        labels = _concat(r.labels or [] for r in raws)
        measure = _per_distinct(labels, lambda v: preset.labels.get(str(v)))
        if n and (measure == None).any():  # noqa: E711 - elementwise on an object array
            i = int(np.flatnonzero(measure == None)[0])  # noqa: E711
            raise ValueError(f"record {i}: label {labels[i]!r} is not one of {', '.join(map(repr, preset.labels))}")
        for m in dict.fromkeys(measure.tolist()):
            measures[m] = np.where(measure == m, values, np.nan)
    else:
        for m in MEASURES:
            paths = getattr(fields, m)
            if paths is not None:
                measures[m] = count_column(_concat(r.counts[m] for r in raws), paths)
    for r in raws:
        if isinstance(r.minutes, Exception):
            raise r.minutes
    minutes = np.repeat(np.array([r.minutes for r in raws], dtype=float), sizes)
    payload = np.concatenate(
        [np.array(r.payload_ids, dtype=np.int64) if r.payload_ids else np.full(r.n, r.payload_id) for r in raws]
        or [np.zeros(0, dtype=np.int64)]
    ).astype(np.int64)
    frames = len(per_payload) - per_payload.count(0)
    cols = Columns(refs, ref, start, ambiguous, measures, minutes, payload, frames)
    if fields.label is not None:
        cols = _one_row_per_instant(cols, pidx)
    return cols


def _one_row_per_instant(cols: Columns, pidx: np.ndarray) -> Columns:
    """Long format (a record per direction) to one reading per payload, device and instant, in order of
    first appearance; a missing instant is left out."""
    known = np.flatnonzero(~np.isnat(cols.start))
    key = semantics.sort_key(cols.start[known])
    order = known[np.lexsort((key, cols.ref[known], pidx[known]))]
    bounds = semantics.run_starts(pidx[order], cols.ref[order], cols.start[order])
    if not len(bounds):
        return cols.take(known)
    first = np.minimum.reduceat(order, bounds)
    rank = np.argsort(first, kind="stable")
    measures = {m: semantics.sum_per_run(v[order], bounds)[rank] for m, v in cols.measures.items()}
    ambiguous = np.logical_or.reduceat(cols.ambiguous[order], bounds)[rank]
    rows = first[rank]
    frames = len(np.unique(pidx[rows]))
    return Columns(
        cols.refs, cols.ref[rows], cols.start[rows], ambiguous, measures, cols.minutes[rows], cols.payload[rows], frames
    )
