"""Normalize: turn landed vendor bodies into count_interval rows (UTC, native length >= 5 minutes).

The preset (a data file) says where the records are and what each field means; this module is the one
generic interpreter of that mapping, for JSON, XML and CSV alike (footfall.decode turns bytes into a
document). Columns are picked per field over all records at once, so a large export costs little more
than decoding it. It raises `ParseError` on a shape it does not know (firmware differs: fail loudly, keep
the raw), but leaves value rules (negative counts, times outside the window, duplicates) to the
validation suite, which reports them all at once. Counter semantics live in footfall.semantics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np
import pandas as pd

from footfall import hooks, semantics
from footfall.config import Paths, Preset, Site
from footfall.decode import Table, decode
from footfall.errors import ParseError

COLUMNS = ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy", "payload_id"]
MEASURES = ("entries", "exits", "occupancy")
BASE_MINUTES = 5

_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1, "min": 1, "h": 60, "d": 1440, None: 1}
_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_OFFSET_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"
_TRUE = {"1", "true", "yes", "on", "y"}


class _Missing:
    """A field the record does not have (distinct from a present null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Payload:
    """A landed body to interpret (what extract stored, or what a device pushed)."""

    payload_id: int
    body: bytes
    counter_ref: str | None = None
    received_at: datetime | None = field(default=None, compare=False)


def parse_duration_minutes(text: str) -> float:
    """'15m', '1h', '300s', '24h' or a bare number of minutes."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration like 15m or 1h")
    return int(m.group(1)) * _UNIT_MINUTES[m.group(2).lower() if m.group(2) else None]


# --- walking a document --------------------------------------------------------------------------


def lookup(node: Any, keys: list[str]) -> Any:
    """Follow keys through dicts, lists (digit keys) and XML elements (attribute, else child); MISSING if absent."""
    for key in keys:
        if isinstance(node, dict):
            node = node.get(key, MISSING)
        elif isinstance(node, list):
            node = node[int(key)] if key.isdigit() and int(key) < len(node) else MISSING
        elif isinstance(node, Element):
            if key == "#text":
                node = node.text
                continue
            value = node.get(key)
            if value is None:
                value = node.find(key)
            node = MISSING if value is None else value
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    if isinstance(node, Element) and len(node) == 0:
        text = node.text
        return text.strip() if text is not None else None
    return node


def get_path(doc: Any, path: str) -> Any:
    """Follow a dotted path ('data.items'); '' is the document itself; KeyError when absent."""
    value = lookup(doc, path.split(".")) if path else doc
    if value is MISSING:
        raise KeyError(path.split(".")[-1])
    return value


def _alternatives(paths: Paths | None) -> tuple[str, ...]:
    if paths is None:
        return ()
    return (paths,) if isinstance(paths, str) else tuple(paths)


def _describe(paths: Paths) -> str:
    return " or ".join(repr(p) for p in _alternatives(paths))


@dataclass
class Records:
    """The selected records of one document: `chains[i]` lists record i's enclosing records, innermost last."""

    doc: Any
    items: list[Any]
    chains: list[tuple[Any, ...]] | None = None
    table: Table | None = None
    dicts: bool = False  # every item is a dict (checked once)

    @property
    def n(self) -> int:
        return self.table.rows if self.table is not None else len(self.items)

    def subset(self, keep: list[bool]) -> Records:
        if self.table is not None:
            cols = {k: [v for v, k2 in zip(col, keep, strict=True) if k2] for k, col in self.table.columns.items()}
            return Records(self.doc, [], None, Table(cols, sum(keep)))
        items = [v for v, k in zip(self.items, keep, strict=True) if k]
        chains = [c for c, k in zip(self.chains, keep, strict=True) if k] if self.chains is not None else None
        return Records(self.doc, items, chains, dicts=self.dicts)

    def column(self, paths: Paths) -> list[Any]:
        """One value per record for a field (alternatives: the first present wins, per record)."""
        alts = _alternatives(paths)
        col = self._one(alts[0])
        for alt in alts[1:]:
            if not any(v is MISSING for v in col):
                break
            other = self._one(alt)
            col = [o if v is MISSING else v for v, o in zip(col, other, strict=True)]
        return col

    def _one(self, path: str) -> list[Any]:
        if "{" in path:
            parts = _TEMPLATE.split(path)  # literal, name, literal, name, ...
            cols = [self._one(name) if i % 2 else None for i, name in enumerate(parts)]
            out = []
            for r in range(self.n):
                pieces = []
                for i, literal in enumerate(parts):
                    if i % 2 == 0:
                        pieces.append(literal)
                        continue
                    value = cols[i][r]  # type: ignore[index]
                    if value is MISSING or value is None:
                        pieces = None
                        break
                    pieces.append(str(value))
                out.append(MISSING if pieces is None else "".join(pieces))
            return out
        if path.startswith("/"):
            return [lookup(self.doc, path[1:].split("."))] * self.n
        if self.table is not None:
            return self.table.columns.get(path, [MISSING] * self.n)
        ups = len(path) - len(path.lstrip("^"))
        keys = path[ups:].lstrip(".").split(".") if path[ups:].strip(".") else []
        if ups == 0:
            nodes = self.items
        else:
            chains = self.chains or [()] * self.n
            nodes = [c[-1 - ups] if len(c) > ups else MISSING for c in chains]
        if len(keys) == 1 and nodes and type(nodes[0]) is dict:
            key = keys[0]
            if self.dicts and ups == 0:
                try:
                    return [n[key] for n in nodes]
                except KeyError:
                    return [n.get(key, MISSING) for n in nodes]
            return [n.get(key, MISSING) if type(n) is dict else lookup(n, keys) for n in nodes]
        return [lookup(n, keys) if n is not MISSING else MISSING for n in nodes]


def _segments(path: str) -> list[tuple[str, str]]:
    out = []
    for seg in path.split(".") if path else []:
        mode = seg[-2:] if seg.endswith(("[]", "{}")) else ""
        out.append((seg[: len(seg) - len(mode)], mode))
    return out


def _iterate(node: Any, name: str, mode: str, where: str, one_record: bool, last: bool) -> list[Any]:
    """The items of one iterated segment (a list, an XML element's repeated children, a mapping's pairs)."""
    if isinstance(node, Element):
        if last and one_record:
            found = node if not name else node.find(name)
            return [] if found is None else [found]
        return node.findall(name) if name else list(node)
    container = node if not name else lookup(node, [name])
    if container is MISSING:
        raise KeyError(name)
    if mode == "{}":
        if not isinstance(container, dict):
            raise ValueError(f"wrong shape: {where} is a {type(container).__name__}, not a mapping")
        return [[k, v] for k, v in container.items()]
    if isinstance(container, list):
        return container
    if isinstance(container, dict) and last and one_record and not mode:
        return [container]
    raise ValueError(f"wrong shape: {where or 'the document'} is a {type(container).__name__}, not a list")


def _walk(doc: Any, path: str, one_record: bool) -> Records:
    segments = _segments(path) or [("", "")]
    nested = any(mode for _, mode in segments[:-1])
    states: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    done = []
    for i, (name, mode) in enumerate(segments):
        last = i == len(segments) - 1
        where = ".".join(s for s, _ in segments[: i + 1])
        nxt: list[tuple[Any, tuple[Any, ...]]] = []
        for node, chain in states:
            if mode or last:
                try:
                    items = _iterate(node, name, mode, where, one_record, last)
                except KeyError:
                    raise KeyError(f"no {name!r} in {where}") from None
                if nested:
                    nxt.extend((item, (*chain, item)) for item in items)
                else:
                    done = items
            else:
                child = node.find(name) if isinstance(node, Element) else lookup(node, [name])
                if child is None or child is MISSING:
                    raise KeyError(f"no {name!r} in {where}")
                nxt.append((child, chain))
        states = nxt
    if nested:
        return Records(doc, [s[0] for s in states], [s[1] for s in states])
    return Records(doc, done)


def select_records(doc: Any, preset: Preset) -> Records:
    """The records the preset's `records` path names (first alternative that fits the document)."""
    if isinstance(doc, Table):
        return Records(doc, [], None, doc)
    if preset.hook:
        doc = hooks.HOOKS[preset.hook](doc)
    first: str | None = None
    for path in _alternatives(preset.records) or ("",):
        try:
            records = _walk(doc, path, preset.one_record)
        except KeyError as exc:
            first = first or f"wrong shape: {exc.args[0]}"
            continue
        except ValueError as exc:
            first = first or str(exc)
            continue
        pairs = any(m == "{}" for _, m in _segments(path))
        if records.chains is None and not pairs and not isinstance(doc, Element):
            bad = None
            if not set(map(type, records.items)) <= {dict}:
                bad = next(i for i, r in enumerate(records.items) if type(r) is not dict)
            if bad is not None:
                kind = type(records.items[bad]).__name__
                raise ValueError(f"wrong shape: record {bad} is a {kind}, not an object")
            records.dicts = True
        return records
    raise ValueError(first or "wrong shape")


def decode_document(body: bytes, preset: Preset) -> Any:
    """Bytes to a document per the preset's format (size limit, empty body and HTML pages refused)."""
    return decode(body, preset.format, preset.max_body_bytes)


# --- values --------------------------------------------------------------------------------------


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


def count_column(values: list[Any], paths: Paths) -> np.ndarray:
    """Counts as floats (NaN when absent); the first bad value raises naming its record and field."""
    types = set(map(type, values))
    if _Missing in types:
        i = next(i for i, v in enumerate(values) if v is MISSING)
        raise ValueError(f"record {i}: missing {_describe(paths)}")
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


def _require(values: list[Any], paths: Paths) -> list[Any]:
    if MISSING not in values and None not in values:
        return values
    for i, v in enumerate(values):
        if v is MISSING or v is None:
            raise ValueError(f"record {i}: missing {_describe(paths)}")
    return values


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


def _localize(naive: pd.Series, site: Site, refs: list[Any]) -> tuple[pd.Series, pd.Series]:
    """Site-local wall-clock times to UTC; a repeated autumn time listed twice is summer then winter time."""
    try:
        # One localisation when no time falls in a repeated autumn hour (the usual case).
        first = naive.dt.tz_localize(site.zone, ambiguous="NaT", nonexistent="raise")
        in_repeated_hour = first.isna().to_numpy() & naive.notna().to_numpy()
        if not in_repeated_hour.any():
            return first.dt.tz_convert("UTC"), pd.Series(np.zeros(len(naive), dtype=bool), index=naive.index)
        key = pd.DataFrame({"ref": refs, "t": naive.to_numpy()})
        occurrence = key.groupby(["ref", "t"], dropna=False).cumcount().to_numpy()
        repeats = key.groupby(["ref", "t"], dropna=False)["t"].transform("size").to_numpy()
        utc = naive.dt.tz_localize(site.zone, ambiguous=occurrence == 0, nonexistent="raise").dt.tz_convert("UTC")
    except Exception as exc:  # pandas raises its own NonExistentTimeError for the spring gap
        raise ValueError(f"local time that does not exist in {site.timezone} (spring DST gap): {exc}") from None
    in_repeated_hour = naive.dt.tz_localize(site.zone, ambiguous="NaT", nonexistent="raise").isna().to_numpy()
    return utc, pd.Series(in_repeated_hour & (repeats == 1), index=naive.index)


_FIELD_WIDTH = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}
_ISO_SUFFIX = re.compile(r"^(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$")


def _layout(fmt: str) -> tuple[int, dict[str, int], dict[int, str]] | None:
    """A strptime format of fixed-width fields (%Y %m %d %H %M %S) and literals: width, field starts, literals."""
    starts: dict[str, int] = {}
    literals: dict[int, str] = {}
    pos, i = 0, 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            code = fmt[i + 1 : i + 2]
            if code not in _FIELD_WIDTH or code in starts:
                return None
            starts[code] = pos
            pos += _FIELD_WIDTH[code]
            i += 2
        else:
            literals[pos] = ch
            pos += 1
            i += 1
    if not {"Y", "m", "d"} <= set(starts):
        return None
    return pos, starts, literals


def _fixed_width(values: list[Any], fmt: str, utc: bool) -> np.ndarray | None:
    """Times in one fixed-width layout parsed with numpy on the whole column (datetime64[us], UTC when
    the text says so), or None when any value does not fit it exactly (pandas then parses, and words errors).

    `fmt` is a strptime format or 'iso' (YYYY-MM-DDTHH:MM:SS, optional fraction, optional Z or +HH:MM,
    the same layout on every value).
    """
    if not values or set(map(type, values)) != {str}:
        return None
    offset_at = None
    frac = (0, 0)
    if fmt == "iso":
        first = values[0]
        m = _ISO_SUFFIX.match(first[19:])
        if len(first) < 19 or not m or (m.group(2) and not utc):
            return None
        layout = _layout("%Y-%m-%dT%H:%M:%S")
        assert layout is not None
        width, starts, literals = layout
        literals = dict(literals)
        if m.group(1):
            literals[19] = "."
            frac = (20, len(m.group(1)) - 1)
        tail = m.group(2) or ""
        if tail == "Z":
            literals[len(first) - 1] = "Z"
        elif tail:
            offset_at = len(first) - 6
            literals[offset_at + 3] = ":"
        width = len(first)
    else:
        layout = _layout(fmt)
        if layout is None:
            return None
        width, starts, literals = layout
    arr = np.array(values)
    if arr.dtype != np.dtype(f"U{width}") or (np.strings.str_len(arr) != width).any():
        return None
    codes = arr.view(np.uint32).reshape(len(arr), width)
    is_digit = np.ones(width, dtype=bool)
    expected = np.zeros(width, dtype=np.uint32)
    for col, ch in literals.items():
        is_digit[col], expected[col] = False, ord(ch)
    if offset_at is not None:
        is_digit[offset_at] = False
        expected[offset_at] = ord("+")
    signs = codes[:, offset_at] if offset_at is not None else None
    digits = codes - np.uint32(48)  # wraps round below '0', so one comparison checks 0-9
    bad = np.where(is_digit, digits > 9, codes != expected)
    if offset_at is not None:
        bad[:, offset_at] = (signs != ord("+")) & (signs != ord("-"))
    if bad.any():
        return None

    def num(start: int, size: int) -> np.ndarray:
        out = np.zeros(len(arr), dtype=np.int64)
        for c in range(start, start + size):
            out = out * 10 + digits[:, c]
        return out

    fields = {k: num(p, _FIELD_WIDTH[k]) for k, p in starts.items()}
    year, month, day = fields["Y"], fields["m"], fields["d"]
    hour, minute, second = (fields.get(k, np.zeros(len(arr), dtype=np.int64)) for k in "HMS")
    if ((month < 1) | (month > 12) | (day < 1) | (hour > 23) | (minute > 59) | (second > 59) | (year < 1)).any():
        return None
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    if (days.astype("datetime64[M]") != months).any():  # 31 April and the like
        return None
    us = days.astype("datetime64[us]").astype(np.int64) + ((hour * 60 + minute) * 60 + second) * 1_000_000
    if frac[1]:
        us += num(frac[0], frac[1]) * 10 ** (6 - frac[1])
    if offset_at is not None:
        sign = np.where(signs == ord("-"), -1, 1)
        off_h, off_m = num(offset_at + 1, 2), num(offset_at + 4, 2)
        if ((off_h > 23) | (off_m > 59)).any():
            return None
        us -= sign * (off_h * 60 + off_m) * 60_000_000
    return us.astype("datetime64[us]")


def _parse_text(values: pd.Series, fmt: str, utc: bool) -> pd.Series:
    if fmt not in ("epoch_s", "epoch_ms"):
        fast = _fixed_width(values.tolist(), fmt, utc)
        if fast is not None:
            series = pd.Series(fast, index=values.index)
            return series.dt.tz_localize("UTC") if utc else series
    if fmt in ("epoch_s", "epoch_ms"):
        return pd.to_datetime(pd.to_numeric(values, errors="raise"), unit="s" if fmt == "epoch_s" else "ms", utc=True)
    return pd.to_datetime(values.astype(str), format=None if fmt == "iso" else fmt, utc=utc)


def to_utc(
    rec: Records, preset: Preset, site: Site, refs: list[Any], options: dict[str, Any], received_at: datetime | None
) -> tuple[pd.Series, pd.Series]:
    """Vendor times to UTC instants, and a flag for local times the autumn change made ambiguous.

    Per source: local without offset, local with offset or offset/DST fields, UTC, epoch, or the time the
    body was received. Site option `utc_clock_with_local_offset: true` repairs the Hikvision defect (a UTC
    clock with the local offset appended: the offset is dropped and the clock read as UTC).
    """
    spec = preset.time
    n = rec.n
    no_flag = pd.Series(np.zeros(n, dtype=bool))
    if spec.format == "received":
        when = received_at or datetime.now(UTC)
        return pd.Series(pd.DatetimeIndex([when] * n).tz_convert("UTC")), no_flag
    values = pd.Series(_require(rec.column(preset.fields.interval_start), preset.fields.interval_start), dtype=object)
    epoch = None
    if spec.epoch_field:
        raw = rec.column(spec.epoch_field)
        present = np.array([v is not MISSING and v not in (None, "") for v in raw])
        if present.all():
            return _parse_text(pd.Series(raw, dtype=object), "epoch_s", True), no_flag
        if present.any():
            filled = pd.Series([v if p else 0 for v, p in zip(raw, present, strict=True)])
            epoch = (present, _parse_text(filled, "epoch_s", True))
    if spec.format in ("epoch_s", "epoch_ms") or spec.zone == "utc":
        parsed, flags = _parse_text(values, spec.format, True), no_flag
    elif spec.zone == "offset":
        if options.get("utc_clock_with_local_offset"):
            values = values.astype(str).str.replace(_OFFSET_SUFFIX, "", regex=True)
        parsed, flags = _parse_text(values, spec.format, True), no_flag
    else:
        naive = _parse_text(values, spec.format, False)
        if naive.dt.tz is not None:
            raise ValueError(f"times carry an offset ({values.iloc[0]!r}) but the preset says local time")
        offsets = rec.column(spec.utc_offset_hours) if spec.utc_offset_hours else None
        if offsets is not None and not all(v is MISSING or v is None for v in offsets):
            hours = pd.to_numeric(pd.Series(offsets, dtype=object).replace({MISSING: None}), errors="raise")
            if spec.dst_flag:
                dst = [str(v).strip().lower() in _TRUE for v in rec.column(spec.dst_flag)]
                hours = hours + np.array(dst, dtype=float)
            if hours.isna().any():
                raise ValueError(f"record {int(hours.isna().idxmax())}: missing {spec.utc_offset_hours!r}")
            parsed = (naive - pd.to_timedelta(hours.to_numpy(), unit="h")).dt.tz_localize("UTC")
            flags = no_flag
        else:
            parsed, flags = _localize(naive, site, refs)
    if epoch is not None:
        present, from_epoch = epoch
        parsed = parsed.where(~present, from_epoch)
        flags = flags & ~present
    return parsed.reset_index(drop=True), flags.reset_index(drop=True)


# --- one payload ---------------------------------------------------------------------------------


def parse_payload(site: Site, payload: Payload, options: dict[str, Any] | None = None) -> pd.DataFrame:
    """One body to readings: ref, interval_start (UTC), measures, interval_minutes, ambiguous_time.

    Raises ValueError naming the record and field on any shape it does not know.
    """
    preset = site.preset
    options = site.options() if options is None else options
    doc = decode_document(payload.body, preset)
    rec = select_records(doc, preset)
    for path, wanted in preset.filter.items():
        rec = rec.subset([v is not MISSING and str(v) == wanted for v in rec.column(path)])
    n = rec.n
    refs = _refs(site, preset, rec, doc, payload)
    frame = pd.DataFrame({"ref": refs})
    if n:
        frame["interval_start"], frame["ambiguous_time"] = to_utc(rec, preset, site, refs, options, payload.received_at)
    else:
        frame["interval_start"] = pd.Series([], dtype="datetime64[us, UTC]")
        frame["ambiguous_time"] = pd.Series([], dtype=bool)
    fields = preset.fields
    if fields.label is not None and fields.value is not None:
        labels = rec.column(fields.label)
        values = count_column(rec.column(fields.value), fields.value)
        measure = [preset.labels.get(str(v)) for v in labels]
        if None in measure:
            i = measure.index(None)
            raise ValueError(f"record {i}: label {labels[i]!r} is not one of {', '.join(map(repr, preset.labels))}")
        for m in set(measure):
            frame[m] = np.where(np.array(measure) == m, values, np.nan)
        present = [m for m in MEASURES if m in frame]
        frame = frame.groupby(["ref", "interval_start"], as_index=False, sort=False).agg(
            {**{m: lambda s: s.sum(min_count=1) for m in present}, "ambiguous_time": "any"}
        )
    else:
        for m in MEASURES:
            paths = getattr(fields, m)
            if paths is not None:
                frame[m] = count_column(rec.column(paths), paths)
    frame["interval_minutes"] = interval_minutes(preset, options, doc)
    return frame


def _refs(site: Site, preset: Preset, rec: Records, doc: Any, payload: Payload) -> list[Any]:
    """Device id per record: record field, else payload field, else request, else the site's only counter."""
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
        return [default] * rec.n
    col = rec.column(preset.fields.counter_ref)
    out = []
    for i, v in enumerate(col):
        if v is MISSING or v is None:
            if default is None:
                raise ValueError(f"record {i}: missing {_describe(preset.fields.counter_ref)}")
            out.append(default)
        else:
            out.append(str(v))
    return out


def normalize_counts(site: Site, payloads: Iterable[Payload]) -> pd.DataFrame:
    """Rows of count_interval for these payloads (later payloads win on a repeated interval).

    Finer-than-5-minute data is summed to 5 minutes; coarser data keeps its native length; cumulative
    totals become interval counts and occupancy snapshots the last value per 5 minutes (footfall.semantics).
    Columns are COLUMNS plus `ambiguous_time` (local time in the repeated autumn hour, order unknown).
    """
    options = site.options()
    return _normalize_parsed(site, options, ((p, None) for p in payloads))


def _normalize_parsed(
    site: Site, options: dict[str, Any], parsed: Iterable[tuple[Payload, pd.DataFrame | None]]
) -> pd.DataFrame:
    """normalize_counts on payloads, some already through parse_payload for this site (frame given)."""
    preset = site.preset
    by_ref = {c.ref: c for c in site.counters}
    source = f"{site.source.kind.value}:{preset.name}"
    frames = []
    for payload, given in parsed:
        try:
            frame = parse_payload(site, payload, options) if given is None else given
            unknown = sorted(set(pd.unique(frame["ref"].dropna())) - set(by_ref))
            if unknown:
                raise ValueError(f"device {', '.join(unknown)} is not a counter of this site (check counters[].ref)")
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise ParseError(site.id, source, str(exc), [payload.payload_id]) from None
        if frame.empty:
            continue
        frame["payload_id"] = payload.payload_id
        frames.append(frame)
    if not frames:
        return empty_counts()
    rows = pd.concat(frames, ignore_index=True)
    rows["site_id"] = site.id
    codes, uniques = pd.factorize(rows["ref"])  # a few devices: look each up once, not per row
    rows["counter_id"] = np.array([by_ref[r].id for r in uniques] + [np.nan], dtype=object)[codes]
    flips = np.array([by_ref[r].direction == "swapped" for r in uniques] + [False])
    swapped = pd.Series(flips[codes], index=rows.index)
    if "entries" in rows and "exits" in rows:
        # Column-wise (not .loc setitem): a missing count makes one column object-typed, and pandas 3
        # refuses to set object values into the other, int64, column.
        entries, exits = rows["entries"], rows["exits"]
        rows["entries"], rows["exits"] = entries.where(~swapped, exits), exits.where(~swapped, entries)
    if preset.measure == "cumulative":
        reset = options.get("reset_time")
        rows = semantics.cumulative_to_intervals(
            rows,
            [m for m in ("entries", "exits") if m in rows],
            zone=site.zone,
            native_minutes=float(rows["interval_minutes"].iloc[0]),
            reset_at=_as_time(reset) if reset not in (None, "") else None,
            register_max=int(options["register_max"]) if options.get("register_max") else None,
        )
    elif preset.measure == "occupancy":
        rows = semantics.occupancy_snapshots(rows, BASE_MINUTES)
    fine = rows["interval_minutes"] < BASE_MINUTES
    if fine.any():
        rows = pd.concat([rows[~fine], _sum_to_base(rows[fine])], ignore_index=True)
    # A later payload (a resend, a re-read after a revision) replaces an earlier one's interval.
    if len(frames) > 1:
        last_payload = rows.groupby(["counter_id", "interval_start"])["payload_id"].transform("max")
        rows = rows[rows["payload_id"].eq(last_payload)]
    return _typed(rows)


def _as_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):  # YAML reads 04:00 as sexagesimal minutes
        return time(value // 60, value % 60)
    hh, _, mm = str(value).partition(":")
    return time(int(hh), int(mm or 0))


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


typed_counts = _typed


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


# --- one file, outside any registry (footfall parse, the preset conformance suite) -------------------

CSV_HEADER = ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy"]


def _counter_id(ref: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", ref.lower()).strip("-_")[:63]
    return slug or "counter"


def adhoc_site(preset: str, site_id: str, timezone: str, options: dict[str, Any], refs: Iterable[str]) -> Site:
    """A site made up for one payload file: one counter per device id found (id = slug of the ref)."""
    from footfall.config import load_presets

    kind = load_presets()[preset].kind if preset in load_presets() else "file"
    counters, seen = [], set()
    for ref in refs:
        cid = _counter_id(ref)
        while cid in seen:
            cid = f"{cid[:60]}-{len(seen)}"
        seen.add(cid)
        counters.append({"id": cid, "ref": ref})
    return Site.model_validate(
        {
            "id": site_id,
            "name": site_id,
            "timezone": timezone,
            "counters": counters or [{"id": "counter", "ref": "counter"}],
            "source": {"kind": kind, "preset": preset, "connection_id": "adhoc", "options": options},
        }
    )


def parse_bodies(
    preset: str,
    bodies: list[bytes],
    *,
    site_id: str = "site",
    timezone: str = "UTC",
    options: dict[str, Any] | None = None,
    received_at: datetime | None = None,
) -> pd.DataFrame:
    """Normalized rows of bodies in order (later wins), with counters made up from the device ids found."""
    options = options or {}
    payloads = [Payload(i + 1, body, received_at=received_at) for i, body in enumerate(bodies)]
    probe = adhoc_site(preset, site_id, timezone, options, ["counter"])
    refs: dict[str, None] = {}
    frames = []
    for payload in payloads:
        try:
            frame = parse_payload(probe, payload)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise ParseError(site_id, f"{probe.source.kind.value}:{preset}", str(exc), [payload.payload_id]) from None
        frames.append(frame)
        refs.update(dict.fromkeys(str(r) for r in pd.unique(frame["ref"].dropna())))
    site = adhoc_site(preset, site_id, timezone, options, refs or ["counter"])
    # The probe's frames are the site's own unless a record fell back to the probe's single counter
    # while the real site has several (then parsing again raises, as it should).
    reuse = len(refs) <= 1 or "counter" not in refs
    return _normalize_parsed(
        site, site.options(), zip(payloads, frames if reuse else [None] * len(payloads), strict=True)
    )


def counts_csv(rows: pd.DataFrame) -> str:
    """Rows as a counts CSV (interval_start in UTC ISO 8601, empty cells for absent measures)."""
    out = rows[CSV_HEADER].copy()
    out["interval_start"] = out["interval_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.to_csv(index=False, lineterminator="\n", na_rep="")
