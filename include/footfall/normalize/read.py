"""One body's records read as raw columns (`Raw`): what the body says, not yet what it means.

`extract` decodes a body, selects its records, applies the preset's filter and picks every mapped
field (times, device ids, counts, labels) as one list per field. Reading is kept apart from
interpreting so that all the payloads of a run are read first and then interpreted as one batch
(footfall.normalize.batch); `Raw.each_payload` splits a run of bodies back up to find the one at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from footfall.config import Paths, Preset, Site
from footfall.documents import (
    MISSING,
    Missing,
    Records,
    all_text,
    alternatives,
    decode_document,
    describe_paths,
    lookup,
    select_records,
)
from footfall.templates import render

from .common import MEASURES, Payload, parse_duration_minutes, per_distinct


@dataclass
class Raw:
    """One payload's records as raw columns, read but not yet interpreted (many are interpreted at once)."""

    payload_id: int
    n: int
    refs: list[Any] | Any  # a device id per record, or one for all
    times: list[Any] | None = None  # interval_start as written; None for times stamped on receipt
    received_us: int | list[int] = 0
    epoch: list[Any] | None = None
    offsets: list[Any] | None = None
    dst: list[Any] | None = None
    counts: dict[str, list[Any]] = field(default_factory=dict)  # measure (or 'value') -> counts as written
    labels: list[Any] | None = None
    minutes: float | Exception = 0.0  # the native interval, or why the body does not say it
    payload_ids: list[int] | None = None  # set when the records are one-record bodies, one per payload
    ends: list[Any] | None = None  # interval_end as written, when the preset reads each record's length
    skipped: int = 0  # records left out for having no count at all
    positions: list[int] | None = None  # each record's place in the body, when some were left out
    table: bool = False  # a CSV body: a record's place is written as its line

    def where(self, i: int) -> str:
        """Record i as the data team finds it in the body: `CSV line N` (header on line 1) or `record N`."""
        place = self.positions[i] if self.positions is not None else i
        return f"CSV line {place + 2}" if self.table else f"record {place}"

    def each_payload(self) -> list[Raw]:
        """One Raw per payload (a run of one-record bodies split up, to find the one at fault)."""
        if self.payload_ids is None:
            return [self]
        received = self.received_us if isinstance(self.received_us, list) else [self.received_us] * self.n
        return [
            Raw(
                pid,
                1,
                self.refs[i],
                times=[self.times[i]] if self.times is not None else None,
                received_us=received[i],
                counts={m: [v[i]] for m, v in self.counts.items()},
                minutes=self.minutes,
            )
            for i, pid in enumerate(self.payload_ids)
        ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_US = timedelta(microseconds=1)


def received_instant_us(payload: Payload) -> int:
    when = payload.received_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise TypeError(f"received_at {when!r} has no time zone")
    return (when - _EPOCH) // _US


def payload_minutes(preset: Preset, options: dict[str, Any], doc: Any) -> float | Exception:
    try:
        return interval_minutes(preset, options, doc)
    except Exception as exc:  # raised in its turn, after the body's times and counts, as parsing did
        return exc


def interval_minutes(preset: Preset, options: dict[str, Any], doc: Any = None) -> float:
    """The native interval: from the document when the preset says where, else the preset/option."""
    if preset.interval_path and doc is not None:
        value = lookup(doc, preset.interval_path.split("."))
        if value is not MISSING and value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"interval {preset.interval_path}: {value!r} is not a number") from None
            return number / 60 if preset.interval_path_unit == "s" else number
    if preset.interval is None:  # each record gives its end (fields.interval_end): no payload-wide length
        return float("nan")
    return parse_duration_minutes(render(preset.interval, options))


def _require(values: list[Any], paths: Paths) -> list[Any]:
    if all_text(values):  # neither MISSING nor None
        return values
    kinds = set(map(type, values))
    if Missing not in kinds and type(None) not in kinds:
        return values
    for i, v in enumerate(values):
        if v is MISSING or v is None:
            raise ValueError(f"record {i}: missing {describe_paths(paths)}")
    return values


def _blank(value: Any) -> bool:
    """A count written as empty (null or ''); an absent field is a shape error, not a blank."""
    return value is None or value == ""


def no_counts(columns: list[list[Any]]) -> list[bool] | None:
    """Per record, True when it has no count at all (every count field written empty); None when every
    record has one (checked on the first column alone, in one pass, in the usual case)."""
    if not columns:
        return None
    first = columns[0]
    if all(first) or (None not in first and "" not in first):  # truth of text is one C-level scan; zeros need two
        return None
    empty = [_blank(v) for v in first]
    for col in columns[1:]:
        empty = [e and _blank(v) for e, v in zip(empty, col, strict=True)]
    return empty if any(empty) else None


def _kept(positions: list[int] | None, keep: list[bool]) -> list[int]:
    """The body places of the records `keep` leaves (of those already kept, when some were left out)."""
    before = positions if positions is not None else range(len(keep))
    return [p for p, k in zip(before, keep, strict=True) if k]


def _pick(values: list[Any], keep: list[bool]) -> list[Any]:
    return [v for v, k in zip(values, keep, strict=True) if k]


def extract(site: Site, payload: Payload, options: dict[str, Any], minutes: float | Exception | None = None) -> Raw:
    """Decode one body and read its records' fields as raw columns (shape errors raise ValueError).

    A record with no count at all (an export's closing row with its times only, an all-empty CSV row)
    is left out and counted in `Raw.skipped`; a CSV row cut short that still has counts is refused.
    `minutes`: the native interval when the preset fixes it (the same for every body of a batch)."""
    preset = site.preset
    doc = decode_document(payload.body, preset)
    rec = select_records(doc, preset)
    positions: list[int] | None = None  # places of the records kept, once some are left out
    for path, wanted in preset.filter.items():
        match = per_distinct(rec.column(path), lambda v, wanted=wanted: v is not MISSING and str(v) == wanted)  # type: ignore[misc]  # mypy cannot infer a lambda with a default
        positions = _kept(positions, match.tolist())
        rec = rec.subset(match.tolist())
    spec, fields = preset.time, preset.fields
    long_format = fields.label is not None and fields.value is not None
    if long_format and preset.queue is not None and preset.queue.labels:
        # Records the queue section reads (footfall.normalize.queues) are its measures, not counts.
        queue_labels = set(preset.queue.labels)
        is_queue = per_distinct(rec.column(fields.label), lambda v: str(v) in queue_labels)  # type: ignore[arg-type]
        rec = rec.subset([not bool(q) for q in is_queue.tolist()])
    if long_format:
        counts = {"value": rec.column(fields.value)}  # type: ignore[arg-type]
    else:
        counts = {m: rec.column(p) for m in MEASURES if (p := getattr(fields, m)) is not None}
    keep: list[bool] | None = None
    skipped = 0
    empty = no_counts(list(counts.values()))
    if empty is not None:
        keep = [not e for e in empty]
        skipped = len(empty) - sum(keep)
    table = rec.table is not None
    if rec.table is not None and rec.table.short:
        for row, cells in rec.table.short.items():
            if keep is None or keep[row]:
                width = len(rec.table.columns)
                raise ValueError(f"CSV line {row + 2}: {cells} cells, the header has {width}")
    if keep is not None:
        positions = _kept(positions, keep)
        rec = rec.subset(keep)
        counts = {m: _pick(v, keep) for m, v in counts.items()}
    n = rec.n
    raw = Raw(payload.payload_id, n, _refs(site, preset, rec, doc, payload), skipped=skipped, positions=positions)
    raw.table = table
    if n:
        if spec.format == "received":
            raw.received_us = received_instant_us(payload)
        else:
            start = fields.interval_start
            if start is None:  # the preset schema requires it unless times are the receipt's
                raise ValueError(f"preset {preset.name}: fields.interval_start is missing")
            times = rec.column(start)
            # A CSV column is present for every row (cells are text) or for none: its first value tells.
            raw.times = times if table and times[0] is not MISSING else _require(times, start)
            raw.epoch = rec.column(spec.epoch_field) if spec.epoch_field else None
            raw.offsets = rec.column(spec.utc_offset_hours) if spec.utc_offset_hours else None
            raw.dst = rec.column(spec.dst_flag) if spec.dst_flag else None
            if fields.interval_end is not None:
                raw.ends = rec.column(fields.interval_end)  # a missing end: see interpretation
    raw.counts = counts
    if long_format:
        raw.labels = rec.column(fields.label)  # type: ignore[arg-type]
    raw.minutes = minutes if minutes is not None else payload_minutes(preset, options, doc)
    return raw


def _refs(site: Site, preset: Preset, rec: Records, doc: Any, payload: Payload) -> list[Any] | Any:
    """Device id per record (or one for all): record field, else payload field, else request, else the
    site's only counter."""
    default: Any = payload.counter_ref
    if preset.payload_counter_ref is not None:
        found = next(
            (v for p in alternatives(preset.payload_counter_ref) if (v := lookup(doc, p.split("."))) is not MISSING),
            MISSING,
        )
        if found is MISSING:
            raise ValueError(f"wrong shape: no {describe_paths(preset.payload_counter_ref)} (the device id)")
        default = str(found)
    if default is None and len(site.counters) == 1:
        default = site.counters[0].ref
    if preset.fields.counter_ref is None:
        if default is None and rec.n:
            raise ValueError("no device id in the body or the request, and the site has several counters")
        return default
    col = rec.column(preset.fields.counter_ref)
    if all_text(col):
        return col
    out = []
    for i, v in enumerate(col):
        if v is MISSING or v is None:
            if default is None:
                raise ValueError(f"record {i}: missing {describe_paths(preset.fields.counter_ref)}")
            out.append(default)
        else:
            out.append(str(v))
    return out
