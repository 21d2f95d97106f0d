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

from .common import MEASURES, Payload, _per_distinct, parse_duration_minutes
from .records import (
    MISSING,
    Records,
    _all_text,
    _alternatives,
    _describe,
    _Missing,
    decode_document,
    lookup,
    select_records,
)


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


def _received_us(payload: Payload) -> int:
    when = payload.received_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise TypeError(f"received_at {when!r} has no time zone")
    return (when - _EPOCH) // _US


def _minutes(preset: Preset, options: dict[str, Any], doc: Any) -> float | Exception:
    try:
        return interval_minutes(preset, options, doc)
    except Exception as exc:  # raised in its turn, after the body's times and counts, as parsing did
        return exc


def interval_minutes(preset: Preset, options: dict[str, Any], doc: Any = None) -> float:
    """The native interval: from the document when the preset says where, else the preset/option."""
    from footfall.extract import render

    if preset.interval_path and doc is not None:
        value = lookup(doc, preset.interval_path.split("."))
        if value is not MISSING and value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"interval {preset.interval_path}: {value!r} is not a number") from None
            return number / 60 if preset.interval_path_unit == "s" else number
    return parse_duration_minutes(render(preset.interval, options))


def _require(values: list[Any], paths: Paths) -> list[Any]:
    if _all_text(values):  # neither MISSING nor None
        return values
    kinds = set(map(type, values))
    if _Missing not in kinds and type(None) not in kinds:
        return values
    for i, v in enumerate(values):
        if v is MISSING or v is None:
            raise ValueError(f"record {i}: missing {_describe(paths)}")
    return values


def extract(site: Site, payload: Payload, options: dict[str, Any], minutes: float | Exception | None = None) -> Raw:
    """Decode one body and read its records' fields as raw columns (shape errors raise ValueError).

    `minutes`: the native interval when the preset fixes it (the same for every body of a batch)."""
    preset = site.preset
    doc = decode_document(payload.body, preset)
    rec = select_records(doc, preset)
    for path, wanted in preset.filter.items():
        keep = _per_distinct(rec.column(path), lambda v, wanted=wanted: v is not MISSING and str(v) == wanted)  # type: ignore[misc]  # mypy cannot infer a lambda with a default
        rec = rec.subset(keep.tolist())
    n = rec.n
    raw = Raw(payload.payload_id, n, _refs(site, preset, rec, doc, payload))
    spec, fields = preset.time, preset.fields
    if n:
        if spec.format == "received":
            raw.received_us = _received_us(payload)
        else:
            raw.times = _require(rec.column(fields.interval_start), fields.interval_start)
            raw.epoch = rec.column(spec.epoch_field) if spec.epoch_field else None
            raw.offsets = rec.column(spec.utc_offset_hours) if spec.utc_offset_hours else None
            raw.dst = rec.column(spec.dst_flag) if spec.dst_flag else None
    if fields.label is not None and fields.value is not None:
        raw.labels = rec.column(fields.label)
        raw.counts = {"value": rec.column(fields.value)}
    else:
        raw.counts = {m: rec.column(p) for m in MEASURES if (p := getattr(fields, m)) is not None}
    raw.minutes = minutes if minutes is not None else _minutes(preset, options, doc)
    return raw


def _refs(site: Site, preset: Preset, rec: Records, doc: Any, payload: Payload) -> list[Any] | Any:
    """Device id per record (or one for all): record field, else payload field, else request, else the
    site's only counter."""
    default: Any = payload.counter_ref
    if preset.payload_counter_ref is not None:
        found = next(
            (v for p in _alternatives(preset.payload_counter_ref) if (v := lookup(doc, p.split("."))) is not MISSING),
            MISSING,
        )
        if found is MISSING:
            raise ValueError(f"wrong shape: no {_describe(preset.payload_counter_ref)} (the device id)")
        default = str(found)
    if default is None and len(site.counters) == 1:
        default = site.counters[0].ref
    if preset.fields.counter_ref is None:
        if default is None and rec.n:
            raise ValueError("no device id in the body or the request, and the site has several counters")
        return default
    col = rec.column(preset.fields.counter_ref)
    if _all_text(col):
        return col
    out = []
    for i, v in enumerate(col):
        if v is MISSING or v is None:
            if default is None:
                raise ValueError(f"record {i}: missing {_describe(preset.fields.counter_ref)}")
            out.append(default)
        else:
            out.append(str(v))
    return out
