"""A run's payloads to readings: every body read, then all interpreted as one batch.

Interpreting once per run instead of once per body is what keeps parsing near the cost of decoding.
When the batch fails (or names a device the site does not have), each payload is interpreted alone,
in order, so that the ParseError names the site, the source, the reason and the first payload at
fault, whose raw body stays kept. A body that cannot even be read stops the reading there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from footfall.config import Site
from footfall.errors import ParseError

from .common import _PARSE_ERRORS, Payload
from .interpretation import Columns, interpret
from .one_record import _extract_one_records, _fast_one_record
from .read import Raw, _minutes, extract


def _extract_all(site: Site, payloads: list[Payload], options: dict[str, Any]) -> tuple[list[Raw], Any]:
    """Every payload's raw columns, up to the first that cannot be read: (raws, (payload, error) or None)."""
    preset = site.preset
    minutes = None if preset.interval_path else _minutes(preset, options, None)
    if minutes is not None and _fast_one_record(preset) and len(payloads) > 1:
        return _extract_one_records(site, payloads, options, minutes)
    raws = []
    for payload in payloads:
        try:
            raws.append(extract(site, payload, options, minutes))
        except _PARSE_ERRORS as exc:
            return raws, (payload, exc)
    return raws, None


def _concat_columns(parts: list[Columns]) -> Columns:
    """Per-payload readings as one batch (device codes merged)."""
    index: dict[str, int] = {}
    refs_codes = []
    for part in parts:
        remap = np.array([index.setdefault(r, len(index)) for r in part.refs] or [0], dtype=np.int64)
        refs_codes.append(remap[part.ref])
    names = list(dict.fromkeys(m for part in parts for m in part.measures))
    measures = {m: np.concatenate([p.measures.get(m, np.full(len(p.ref), np.nan)) for p in parts]) for m in names}
    return Columns(
        list(index),
        np.concatenate(refs_codes),
        np.concatenate([p.start for p in parts]),
        np.concatenate([p.ambiguous for p in parts]),
        measures,
        np.concatenate([p.minutes for p in parts]),
        np.concatenate([p.payload for p in parts]),
        sum(p.frames for p in parts),
    )


def _unknown_devices(cols: Columns, by_ref: dict[str, Any]) -> str | None:
    if by_ref.keys() >= set(cols.refs):
        return None
    present = [cols.refs[c] for c in np.unique(cols.ref)]
    unknown = sorted(set(present) - set(by_ref))
    if unknown:
        return f"device {', '.join(unknown)} is not a counter of this site (check counters[].ref)"
    return None


def read_payloads(site: Site, payloads: list[Payload], options: dict[str, Any], check_devices: bool = True) -> Columns:
    """Payloads to readings: all read, then interpreted at once; ParseError names the first payload that
    fails (on failure each is interpreted alone, in order, to find it)."""
    preset = site.preset
    source = f"{site.source.kind.value}:{preset.name}"
    by_ref = {c.ref: c for c in site.counters}
    raws, failed = _extract_all(site, payloads, options)
    try:
        cols = interpret(site, options, raws)
        whole_batch_reads = not (check_devices and _unknown_devices(cols, by_ref))
    except _PARSE_ERRORS:
        whole_batch_reads = False
    if not whole_batch_reads:  # find the first payload at fault, as when each was parsed alone
        parts = []
        for raw in [one for r in raws for one in r.each_payload()]:
            try:
                part = interpret(site, options, [raw])
                problem = _unknown_devices(part, by_ref) if check_devices else None
                if problem:
                    raise ValueError(problem)
            except _PARSE_ERRORS as exc:
                raise ParseError(site.id, source, str(exc), [raw.payload_id]) from None
            parts.append(part)
        cols = _concat_columns(parts)
    if failed:
        payload, error = failed
        raise ParseError(site.id, source, str(error), [payload.payload_id]) from None
    return cols


def parse_payload(site: Site, payload: Payload, options: dict[str, Any] | None = None) -> pd.DataFrame:
    """One body to readings: ref, interval_start (UTC), measures, interval_minutes, ambiguous_time.

    Raises ValueError naming the record and field on any shape it does not know.
    """
    options = site.options() if options is None else options
    cols = interpret(site, options, [extract(site, payload, options)])
    frame = pd.DataFrame({"ref": np.array([*cols.refs, None], dtype=object)[cols.ref]})
    frame["interval_start"] = pd.Series(cols.start).dt.tz_localize("UTC")
    frame["ambiguous_time"] = cols.ambiguous
    for m, values in cols.measures.items():
        frame[m] = values
    frame["interval_minutes"] = cols.minutes
    return frame
