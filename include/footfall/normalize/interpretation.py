"""Raw columns of many payloads interpreted at once: device codes, UTC instants, counts as numbers.

The preset's meaning is applied here with numpy over the whole batch (one time parse, one count
conversion, one localisation), so a body costs little more than decoding it. Per source, times are
local, local with an offset or offset/DST fields, UTC, epoch, or the time the body was received; long
formats (a record per direction) become one reading per instant. Errors name the record and field.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from footfall import semantics
from footfall.config import Paths, Site
from footfall.documents import MISSING, Missing, all_text, alternatives, describe_paths

from .common import MEASURES, digit_integers, per_distinct
from .read import Raw
from .times import EPOCH_US, localize, parse_times

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
    whole = digit_integers(values, 15)
    return None if whole is None else whole.astype(float)


def count_column(values: list[Any], paths: Paths, where: Callable[[int], str] | None = None) -> np.ndarray:
    """Counts as floats (NaN when absent); the first bad value raises naming its place and field.

    `where(i)` names value i's place in its body (`CSV line N`, `record N`); `record i` without it."""
    place = where or (lambda i: f"record {i}")
    if values and type(values[0]) is str:  # digits only (a CSV, quoted numbers): no scan of the types
        digits = _digit_strings(values)
        if digits is not None:
            return digits
    types = set(map(type, values))
    if Missing in types:
        i = next(i for i, v in enumerate(values) if v is MISSING)
        raise ValueError(f"{place(i)}: missing {describe_paths(paths)}")
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
    name = alternatives(paths)[0]
    for i, v in enumerate(values):
        try:
            number = _count_value(v)
        except ValueError as exc:
            raise ValueError(f"{place(i)}: {name}: {exc}") from None
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
    skipped: int = 0  # records left out: no count at all, or an exact repeat (the run log and sync_run say how many)

    def take(self, keep: np.ndarray) -> Columns:
        return Columns(
            self.refs, self.ref[keep], self.start[keep], self.ambiguous[keep],
            {m: v[keep] for m, v in self.measures.items()}, self.minutes[keep], self.payload[keep], self.frames,
            self.skipped,
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
    site: Site, options: dict[str, Any], raws: list[Raw], sizes: list[int], keys: list[np.ndarray], ends: bool = False
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
    values = _concat((r.ends if ends else r.times) or [] for r in raws)
    epoch = None
    if spec.epoch_field and not ends:  # the epoch field gives the start only
        raw = _concat(r.epoch or [] for r in raws)
        if (all_text(raw) and all(raw)) or (MISSING not in raw and None not in raw and "" not in raw):
            return parse_times(raw, "epoch_s", True, sizes)[0], no_flag
        present = np.array([v is not MISSING and v not in (None, "") for v in raw], dtype=bool)
        if present.any():
            filled = [v if p else 0 for v, p in zip(raw, present, strict=True)]
            epoch = (present, parse_times(filled, "epoch_s", True, sizes)[0])
    if spec.format in EPOCH_US or spec.zone == "utc":
        parsed, flags = parse_times(values, spec.format, True, sizes)[0], no_flag
    elif spec.zone == "offset":
        if options.get("utc_clock_with_local_offset"):
            values = pd.Series(values, dtype=object).astype(str).str.replace(_OFFSET_SUFFIX, "", regex=True).tolist()
        parsed, flags = parse_times(values, spec.format, True, sizes)[0], no_flag
    else:
        naive, aware = parse_times(values, spec.format, False, sizes)
        if aware:
            raise ValueError(f"times carry an offset ({values[0]!r}) but the preset says local time")
        offsets = _concat(r.offsets or [] for r in raws) if spec.utc_offset_hours else None
        if offsets is not None and not all(v is MISSING or v is None for v in offsets):
            hours = pd.to_numeric(pd.Series(offsets, dtype=object).replace({MISSING: None}), errors="raise")
            if spec.dst_flag:
                dst = per_distinct(_concat(r.dst or [] for r in raws), lambda v: str(v).strip().lower() in _TRUE)
                hours = hours + dst.astype(float)
            if hours.isna().any():
                raise ValueError(f"record {int(hours.isna().to_numpy().argmax())}: missing {spec.utc_offset_hours!r}")
            shifted = pd.Series(naive) - pd.to_timedelta(hours.to_numpy(), unit="h")
            parsed, flags = shifted.dt.as_unit("us").to_numpy(), no_flag
        else:
            parsed, flags = localize(naive, site, keys)
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
        try:
            start, ambiguous = _instants(site, options, raws, per_payload, [pidx, ref])
        except ValueError as exc:
            raise _placed_time_error(site, raws, exc) from None
    else:
        start, ambiguous = np.array([], dtype="datetime64[us]"), np.zeros(0, dtype=bool)
    fields = preset.fields
    # Each record's length right after its start: the start column is still in the cache.
    if fields.interval_end is not None and preset.interval is None:
        minutes = _record_minutes(site, options, raws, per_payload, [pidx, ref], start) if n else np.zeros(0)
    else:
        for r in raws:
            if isinstance(r.minutes, Exception):
                raise r.minutes
        minutes = np.repeat(np.array([r.minutes for r in raws], dtype=float), sizes)
        if fields.interval_end is not None and n:  # each record's own end wins; the preset's length fills in
            own = _record_minutes(site, options, raws, per_payload, [pidx, ref], start)
            minutes = np.where(np.isnan(own), minutes, own)
    measures: dict[str, np.ndarray] = {}
    label_codes: np.ndarray | None = None
    if fields.label is not None and fields.value is not None:
        values = count_column(_concat(r.counts["value"] for r in raws), fields.value, lambda g: _where(raws, g))
        labels = _concat(r.labels or [] for r in raws)
        measure = per_distinct(labels, lambda v: preset.labels.get(str(v)))
        if n and (measure == None).any():  # noqa: E711 - elementwise on an object array
            i = int(np.flatnonzero(measure == None)[0])  # noqa: E711
            raise ValueError(f"record {i}: label {labels[i]!r} is not one of {', '.join(map(repr, preset.labels))}")
        _refuse_bad_counts(raws, "value", alternatives(fields.value)[0], values)
        for m in dict.fromkeys(measure.tolist()):
            measures[m] = np.where(measure == m, values, np.nan)
        label_codes = pd.factorize(measure)[0].astype(np.int64) if n else np.zeros(0, dtype=np.int64)
    else:
        for m in MEASURES:
            paths = getattr(fields, m)
            if paths is not None:
                measures[m] = count_column(_concat(r.counts[m] for r in raws), paths, lambda g: _where(raws, g))
                _refuse_bad_counts(raws, m, m, measures[m])
    payload = np.concatenate(
        [np.array(r.payload_ids, dtype=np.int64) if r.payload_ids else np.full(r.n, r.payload_id) for r in raws]
        or [np.zeros(0, dtype=np.int64)]
    ).astype(np.int64)
    frames = len(per_payload) - per_payload.count(0)
    cols = Columns(refs, ref, start, ambiguous, measures, minutes, payload, frames, sum(r.skipped for r in raws))
    repeats = _exact_repeats(raws, pidx, cols, label_codes)
    if repeats is not None:  # before any sum: a repeated record must not count twice
        cols = cols.take(~repeats)
        cols.skipped += int(repeats.sum())
        pidx = pidx[~repeats]
    if fields.label is not None:
        cols = _one_row_per_instant(cols, pidx)
    return cols


def _placed_time_error(site: Site, raws: list[Raw], exc: ValueError) -> ValueError:
    """A time that cannot be read, named by its place in a one-payload batch (the values are tried one by
    one only once the column has failed); the error as it was when no single value is at fault."""
    spec = site.preset.time
    if len(raws) != 1 or not raws[0].times or spec.format == "received":
        return exc
    raw, utc = raws[0], spec.zone in ("utc", "offset") or spec.format in EPOCH_US
    for i, value in enumerate(raw.times):  # type: ignore[arg-type]  # checked above
        try:
            parse_times([value], spec.format, utc, [1])
        except (ValueError, TypeError, OverflowError):
            name = describe_paths(site.preset.fields.interval_start)  # type: ignore[arg-type]
            return ValueError(f"{raw.where(i)}: {name} {value!r} is not a time in the preset's format ({spec.format})")
    return exc


def _locate(raws: list[Raw], g: int) -> tuple[Raw, int]:
    """The payload and its own record number of the batch's record g."""
    for raw in raws:
        if g < raw.n:
            return raw, g
        g -= raw.n
    raise IndexError(g)


def _where(raws: list[Raw], g: int) -> str:
    """The batch's record g named by its place in its body (`CSV line N` or `record N`)."""
    raw, i = _locate(raws, g)
    return raw.where(i)


def _refuse_bad_counts(raws: list[Raw], key: str, name: str, values: np.ndarray) -> None:
    """A negative, fractional or infinite count is wrong data, not a sloppy device: the body is refused
    with the first such record's place and value as written (nothing of it is loaded)."""
    with np.errstate(invalid="ignore"):
        bad = (values < 0) | (np.floor(values) < values) | np.isinf(values)
    if not bad.any():
        return
    raw, i = _locate(raws, int(np.flatnonzero(bad)[0]))
    written = raw.counts[key][i]
    what = "negative" if values[np.flatnonzero(bad)[0]] < 0 else "not a whole number"
    raise ValueError(f"{raw.where(i)}: {name} {written!r} is {what}")


def _exact_repeats(raws: list[Raw], pidx: np.ndarray, cols: Columns, labels: np.ndarray | None) -> np.ndarray | None:
    """Records that repeat an earlier record of the same body (same device, instant, direction and counts),
    left out and counted as skipped; a repeat with other counts is a contradiction the body cannot settle,
    refused naming both places. None when no record repeats (checked in one pass when the body is in order)."""
    n = len(cols.ref)
    if n < 2:
        return None
    start = cols.start.view(np.int64)
    keys = [pidx, cols.ref] + ([labels] if labels is not None else [])
    if _strictly_increasing([*keys, start]) or _strictly_increasing([pidx, start, *keys[1:]]):
        return None
    known = np.flatnonzero(~np.isnat(cols.start))
    order = known[np.lexsort([k[known] for k in reversed([*keys, start])])]
    same = np.ones(len(order) - 1, dtype=bool)
    for k in (*keys, start):
        same &= k[order[1:]] == k[order[:-1]]
    if not same.any():
        return None
    later, earlier = order[1:][same], order[:-1][same]
    differs = np.zeros(len(later), dtype=bool)
    for values in cols.measures.values():
        a, b = values[later], values[earlier]
        differs |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
    if differs.any():
        j = int(np.flatnonzero(differs)[0])
        first, second = int(earlier[j]), int(later[j])  # lexsort is stable: the earlier record first
        raw, i = _locate(raws, first)
        _, i_again = _locate(raws, second)
        raise ValueError(
            f"{raw.where(i)} and {raw.where(i_again)}: device {cols.refs[cols.ref[first]]!r} has two records for "
            f"{np.datetime_as_string(cols.start[first], unit='s')}Z with different counts"
        )
    repeats = np.zeros(n, dtype=bool)
    repeats[later] = True  # lexsort is stable: the first of equal records comes first and stays
    return repeats


def _strictly_increasing(keys: list[np.ndarray]) -> bool:
    """Whether the rows are in strictly increasing order of `keys` (lexicographic, first key first)."""
    greater = np.zeros(len(keys[0]) - 1, dtype=bool)
    equal = np.ones(len(keys[0]) - 1, dtype=bool)
    for k in keys:
        a, b = k[1:], k[:-1]
        greater |= equal & (a > b)
        equal &= a == b
    return bool(greater.all())


def _record_minutes(
    site: Site, options: dict[str, Any], raws: list[Raw], sizes: list[int], keys: list[np.ndarray], start: np.ndarray
) -> np.ndarray:
    """Each record's length from its own end (from/to columns): the payload says it, no default does.

    An end written exactly as the next record's start (consecutive intervals) or as the previous
    record's end (one record per direction) in the same payload is that instant, already read; only
    the other ends are parsed (most exports need one parse of their times, not two)."""
    ends = _concat(r.ends or [] for r in raws)
    n = len(ends)
    starts = _concat(r.times or [] for r in raws)
    pidx = keys[0]
    end = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    first_of_run = None
    # One payload of consecutive intervals (an export): one list comparison, every end but the last read.
    consecutive = n > 1 and len(raws) == 1 and ends[:-1] == starts[1:]
    if consecutive:
        present = np.ones(n, dtype=bool)
        present[-1] = ends[-1] is not MISSING and ends[-1] is not None and ends[-1] != ""
    elif MISSING not in ends and None not in ends and "" not in ends:
        present = np.ones(n, dtype=bool)
    else:
        present = np.fromiter((v is not MISSING and v is not None and v != "" for v in ends), dtype=bool, count=n)
    if site.preset.interval is None and not present.all():  # no length to fall back on: the end is required
        i = int(np.flatnonzero(~present)[0])
        raise ValueError(f"record {i}: missing {describe_paths(site.preset.fields.interval_end)}")  # type: ignore[arg-type]
    need = present.copy()
    if consecutive:
        end[:-1] = start[1:]
        need[:-1] = False
    elif n > 1:
        same = pidx[1:] == pidx[:-1]
        as_next = np.zeros(n, dtype=bool)
        as_next[:-1] = same & np.fromiter(map(operator.eq, ends[:-1], starts[1:]), bool, n - 1) & present[:-1]
        end[:-1][as_next[:-1]] = start[1:][as_next[:-1]]
        as_prev = np.zeros(n, dtype=bool)
        as_prev[1:] = same & np.fromiter(map(operator.eq, ends[1:], ends[:-1]), bool, n - 1) & present[1:]
        need &= ~as_next & ~as_prev
        # a run of equal ends takes the instant of its first one (read or matched): forward fill
        first_of_run = np.maximum.accumulate(np.where(as_prev, 0, np.arange(n)))
    if need.any():
        sub = np.flatnonzero(need)
        pick = sub.tolist()
        one = Raw(
            0,
            len(pick),
            None,
            ends=[ends[i] for i in pick],
            offsets=[v for r in raws for v in (r.offsets or [])] or None,
            dst=[v for r in raws for v in (r.dst or [])] or None,
        )
        if one.offsets is not None:
            one.offsets = [one.offsets[i] for i in pick]
        if one.dst is not None:
            one.dst = [one.dst[i] for i in pick]
        counts = np.bincount(pidx[sub], minlength=len(sizes))
        parsed, _ = _instants(site, options, [one], [int(c) for c in counts if c], [k[sub] for k in keys], ends=True)
        end[sub] = parsed
    if first_of_run is not None:
        end = end[first_of_run]
    end = np.where(present, end, np.datetime64("NaT"))
    minutes = (end - start) / np.timedelta64(1, "m")
    bad = ~np.isnan(minutes) & (minutes <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        name = describe_paths(site.preset.fields.interval_end)  # type: ignore[arg-type]
        raise ValueError(f"record {i}: {name} {ends[i]!r} is not after the interval start")
    return minutes


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
        cols.refs, cols.ref[rows], cols.start[rows], ambiguous, measures, cols.minutes[rows], cols.payload[rows],
        frames, cols.skipped,
    )  # fmt: skip
