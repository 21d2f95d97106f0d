"""Normalize: turn landed vendor bodies into count_interval rows (UTC, native length >= 5 minutes).

The preset says where the records are and what each field means; this module is the one generic
interpreter of that mapping. It raises `ParseError` on a shape it does not know (firmware differs:
fail loudly, keep the raw), but leaves value rules (negative counts, times outside the window,
duplicates) to the validation suite, which reports them all at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from footfall.config import Preset, Site
from footfall.errors import ParseError

COLUMNS = ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy", "payload_id"]
MEASURES = ("entries", "exits", "occupancy")
BASE_MINUTES = 5

_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1, "min": 1, "h": 60, "d": 1440, None: 1}


@dataclass(frozen=True)
class Payload:
    """A landed body to interpret (what extract stored, or what a device pushed)."""

    payload_id: int
    body: bytes
    counter_ref: str | None = None


def parse_duration_minutes(text: str) -> float:
    """'15m', '1h', '300s', '24h' or a bare number of minutes."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration like 15m or 1h")
    return int(m.group(1)) * _UNIT_MINUTES[m.group(2).lower() if m.group(2) else None]


def get_path(doc: Any, path: str) -> Any:
    """Follow a dotted path ('data.items'); '' is the document itself."""
    if not path:
        return doc
    for key in path.split("."):
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif isinstance(doc, list) and key.isdigit() and int(key) < len(doc):
            doc = doc[int(key)]
        else:
            raise KeyError(key)
    return doc


def decode_document(body: bytes, preset: Preset) -> Any:
    """Bytes to a document: JSON now; XML and CSV decoders plug in here."""
    if not body.strip():
        raise ValueError("empty body")
    if preset.format != "json":
        raise ValueError(f"format {preset.format!r} is not supported yet")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        head = body[:60].decode("utf-8", "replace").strip().replace("\n", " ")
        hint = " (looks like an HTML page)" if head.lstrip().lower().startswith(("<!doctype", "<html")) else ""
        raise ValueError(
            f"not JSON{hint}: {exc.msg} at line {exc.lineno} column {exc.colno}; starts {head!r}"
        ) from None


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


def extract_records(doc: Any, preset: Preset, default_ref: str | None) -> list[dict[str, Any]]:
    """Pick each record's fields by the preset's paths; the device ref comes from record, payload or request."""
    try:
        items = get_path(doc, preset.records)
    except KeyError as exc:
        raise ValueError(f"wrong shape: no {exc.args[0]!r} in {preset.records or 'the document'}") from None
    if not isinstance(items, list):
        raise ValueError(f"wrong shape: {preset.records or 'the document'} is a {type(items).__name__}, not a list")
    payload_ref = default_ref
    if preset.payload_counter_ref:
        try:
            payload_ref = str(get_path(doc, preset.payload_counter_ref))
        except KeyError:
            raise ValueError(f"wrong shape: no {preset.payload_counter_ref!r} (the device id)") from None
    fields = preset.fields
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"wrong shape: record {i} is a {type(item).__name__}, not an object")
        try:
            start = get_path(item, fields.interval_start)
        except KeyError:
            raise ValueError(f"record {i}: missing {fields.interval_start!r}") from None
        row: dict[str, Any] = {"start": start, "ref": payload_ref}
        if fields.counter_ref:
            row["ref"] = str(item.get(fields.counter_ref, payload_ref))
        for measure in MEASURES:
            path = getattr(fields, measure)
            if path is None:
                continue
            try:
                row[measure] = _count_value(get_path(item, path))
            except KeyError:
                raise ValueError(f"record {i}: missing {path!r}") from None
            except ValueError as exc:
                raise ValueError(f"record {i}: {path}: {exc}") from None
        out.append(row)
    return out


def to_utc(local: pd.Series, preset: Preset, site: Site, refs: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vendor time strings to UTC instants, and a flag for local times the autumn change made ambiguous.

    A local clock repeats an hour in autumn; when a device lists that hour twice, the first
    occurrence is summer time and the second winter time (the order devices write them in).
    """
    spec = preset.time
    if spec.format in ("epoch_s", "epoch_ms"):
        unit = "s" if spec.format == "epoch_s" else "ms"
        return pd.to_datetime(pd.to_numeric(local, errors="raise"), unit=unit, utc=True), pd.Series(
            False, index=local.index
        )
    fmt = None if spec.format == "iso" else spec.format
    parsed = pd.to_datetime(local, format=fmt, utc=spec.zone in ("utc", "offset"))
    if spec.zone in ("utc", "offset"):
        return parsed, pd.Series(False, index=local.index)
    key = pd.DataFrame({"ref": refs.to_numpy(), "t": parsed.to_numpy()})
    occurrence = key.groupby(["ref", "t"]).cumcount().to_numpy()
    repeats = key.groupby(["ref", "t"])["t"].transform("size").to_numpy()
    try:
        utc = parsed.dt.tz_localize(site.zone, ambiguous=occurrence == 0, nonexistent="raise").dt.tz_convert("UTC")
        in_repeated_hour = parsed.dt.tz_localize(site.zone, ambiguous="NaT", nonexistent="raise").isna().to_numpy()
    except Exception as exc:  # pandas raises its own NonExistentTimeError for the spring gap
        raise ValueError(f"local time that does not exist in {site.timezone} (spring DST gap): {exc}") from None
    ambiguous = pd.Series(in_repeated_hour & (repeats == 1), index=local.index)
    return utc, ambiguous


def interval_minutes(preset: Preset, options: dict[str, Any]) -> float:
    from footfall.extract import render

    return parse_duration_minutes(render(preset.interval, options))


def normalize_counts(site: Site, payloads: Iterable[Payload]) -> pd.DataFrame:
    """Rows of count_interval for these payloads (later payloads win on a repeated interval).

    Finer-than-5-minute data is summed to 5 minutes; coarser data keeps its native length.
    Columns are COLUMNS plus `ambiguous_time` (local time in the repeated autumn hour, order unknown).
    """
    preset = site.preset
    options = site.options()
    by_ref = {c.ref: c for c in site.counters}
    frames = []
    for payload in payloads:
        try:
            doc = decode_document(payload.body, preset)
            records = extract_records(doc, preset, payload.counter_ref)
            frame = pd.DataFrame.from_records(records, columns=["start", "ref", *MEASURES])
            unknown = sorted(set(frame["ref"].dropna()) - set(by_ref))
            if unknown:
                raise ValueError(f"device {', '.join(unknown)} is not a counter of this site (check counters[].ref)")
            if frame.empty:
                continue
            frame["interval_start"], frame["ambiguous_time"] = to_utc(
                frame["start"].astype(str), preset, site, frame["ref"]
            )
        except (ValueError, TypeError, OverflowError) as exc:
            raise ParseError(
                site.id, f"{site.source.kind.value}:{preset.name}", str(exc), [payload.payload_id]
            ) from None
        frame["payload_id"] = payload.payload_id
        frames.append(frame)
    if not frames:
        return empty_counts()
    rows = pd.concat(frames, ignore_index=True)
    rows["site_id"] = site.id
    rows["counter_id"] = rows["ref"].map({ref: c.id for ref, c in by_ref.items()})
    swapped = rows["ref"].map({ref: c.direction == "swapped" for ref, c in by_ref.items()}).astype(bool)
    if "entries" in rows and "exits" in rows:
        # Column-wise (not .loc setitem): a missing count makes one column object-typed, and pandas 3
        # refuses to set object values into the other, int64, column.
        entries, exits = rows["entries"], rows["exits"]
        rows["entries"], rows["exits"] = entries.where(~swapped, exits), exits.where(~swapped, entries)
    native = interval_minutes(preset, options)
    rows["interval_minutes"] = native
    if native < BASE_MINUTES:
        rows = _sum_to_base(rows)
    # A later payload (a resend, a re-read after a revision) replaces an earlier one's interval.
    last_payload = rows.groupby(["counter_id", "interval_start"])["payload_id"].transform("max")
    rows = rows[rows["payload_id"].eq(last_payload)]
    return _typed(rows)


def _sum_to_base(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.assign(interval_start=rows["interval_start"].dt.floor(f"{BASE_MINUTES}min"))
    agg = {"entries": "sum", "exits": "sum", "occupancy": "last", "payload_id": "max", "ambiguous_time": "any"}
    agg = {k: v for k, v in agg.items() if k in rows}
    grouped = rows.groupby(["site_id", "counter_id", "interval_start"], as_index=False).agg(agg)
    for measure in ("entries", "exits"):
        if measure in rows:
            present = rows.groupby(["site_id", "counter_id", "interval_start"])[measure].count().to_numpy()
            grouped.loc[present == 0, measure] = None
    grouped["interval_minutes"] = BASE_MINUTES
    return grouped


def _typed(rows: pd.DataFrame) -> pd.DataFrame:
    """Counts as nullable integers when they are whole numbers; floats stay floats for validation to reject."""
    out = pd.DataFrame(index=rows.index)
    out["site_id"] = rows["site_id"].astype(str)
    out["counter_id"] = rows["counter_id"].astype(str)
    out["interval_start"] = rows["interval_start"]
    minutes = rows["interval_minutes"].astype(float)
    out["interval_minutes"] = minutes.astype("Int64") if (minutes % 1 == 0).all() else minutes
    for measure in MEASURES:
        values = pd.to_numeric(rows[measure], errors="raise") if measure in rows else pd.Series(None, index=rows.index)
        values = values.astype("Float64")
        whole = values.dropna()
        out[measure] = values.astype("Int64") if (whole % 1 == 0).all() else values
    out["payload_id"] = rows["payload_id"].astype("int64")
    out["ambiguous_time"] = rows.get("ambiguous_time", pd.Series(False, index=rows.index)).astype(bool)
    return out.sort_values(["counter_id", "interval_start"]).reset_index(drop=True)


def empty_counts() -> pd.DataFrame:
    return _typed(
        pd.DataFrame(
            columns=["site_id", "counter_id", "interval_start", "interval_minutes", *MEASURES, "payload_id"]
        ).astype({"interval_start": "datetime64[ns, UTC]"})
    )


def utc_bounds(rows: pd.DataFrame) -> tuple[datetime, datetime] | None:
    if rows.empty:
        return None
    return rows["interval_start"].min().to_pydatetime(), rows["interval_start"].max().to_pydatetime()


typed_counts = _typed  # public name for other normalizers (history imports) that build the same columns
