"""Decoders: bytes to a document the generic interpreter can walk (JSON, XML via defusedxml, CSV).

XML versus JSON is a decoder setting, not a separate code path: JSON gives dicts and lists, XML gives
elements (attributes and children are both reached by name), CSV gives a `Table` of columns.
XML is parsed with defusedxml only, so entity expansion and external entities are refused.
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import msgspec
import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


@dataclass(frozen=True)
class Table:
    """A CSV body: header names and one list per column (columns, so mapping them is vectorised)."""

    columns: dict[str, list[str]]
    rows: int
    short: dict[int, int] = field(default_factory=dict)  # row -> cells written, for rows padded with ""


def _head(body: bytes) -> str:
    return body[:60].decode("utf-8", "replace").strip().replace("\n", " ")


def _looks_html(body: bytes) -> bool:
    return body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))


def check_body(body: bytes, max_bytes: int) -> None:
    """Refuse what no decoder should see: an empty body, an oversized one, a binary file."""
    if len(body) > max_bytes:
        raise ValueError(f"body of {len(body)} bytes is over the {max_bytes}-byte limit")
    if not body.strip():
        raise ValueError("empty body")
    if b"\x00" in body[:4096]:
        raise ValueError(f"binary body (NUL bytes), not JSON, XML or CSV text; starts {body[:8]!r}")


_JSON = msgspec.json.Decoder()


_LARGE = 1 << 16  # bytes: from this size a body makes enough containers for collections to start during its parse


@contextmanager
def _no_cycle_collection(body: bytes) -> Iterator[None]:
    """The cycle collector paused while a large document is built: a parse makes a container per element
    (hundreds of thousands in an export) and none of them is part of a cycle, yet every few hundred
    allocations trigger a collection that walks them all again (about a third of an XML export's parse).
    A small body (a live reading) is parsed as it is: the pause would cost more than it saves."""
    if len(body) < _LARGE or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def decode_json(body: bytes) -> Any:
    """JSON as json.loads reads it. msgspec reads it first (1.5 to 2.4 times json's speed on export and push
    bodies); whatever msgspec refuses (NaN, 1e400, lone surrogates, a BOM, an error) is left to json.loads,
    which reads it as it always did or words the error."""
    try:
        with _no_cycle_collection(body):
            return _JSON.decode(body)
    except (msgspec.MsgspecError, RecursionError, ValueError):
        pass
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        hint = " (looks like an HTML page)" if _looks_html(body) else ""
        raise ValueError(
            f"not JSON{hint}: {exc.msg} at line {exc.lineno} column {exc.colno}; starts {_head(body)!r}"
        ) from None
    except RecursionError:
        raise ValueError(f"not JSON: nested too deeply to read; starts {_head(body)!r}") from None
    except ValueError as exc:  # a number of more than 4,300 digits
        raise ValueError(f"not JSON: {exc}; starts {_head(body)!r}") from None


def decode_xml(body: bytes) -> Element:
    """Parse with defusedxml and drop namespaces (Hikvision's xmlns varies by firmware)."""
    if _looks_html(body):
        raise ValueError(f"not XML (looks like an HTML page); starts {_head(body)!r}")
    try:
        with _no_cycle_collection(body):
            root = fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ValueError(f"XML refused (entity expansion or external reference): {type(exc).__name__}") from None
    except ParseError as exc:
        raise ValueError(f"not XML: {exc}; starts {_head(body)!r}") from None
    except (LookupError, ValueError) as exc:  # an encoding declaration Python cannot decode with
        raise ValueError(f"not XML: {exc}; starts {_head(body)!r}") from None
    if b"xmlns" not in body and b"xml:" not in body:  # no namespace declared: no tag has one
        return root
    local: dict[Any, Any] = {}  # each distinct tag's local name, worked out once (a body repeats a few tags)
    for el in root.iter():
        tag = el.tag
        name = local.get(tag)
        if name is None:
            name = local[tag] = tag.partition("}")[2] if isinstance(tag, str) and tag[:1] == "{" else tag
        if name is not tag:
            el.tag = name
    return root


def decode_csv(body: bytes, plain: bool = True) -> Table:
    """A CSV with a header row; a BOM, blank lines and `;` separators are tolerated, ragged rows are not.

    `plain=False` always uses csv.reader (the split reader is checked against it)."""
    if _looks_html(body):
        raise ValueError(f"not CSV (looks like an HTML page); starts {_head(body)!r}")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8 text") from None
    first = text[: text.find("\n")] if "\n" in text else text  # no copy of the rest of the body
    delimiter = ";" if first.count(";") > first.count(",") else ","
    table = _split_plain_csv(text, delimiter, body) if plain else None
    if table is not None:
        return table
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = [r for r in reader if r]
    except csv.Error as exc:  # not a ValueError: worded here so callers see the one error they expect
        raise ValueError(f"not CSV: line {reader.line_num}: {_csv_reason(exc)}; starts {_head(body)!r}") from None
    if not rows:
        raise ValueError("empty CSV")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or not all(header):
        raise ValueError(f"CSV header {rows[0]!r} has empty or repeated names")
    data = rows[1:]
    width = len(header)
    short: dict[int, int] = {}
    for i, row in enumerate(data):
        if len(row) > width:
            raise ValueError(f"CSV line {i + 2}: {len(row)} cells, the header has {width}")
        if len(row) < width:  # a row that stops early (no counts at the end of a day): normalize decides
            short[i] = len(row)
            data[i] = row + [""] * (width - len(row))
    columns = [list(c) for c in zip(*data, strict=True)] if data else [[] for _ in header]
    return Table(dict(zip(header, columns, strict=True)), len(data), short)


def _csv_reason(exc: csv.Error) -> str:
    """csv's message in the data team's words (its hint about opening files does not apply to a body)."""
    text = str(exc)
    if text.startswith("new-line character seen in unquoted field"):
        return "a carriage return (\\r) inside an unquoted field: a lone \\r is not a line break"
    return text


def _split_plain_csv(text: str, delimiter: str, body: bytes = b"") -> Table | None:
    """A CSV without quotes, or with every data field quoted, read by splitting (what csv.reader does on
    such text, in a few C calls): one split into cells, columns by slicing. None when the text has other
    quoting, a lone CR, a NUL, or a row whose width differs from the header's (csv.reader then reads
    it, and words the error). `body`: the bytes `text` was decoded from, when at hand (no copy to check)."""
    if "\x00" in text:
        return None
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    if '"' not in text and text.isascii() and "\n\n" not in text and not text.startswith("\n"):
        return _split_ascii_csv(text, delimiter, body if len(body) == len(text) else text.encode("ascii"))
    lines = text.split("\n")
    if lines[-1] == "":  # the usual final newline
        lines.pop()
    if "" in lines:  # blank lines are left out, as csv.reader does
        lines = [line for line in lines if line]
    if not lines:
        return None
    if '"' in text:
        return _split_quoted_csv(lines, delimiter)
    width = lines[0].count(delimiter) + 1
    if set(map(str.count, lines, itertools.repeat(delimiter))) != {width - 1}:
        return None
    return _columns(lines[0], delimiter.join(lines[1:]), delimiter, width, len(lines) - 1)


def _split_ascii_csv(text: str, delimiter: str, data: bytes) -> Table | None:
    """An ASCII CSV without quotes or blank lines (`data`: the same text as bytes): every row's width is
    checked on the bytes at once (each row's separators must be `width - 1` delimiters then a newline),
    then the rows are split into cells in one call; no list of lines is made."""
    end = text.find("\n")
    head = text if end < 0 else text[:end]
    width = head.count(delimiter) + 1
    first, last = len(head) + 1, len(text) - text.endswith("\n")  # the rows, without the final newline
    if first >= last:
        return _columns(head, "", delimiter, width, 0)
    raw = np.frombuffer(data, dtype=np.uint8)[first:last]
    separators = raw[np.flatnonzero((raw == ord(delimiter)) | (raw == 10))]
    if (len(separators) + 1) % width:  # the last row's newline is not among them
        return None
    separators = np.append(separators, np.uint8(10))
    per_row = separators.reshape(-1, width)
    if (per_row[:, :-1] != ord(delimiter)).any() or (per_row[:, -1] != 10).any():
        return None
    return _columns(head, text[first:last].replace("\n", delimiter), delimiter, width, len(per_row))


def _columns(head: str, cells_text: str, delimiter: str, width: int, rows: int) -> Table | None:
    """The header's names over the cells (`cells_text`: every row's cells joined by the delimiter)."""
    header = [h.strip() for h in head.split(delimiter)]
    if len(set(header)) != len(header) or not all(header):
        return None
    cells = cells_text.split(delimiter) if rows else []
    return Table({name: cells[i::width] for i, name in enumerate(header)}, rows)


def _split_quoted_csv(lines: list[str], delimiter: str) -> Table | None:
    """Rows whose every field is quoted, no quote inside a field (`"Main","2026-11-20","12"`, as portal
    exports write them; the header may also be unquoted): each line holds exactly its fields' quote pairs,
    so stripping the outer quotes and splitting on `","` reads what csv.reader reads."""
    sep = f'"{delimiter}"'
    head = lines[0]
    width = head.count(sep) + 1 if '"' in head else head.count(delimiter) + 1
    if not _all_quoted(lines if '"' in head else lines[1:], width, sep):
        return None
    names = head[1:-1].split(sep) if '"' in head else head.split(delimiter)
    header = [h.strip() for h in names]
    if len(set(header)) != len(header) or not all(header):
        return None
    cells = "\n".join(lines[1:])[1:-1].replace('"\n"', sep).split(sep) if len(lines) > 1 else []
    return Table({name: cells[i::width] for i, name in enumerate(header)}, len(lines) - 1)


def _all_quoted(lines: list[str], width: int, sep: str) -> bool:
    """Every line is `"f1","f2",...` with `width` fields and no other quote (counted in C, line by line)."""
    quote = itertools.repeat('"')
    return (
        set(map(str.count, lines, quote)) <= {2 * width}
        and set(map(str.count, lines, itertools.repeat(sep))) <= {width - 1}
        and all(map(str.startswith, lines, quote))
        and all(map(str.endswith, lines, quote))
    )


DECODERS = {"json": decode_json, "xml": decode_xml, "csv": decode_csv}


def decode(body: bytes, fmt: str, max_bytes: int) -> Any:
    """Bytes to a document, or ValueError saying why not."""
    check_body(body, max_bytes)
    return DECODERS[fmt](body)
