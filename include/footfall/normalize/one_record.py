"""One-record JSON bodies (a live value, a "now" snapshot), read without the general machinery.

A day of 5-minute polls is 288 tiny bodies, where the per-body set-up of the general reader would
cost more than the data. Bodies of a plain preset (JSON, dotted paths, no hook or filter) are scanned
by json's C scanner and read with paths prepared once, a run of them into one `Raw`. Anything unusual
steps aside to the general reader (footfall.normalize.read), which raises the error it deserves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from footfall.config import Paths, Preset, Site

from .common import _PARSE_ERRORS, MEASURES, Payload
from .read import Raw, _received_us, extract
from .records import MISSING, _alternatives, lookup

_ASIDE: Any = object()  # a body the batch decoder leaves to the ordinary one

_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # public attribute of the decoder, absent from typeshed

_JSON_SPACE = " \t\n\r"


def _scan_json(body: bytes, max_bytes: int) -> Any:
    """A small JSON body decoded by json's own C scanner (json.loads without its per-call wrapping); it
    must be exactly one document. A body that is not plainly so (an error, leading space, a BOM, another
    encoding, over the limit) is _ASIDE, for the ordinary decoder to read or refuse."""
    try:
        text = body.decode("utf-8")
        if len(body) > max_bytes or not text or text[0] in _JSON_SPACE:
            return _ASIDE
        doc, end = _SCAN(text, 0)
        if end != len(text) and text[end:].strip(_JSON_SPACE):
            return _ASIDE
    except (UnicodeDecodeError, StopIteration, ValueError, RecursionError):
        return _ASIDE
    return doc


def _simple(path: str) -> bool:
    return not any(c in path for c in "{}[]^/#")


def _fast_one_record(preset: Preset) -> bool:
    """A live-value preset the one-record reader handles: JSON, plain dotted paths, no hook or filter."""
    fields, spec = preset.fields, preset.time
    paths = [p for f in ("interval_start", "counter_ref", *MEASURES) for p in _alternatives(getattr(fields, f))]
    return (
        preset.one_record
        and preset.format == "json"
        and preset.hook is None
        and not preset.filter
        and fields.label is None
        and len(_alternatives(preset.records) or ("",)) == 1
        and _simple((_alternatives(preset.records) or ("",))[0])
        and not (spec.epoch_field or spec.utc_offset_hours or spec.dst_flag)
        and all(_simple(p) for p in paths)
    )


def _prepared(paths: Paths | None) -> list[tuple[str, list[str] | None]]:
    """Alternatives as (key, None) for a plain key, (None, keys) for a dotted path."""
    return [(p, None) if "." not in p else ("", p.split(".")) for p in _alternatives(paths)]


def _first_present(node: dict[str, Any], prepared: list[tuple[str, list[str] | None]]) -> Any:
    for key, keys in prepared:
        value = node.get(key, MISSING) if keys is None else lookup(node, keys)
        if value is not MISSING:
            return value
    return MISSING


class _OneRecordReader:
    """Reads a one-record JSON body (a live value) straight from its document, with paths prepared once;
    None for anything unusual, which the general reader then reads (and raises on, naming the reason)."""

    def __init__(self, site: Site, options: dict[str, Any], minutes: float | Exception | None) -> None:
        preset = site.preset
        fields = preset.fields
        path = (_alternatives(preset.records) or ("",))[0]
        self.keys = path.split(".") if path else []
        self.payload_ref = [p.split(".") for p in _alternatives(preset.payload_counter_ref)]
        self.ref = _prepared(fields.counter_ref)
        self.received = preset.time.format == "received"
        self.time = _prepared(fields.interval_start)
        self.counts = [(m, _prepared(p)) for m in MEASURES if (p := getattr(fields, m)) is not None]
        self.default = site.counters[0].ref if len(site.counters) == 1 else None
        self.preset, self.options, self.minutes = preset, options, minutes
        self._when: tuple[Any, int] = (None, 0)
        # Every field one plain key: one itemgetter call reads a record (a missing key: the general way).
        plain = [
            *([] if self.received else [self.time]),
            *([self.ref] if self.ref else []),
            *(p for _, p in self.counts),
        ]
        self.getter = None
        if plain and all(len(p) == 1 and p[0][1] is None for p in plain) and len(self.payload_ref) <= 1:
            keys = [p[0][0] for p in plain]
            self.getter = itemgetter(*keys) if len(keys) > 1 else lambda node, key=keys[0]: (node[key],)
        self.payload_key = None
        if len(self.payload_ref) == 1 and len(self.payload_ref[0]) == 1:
            self.payload_key = self.payload_ref[0][0]
        elif self.payload_ref:
            self.getter = None

    def read(self, payload: Payload, doc: Any) -> tuple[Any, Any, Sequence[Any]] | None:
        """(device id, time as written or received instant, counts as written), or None to step aside."""
        if self.getter is None:
            return self._read(payload, doc)
        node = doc
        for key in self.keys:
            if type(node) is not dict:
                return None
            node = node.get(key, MISSING)
        if type(node) is not dict or type(doc) is not dict:
            return None
        try:
            got = self.getter(node)
            ref = str(doc[self.payload_key]) if self.payload_key is not None else None
        except KeyError:
            return self._read(payload, doc)
        at = 0
        if self.received:
            if payload.received_at is None or payload.received_at is not self._when[0]:
                self._when = (payload.received_at, _received_us(payload))
            when = self._when[1]
        else:
            when = got[0]
            if when is None:
                return None
            at = 1
        if self.ref:
            value = got[at]
            if value is not None:
                ref = str(value)
            at += 1
        if ref is None:
            ref = payload.counter_ref if payload.counter_ref is not None else self.default
            if ref is None:
                return None
        return ref, when, got[at:] if at else got  # the counts are the getter's last items

    def _read(self, payload: Payload, doc: Any) -> tuple[Any, Any, Sequence[Any]] | None:
        node = doc
        for key in self.keys:
            if type(node) is not dict:
                return None
            node = node.get(key, MISSING)
        if type(node) is not dict:
            return None
        ref = payload.counter_ref if payload.counter_ref is not None else self.default
        if self.payload_ref:
            found = next((v for keys in self.payload_ref if (v := lookup(doc, keys)) is not MISSING), MISSING)
            if found is MISSING:
                return None
            ref = str(found)
        if self.ref:
            value = _first_present(node, self.ref)
            if value is not MISSING and value is not None:
                ref = str(value)
        if ref is None:
            return None
        if self.received:
            if payload.received_at is None or payload.received_at is not self._when[0]:
                self._when = (payload.received_at, _received_us(payload))
            when = self._when[1]
        else:
            when = _first_present(node, self.time)
            if when is MISSING or when is None:
                return None
        return ref, when, [_first_present(node, prepared) for _, prepared in self.counts]

    def batch(self, payloads: list[Payload], values: list[tuple[Any, Any, Sequence[Any]]]) -> Raw:
        """Consecutive one-record bodies as one Raw (a record per payload)."""
        refs, when, counts = zip(*values, strict=True) if values else ((), (), ())
        raw = Raw(payloads[0].payload_id, len(values), list(refs), minutes=self.minutes)  # type: ignore[arg-type]
        raw.payload_ids = [p.payload_id for p in payloads]
        if self.received:
            raw.received_us = list(when)
        else:
            raw.times = list(when)
        by_measure = list(zip(*counts, strict=True)) if counts and self.counts else []
        raw.counts = {m: list(col) for (m, _), col in zip(self.counts, by_measure, strict=True)}
        return raw


def _extract_one_records(
    site: Site, payloads: list[Payload], options: dict[str, Any], minutes: float | Exception
) -> tuple[list[Raw], Any]:
    """One-record JSON bodies: scanned and read straight into columns, a run of them into one Raw; a body
    that is not plain goes through the general reader (which raises the error it deserves)."""
    reader = _OneRecordReader(site, options, minutes)
    max_bytes = site.preset.max_body_bytes
    raws: list[Raw] = []
    run: list[Payload] = []
    values: list[tuple[Any, Any, Sequence[Any]]] = []
    for payload in payloads:
        doc = _scan_json(payload.body, max_bytes)
        read = reader.read(payload, doc) if doc is not _ASIDE else None
        if read is not None:
            run.append(payload)
            values.append(read)
            continue
        if run:
            raws.append(reader.batch(run, values))
            run, values = [], []
        try:
            raws.append(extract(site, payload, options, minutes))
        except _PARSE_ERRORS as exc:
            return raws, (payload, exc)
    if run:
        raws.append(reader.batch(run, values))
    return raws, None
