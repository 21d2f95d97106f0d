"""Normalize: turn landed vendor bodies into count_interval rows (UTC, native length >= 5 minutes).

The preset (a data file) says where the records are and what each field means; this module is the one
generic interpreter of that mapping, for JSON, XML and CSV alike (footfall.decode turns bytes into a
document). It works in two steps so that a body costs little more than decoding it: every payload is
read into raw columns (`extract`: one list per field, picked over all records at once), then all
payloads' columns are interpreted as one batch (`interpret`: times, counts, device ids, with numpy),
and the counter semantics and the typed frame are done once on the batch. When the batch fails, each
payload is interpreted alone, in order, so the error names the first payload at fault.
It raises `ParseError` on a shape it does not know (firmware differs: fail loudly, keep the raw), but
leaves value rules (negative counts, times outside the window, duplicates) to the validation suite,
which reports them all at once. Counter semantics live in footfall.semantics.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from operator import itemgetter
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
_UTC_NAMES = {"UTC", "Etc/UTC"}


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
    """The selected records of one document, kept as lists so fields are picked per column.

    `up[k - 1]` gives the enclosing records k levels up (`^` paths): that level's nodes and, per record,
    the position of its enclosing one there. `keys` holds a mapping's keys when the records are its
    `{}` pairs (record i is the pair [keys[i], items[i]], never built).
    """

    doc: Any
    items: list[Any]
    up: list[tuple[list[Any], np.ndarray]] | None = None
    table: Table | None = None
    dicts: bool = False  # every item is a dict (checked once)
    keys: list[Any] | None = None

    @property
    def n(self) -> int:
        return self.table.rows if self.table is not None else len(self.items)

    def subset(self, keep: list[bool]) -> Records:
        if self.table is not None:
            cols = {k: [v for v, k2 in zip(col, keep, strict=True) if k2] for k, col in self.table.columns.items()}
            return Records(self.doc, [], None, Table(cols, sum(keep)))
        items = [v for v, k in zip(self.items, keep, strict=True) if k]
        mask = np.array(keep, dtype=bool)
        up = [(nodes, where[mask]) for nodes, where in self.up] if self.up is not None else None
        keys = [v for v, k in zip(self.keys, keep, strict=True) if k] if self.keys is not None else None
        return Records(self.doc, items, up, dicts=self.dicts, keys=keys)

    def column(self, paths: Paths) -> list[Any]:
        """One value per record for a field (alternatives: the first present wins, per record)."""
        alts = _alternatives(paths)
        col = self._one(alts[0])
        for alt in alts[1:]:
            if _Missing not in set(map(type, col)):
                break
            other = self._one(alt)
            col = [o if v is MISSING else v for v, o in zip(col, other, strict=True)]
        return col

    def _one(self, path: str) -> list[Any]:
        if "{" in path:
            return self._template(path)
        if path.startswith("/"):
            return [lookup(self.doc, path[1:].split("."))] * self.n
        if self.table is not None:
            return self.table.columns.get(path, [MISSING] * self.n)
        ups = len(path) - len(path.lstrip("^"))
        keys = path[ups:].lstrip(".").split(".") if path[ups:].strip(".") else []
        if self.keys is not None:
            return self._pairs(ups, keys)
        if ups == 0:
            return _pick(self.items, keys, self.dicts)
        if self.up is None or ups > len(self.up):
            return [MISSING] * self.n
        nodes, where = self.up[ups - 1]
        values = _pick(nodes, keys, False)
        return list(map(values.__getitem__, where.tolist()))

    def _pairs(self, ups: int, keys: list[str]) -> list[Any]:
        """A field of `{}` pairs: '0' is the key, '1...' looks into the value."""
        assert self.keys is not None
        if ups == 0 and keys == ["0"]:
            return list(self.keys)
        if ups == 0 and keys[:1] == ["1"]:
            return _pick(self.items, keys[1:], False)
        pairs = [[k, v] for k, v in zip(self.keys, self.items, strict=True)]
        return Records(self.doc, pairs)._one("^" * ups + ".".join(keys))

    def _template(self, path: str) -> list[Any]:
        """Fields joined by a template ('{^.Date} {StartTime}'); MISSING where a part is absent."""
        parts = _TEMPLATE.split(path)  # literal, name, literal, name, ...
        cols = [self._one(name) for name in parts[1::2]]
        if not any(MISSING in col or None in col for col in cols):
            pattern = "".join(
                p.replace("{", "{{").replace("}", "}}") if i % 2 == 0 else "{}" for i, p in enumerate(parts)
            )
            return list(map(pattern.format, *cols)) if cols else [path] * self.n
        out = []
        for r in range(self.n):
            pieces = []
            for i, literal in enumerate(parts):
                if i % 2 == 0:
                    pieces.append(literal)
                    continue
                value = cols[i // 2][r]
                if value is MISSING or value is None:
                    pieces = None
                    break
                pieces.append(str(value))
            out.append(MISSING if pieces is None else "".join(pieces))
        return out


def _pick(nodes: list[Any], keys: list[str], dicts: bool) -> list[Any]:
    """The value at `keys` in each node (dicts, lists, XML elements); MISSING where absent."""
    if keys and nodes and type(nodes[0]) is list and all(k.isdigit() for k in keys):
        picked = _index_lists(nodes, [int(k) for k in keys])
        if picked is not None:
            return picked
    if len(keys) == 1 and nodes and type(nodes[0]) is dict:
        key = keys[0]
        if dicts:
            try:
                return [n[key] for n in nodes]
            except KeyError:
                return [n.get(key, MISSING) for n in nodes]
        return [n.get(key, MISSING) if type(n) is dict else lookup(n, keys) for n in nodes]
    return [lookup(n, keys) if n is not MISSING else MISSING for n in nodes]


def _index_lists(nodes: list[Any], indexes: list[int]) -> list[Any] | None:
    """Positions in lists of lists (a mapping's [key, value] pairs), a level at a time; None when any
    node is not a list or too short (lookup then says MISSING where it must)."""
    for i in indexes:
        if set(map(type, nodes)) != {list}:
            return None
        try:
            nodes = [node[i] for node in nodes]
        except IndexError:
            return None
    return nodes


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
        return list(map(list, container.items()))
    if isinstance(container, list):
        return container
    if isinstance(container, dict) and last and one_record and not mode:
        return [container]
    raise ValueError(f"wrong shape: {where or 'the document'} is a {type(container).__name__}, not a list")


def _walk(doc: Any, path: str, one_record: bool) -> Records:
    segments = _segments(path) or [("", "")]
    nested = any(mode for _, mode in segments[:-1])
    nodes: list[Any] = [doc]
    owner: list[int] = [0]  # per node, its position in the last iterated level
    levels: list[tuple[list[Any], list[int]]] = []  # iterated levels: nodes, position of each one's parent
    for i, (name, mode) in enumerate(segments):
        last = i == len(segments) - 1
        where = ".".join(s for s, _ in segments[: i + 1])
        if not (mode or last):
            children = []
            for node in nodes:
                child = node.find(name) if isinstance(node, Element) else lookup(node, [name])
                if child is None or child is MISSING:
                    raise KeyError(f"no {name!r} in {where}")
                children.append(child)
            nodes = children
            continue
        if last and mode == "{}" and not nested and not isinstance(nodes[0], Element):
            container = lookup(nodes[0], [name]) if name else nodes[0]
            if container is MISSING:
                raise KeyError(f"no {name!r} in {where}")
            if not isinstance(container, dict):
                raise ValueError(f"wrong shape: {where} is a {type(container).__name__}, not a mapping")
            return Records(doc, list(container.values()), keys=list(container))
        items: list[Any] = []
        parents: list[int] = []
        for node, at in zip(nodes, owner, strict=True):
            try:
                found = _iterate(node, name, mode, where, one_record, last)
            except KeyError:
                raise KeyError(f"no {name!r} in {where}") from None
            items.extend(found)
            if nested:
                parents.extend([at] * len(found))
        levels.append((items, parents))
        nodes, owner = items, list(range(len(items)))
    if not nested:
        return Records(doc, nodes)
    # For each level above the records: its nodes, and which of them encloses each record.
    up = []
    where = np.arange(len(nodes))
    for k in range(len(levels) - 1, 0, -1):
        where = np.asarray(levels[k][1], dtype=np.int64)[where]
        up.append((levels[k - 1][0], where))
    return Records(doc, nodes, up)


def select_records(doc: Any, preset: Preset) -> Records:
    """The records the preset's `records` path names (first alternative that fits the document)."""
    if isinstance(doc, Table):
        return Records(doc, [], None, doc)
    if preset.hook:
        try:
            doc = hooks.HOOKS[preset.hook](doc)
        except (AttributeError, KeyError, IndexError, TypeError) as exc:  # a hook met a shape it did not expect
            raise ValueError(f"wrong shape for hook {preset.hook}: {type(exc).__name__}: {exc}") from None
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
        if records.up is None and records.keys is None and not pairs and not isinstance(doc, Element):
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


def _require(values: list[Any], paths: Paths) -> list[Any]:
    kinds = set(map(type, values))
    if _Missing not in kinds and type(None) not in kinds:
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


def _localize(naive: np.ndarray, site: Site, keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Site-local wall-clock times (datetime64[us]) to UTC, and the flag for an unordered repeated hour.

    A repeated autumn time listed twice (same payload and device) is summer then winter time.
    """
    if site.timezone in _UTC_NAMES:
        return naive, np.zeros(len(naive), dtype=bool)
    series = pd.Series(naive)
    try:
        # One localisation when no time falls in a repeated autumn hour (the usual case).
        first = series.dt.tz_localize(site.zone, ambiguous="NaT", nonexistent="raise")
        if not (first.isna().to_numpy() & ~np.isnat(naive)).any():
            return _naive_utc(first), np.zeros(len(naive), dtype=bool)
        key = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)} | {"t": naive})
        by = [*(f"k{i}" for i in range(len(keys))), "t"]
        occurrence = key.groupby(by, dropna=False).cumcount().to_numpy()
        repeats = key.groupby(by, dropna=False)["t"].transform("size").to_numpy()
        utc = series.dt.tz_localize(site.zone, ambiguous=occurrence == 0, nonexistent="raise")
    except Exception as exc:  # pandas raises its own NonExistentTimeError for the spring gap
        raise ValueError(f"local time that does not exist in {site.timezone} (spring DST gap): {exc}") from None
    return _naive_utc(utc), first.isna().to_numpy() & (repeats == 1)


def _naive_utc(series: pd.Series) -> np.ndarray:
    """A datetime series (aware or UTC-naive) as datetime64[us] UTC values."""
    if series.dt.tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.dt.as_unit("us").to_numpy()


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


_MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _days_since_epoch(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days from 1970-01-01 of proleptic Gregorian dates, by integer arithmetic (H. Hinnant's days_from_civil)."""
    y = year - (month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _fixed_width(values: list[Any], fmt: str, utc: bool) -> np.ndarray | None:
    """Times in one fixed-width layout parsed with numpy on the whole column (datetime64[us], UTC when
    the text says so), or None when any value does not fit it exactly (pandas then parses, and words errors).

    `fmt` is a strptime format or 'iso' (YYYY-MM-DDTHH:MM:SS, optional fraction, optional Z or +HH:MM,
    the same layout on every value). The column is joined into one ASCII buffer and read as a byte matrix.
    """
    if not values or type(values[0]) is not str:
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
    try:
        text = "".join(values)  # TypeError when a value is not text
    except TypeError:
        return None
    if not text.isascii() or len(text) != width * len(values) or set(map(len, values)) != {width}:
        return None
    codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(len(values), width)
    digits = codes - np.uint8(48)  # wraps round below '0', so one comparison checks 0-9
    digit_cols = [c for c in range(width) if c not in literals and c != offset_at]
    if (digits[:, digit_cols] > 9).any():
        return None
    if literals:
        expected = np.array([ord(ch) for ch in literals.values()], dtype=np.uint8)
        if (codes[:, list(literals)] != expected).any():
            return None
    if offset_at is not None:
        signs = codes[:, offset_at]
        if ((signs != ord("+")) & (signs != ord("-"))).any():
            return None

    def num(start: int, size: int) -> np.ndarray:
        out = digits[:, start].astype(np.int64)
        for c in range(start + 1, start + size):
            out = out * 10 + digits[:, c]
        return out

    fields = {k: num(p, _FIELD_WIDTH[k]) for k, p in starts.items()}
    year, month, day = fields["Y"], fields["m"], fields["d"]
    zero = np.zeros(len(values), dtype=np.int64)
    hour, minute, second = (fields.get(k, zero) for k in "HMS")
    if ((month < 1) | (month > 12) | (day < 1) | (hour > 23) | (minute > 59) | (second > 59) | (year < 1)).any():
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if (day > _MONTH_DAYS[month] - ((month == 2) & ~leap)).any():  # 31 April and the like
        return None
    us = _days_since_epoch(year, month, day) * 86_400_000_000 + ((hour * 60 + minute) * 60 + second) * 1_000_000
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
    """Vendor times to a datetime series (UTC when `utc`), the numpy fast path first, then pandas."""
    if fmt not in ("epoch_s", "epoch_ms"):
        fast = _fixed_width(values.tolist(), fmt, utc)
        if fast is not None:
            series = pd.Series(fast, index=values.index)
            return series.dt.tz_localize("UTC") if utc else series
    if fmt in ("epoch_s", "epoch_ms"):
        return pd.to_datetime(pd.to_numeric(values, errors="raise"), unit="s" if fmt == "epoch_s" else "ms", utc=True)
    return pd.to_datetime(values.astype(str), format=None if fmt == "iso" else fmt, utc=utc)


_EPOCH_US = {"epoch_s": 1_000_000, "epoch_ms": 1_000}
_EPOCH_LIMIT = {"epoch_s": 9_223_372_036, "epoch_ms": 9_223_372_036_854}  # pandas' nanosecond range


def _epoch_times(values: list[Any], fmt: str) -> np.ndarray:
    """Epoch numbers (or digit strings) to datetime64[us] UTC; integers by arithmetic, the rest by pandas."""
    kinds = set(map(type, values))
    whole = None
    if kinds == {int}:
        try:
            whole = np.array(values, dtype=np.int64)
        except OverflowError:
            whole = None
    elif kinds == {str} and (text := "".join(values)).isascii() and text.isdigit():
        lengths = set(map(len, values))
        whole = np.array(values).astype(np.int64) if min(lengths) > 0 and max(lengths) < 19 else None
    if whole is not None and len(whole) and np.abs(whole).max() < _EPOCH_LIMIT[fmt]:
        return (whole * _EPOCH_US[fmt]).view("datetime64[us]")
    return _naive_utc(_parse_text(pd.Series(values, dtype=object), fmt, True))


def _times(values: list[Any], fmt: str, utc: bool, sizes: list[int]) -> tuple[np.ndarray, bool]:
    """Vendor times to datetime64[us] (UTC when they say so), and whether they carried a zone.

    `sizes` splits the column by payload: when the numpy path steps aside, pandas reads each payload
    on its own (its format inference is per body, as when bodies were parsed one at a time).
    """
    if fmt in _EPOCH_US:
        return _epoch_times(values, fmt), True
    fast = _fixed_width(values, fmt, utc)
    if fast is not None:
        return fast, utc
    if len(sizes) > 1:
        parts, aware, at = [], False, 0
        for size in sizes:
            part, part_aware = _times(values[at : at + size], fmt, utc, [size])
            parts.append(part)
            aware = aware or part_aware
            at += size
        return np.concatenate(parts), aware
    series = _parse_text(pd.Series(values, dtype=object), fmt, utc)
    return _naive_utc(series), series.dt.tz is not None


def _per_distinct(values: list[Any], fn: Callable[[Any], Any]) -> np.ndarray:
    """fn over a column (an object array), called once per distinct value: ids, labels and flags repeat."""
    try:
        codes, uniques = pd.factorize(np.fromiter(values, dtype=object, count=len(values)), use_na_sentinel=False)
    except TypeError:  # unhashable values (a list where a label should be): one call each
        return np.fromiter(map(fn, values), dtype=object, count=len(values))
    return np.fromiter(map(fn, uniques), dtype=object, count=len(uniques))[codes]


# --- one payload's records, as raw columns -------------------------------------------------------


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
_PARSE_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)


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


def extract(site: Site, payload: Payload, options: dict[str, Any], minutes: float | Exception | None = None) -> Raw:
    """Decode one body and read its records' fields as raw columns (shape errors raise ValueError).

    `minutes`: the native interval when the preset fixes it (the same for every body of a batch)."""
    preset = site.preset
    doc = decode_document(payload.body, preset)
    rec = select_records(doc, preset)
    for path, wanted in preset.filter.items():
        keep = _per_distinct(rec.column(path), lambda v, wanted=wanted: v is not MISSING and str(v) == wanted)
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
    if set(map(type, col)) == {str}:
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


_ASIDE: Any = object()  # a body the batch decoder leaves to the ordinary one
_SCAN = json.JSONDecoder().scan_once
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


# --- many payloads' raw columns, interpreted at once ------------------------------------------------


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
    if len(column) < 5000:  # a dictionary beats pandas' set-up on a few hundred ids
        index = {}
        small = [index.setdefault(r, len(index)) for r in column]
        return list(index), np.array(small, dtype=np.int64)
    codes, uniques = pd.factorize(np.fromiter(column, dtype=object, count=len(column)))
    return list(uniques), codes.astype(np.int64)


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
        if MISSING not in raw and None not in raw and "" not in raw:
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
                raise ValueError(f"record {int(hours.isna().idxmax())}: missing {spec.utc_offset_hours!r}")
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
        payload, exc = failed
        raise ParseError(site.id, source, str(exc), [payload.payload_id]) from None
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


# --- a site's readings to count_interval rows --------------------------------------------------------


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


@dataclass
class Rows:
    """A site's interval rows as columns: counter codes (in counter id order), UTC starts, measures."""

    counter: np.ndarray
    start: np.ndarray  # datetime64[us], UTC
    payload: np.ndarray
    ambiguous: np.ndarray
    minutes: np.ndarray
    measures: dict[str, np.ndarray]

    def take(self, index: np.ndarray) -> Rows:
        return Rows(
            self.counter[index], self.start[index], self.payload[index], self.ambiguous[index],
            self.minutes[index], {m: v[index] for m, v in self.measures.items()},
        )  # fmt: skip


def _counts(site: Site, options: dict[str, Any], cols: Columns) -> pd.DataFrame:
    """Readings of a site to typed count_interval rows (semantics, 5-minute base, later payload wins)."""
    if not cols.frames:
        return empty_counts()
    preset = site.preset
    by_ref = {c.ref: c for c in site.counters}
    id_of_ref = [by_ref[r].id if r in by_ref else None for r in cols.refs]
    ids = sorted({cid for cid in id_of_ref if cid is not None})
    rank = {cid: i for i, cid in enumerate(ids)}
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


def _integers_or_floats(values: np.ndarray) -> Any:
    """Counts as nullable integers when they are whole numbers; floats stay floats for validation to reject."""
    missing = np.isnan(values)
    known = np.where(missing, 0.0, values)
    if len(known) and not np.abs(known).max() < 2**62:  # infinite or huge: pandas' casts decide (and raise)
        floats = pd.Series(values).astype("Float64")
        return (floats.astype("Int64") if (floats.dropna() % 1 == 0).all() else floats).array
    whole = known.astype(np.int64)
    if (whole == known).all():
        return pd.arrays.IntegerArray(whole, missing)
    return pd.arrays.FloatingArray(known, missing)


_TEXT = pd.StringDtype(na_value=np.nan)  # what .astype(str) gives: the `str` dtype


def _frame(site_id: str, counter_ids: list[str], rows: Rows) -> pd.DataFrame:
    """The count_interval frame, built once from columns (dtypes as `typed_counts` gives them)."""
    n = len(rows.start)
    minutes = rows.minutes
    whole_minutes = (minutes % 1 == 0).all()
    data = {
        # Few distinct ids: made text once each, then taken per row.
        "site_id": pd.array([site_id], dtype=_TEXT).take(np.zeros(n, dtype=np.intp)),
        "counter_id": pd.array(counter_ids or [""], dtype=_TEXT).take(rows.counter),
        "interval_start": pd.array(rows.start).tz_localize("UTC"),
        "interval_minutes": (
            pd.arrays.IntegerArray(minutes.astype(np.int64), np.zeros(n, dtype=bool)) if whole_minutes else minutes
        ),
    }
    for m in MEASURES:
        data[m] = (
            _integers_or_floats(rows.measures[m])
            if m in rows.measures
            else pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
        )
    data["payload_id"] = rows.payload.astype(np.int64)
    data["ambiguous_time"] = rows.ambiguous.astype(bool)
    return pd.DataFrame(data, copy=False)  # every column is a fresh array


def _as_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):  # YAML reads 04:00 as sexagesimal minutes
        return time(value // 60, value % 60)
    hh, _, mm = str(value).partition(":")
    return time(int(hh), int(mm or 0))


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


def _adhoc_read(
    preset: str, payloads: list[Payload], site_id: str, timezone: str, options: dict[str, Any]
) -> tuple[Site, Columns]:
    """Read bodies for a made-up site: a probe with one counter finds the device ids, the site gets those."""
    probe = adhoc_site(preset, site_id, timezone, options, ["counter"])
    cols = read_payloads(probe, payloads, probe.options(), check_devices=False)
    refs = [cols.refs[code] for code in pd.unique(cols.ref)]
    site = adhoc_site(preset, site_id, timezone, options, refs or ["counter"])
    # The probe's readings are the site's own unless a record fell back to the probe's single counter
    # while the real site has several (then reading again raises, as it should).
    if len(refs) > 1 and "counter" in refs:
        cols = read_payloads(site, payloads, site.options())
    return site, cols


def site_of_bodies(
    preset: str,
    bodies: list[bytes],
    *,
    site_id: str = "site",
    timezone: str = "UTC",
    options: dict[str, Any] | None = None,
    received_at: datetime | None = None,
) -> Site:
    """The made-up site `parse_bodies` normalizes into: one counter per device id the bodies carry."""
    payloads = [Payload(i + 1, body, received_at=received_at) for i, body in enumerate(bodies)]
    return _adhoc_read(preset, payloads, site_id, timezone, options or {})[0]


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
    payloads = [Payload(i + 1, body, received_at=received_at) for i, body in enumerate(bodies)]
    site, cols = _adhoc_read(preset, payloads, site_id, timezone, options or {})
    return _counts(site, site.options(), cols)


def counts_csv(rows: pd.DataFrame) -> str:
    """Rows as a counts CSV (interval_start in UTC ISO 8601, empty cells for absent measures)."""
    out = rows[CSV_HEADER].copy()
    out["interval_start"] = out["interval_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.to_csv(index=False, lineterminator="\n", na_rep="")
