"""Reading exports: a counts CSV (plain or .gz) or XLSX streamed in blocks, each block's rows routed to
their chunks and landed as raw CSV payloads, and those payloads read back into count rows.

The counts CSV is a format like a vendor preset's, entering through one named reader
(`IMPORT_FORMATS`): rows are checked with the file and line of the first bad value.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from footfall.config import Site
from footfall.errors import ParseError
from footfall.imports.plan import ChunkPlan
from footfall.normalize import BASE_MINUTES, Payload, empty_counts, typed_counts
from footfall.sources.base import Fetched
from footfall.warehouse.landing import ensure_site, land_bodies
from footfall.warehouse.schema import COUNT_COLUMNS, MEASURED_COLUMNS

COUNTS_HEADER = list(COUNT_COLUMNS)
BLOCK_ROWS = 100_000  # rows read, routed and landed at a time: what bounds memory
OFFSET = r"(?:Z|[+-]\d\d(?::?\d\d)?)$"
OFFSET_RE = re.compile(OFFSET)


@dataclass
class Block:
    """Consecutive data rows of an export: the raw lines, their line numbers in the file, parsed fields."""

    header: str
    lines: np.ndarray  # object array of str, without newlines
    numbers: np.ndarray  # int64
    fields: pd.DataFrame  # strings, one column per header name


def _check_header(columns: list[str]) -> None:
    missing = [c for c in ("counter_id", "interval_start") if c not in columns]
    if missing:
        raise ValueError(f"line 1: header lacks {', '.join(missing)} (expected {','.join(COUNTS_HEADER)})")


def _parse_lines(header: str, lines: list[str]) -> pd.DataFrame:
    """CSV lines to string fields (the C parser: the per-row csv module was the bottleneck)."""
    text = header + "\n" + "\n".join(lines) + "\n"
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False)


def read_blocks(path: Path, block_rows: int = BLOCK_ROWS) -> Iterator[Block]:
    """A counts CSV (plain or .gz) or XLSX, streamed in blocks of rows; blank lines are skipped.

    Blocks are whole physical lines, so each row keeps its exact line number for error messages.
    """
    if path.suffix.lower() == ".xlsx":
        yield from _xlsx_blocks(path, block_rows)
        return
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        header = handle.readline().rstrip("\r\n")
        columns = _parse_lines(header, []).columns.str.strip().tolist()
        _check_header(columns)
        number = 2
        while lines := [line.rstrip("\r\n") for line in islice(handle, block_rows)]:
            numbers = np.arange(number, number + len(lines), dtype=np.int64)
            number += len(lines)
            raw = np.array(lines, dtype=object)
            keep = raw != ""
            raw, numbers = raw[keep], numbers[keep]
            if not len(raw):
                continue
            fields = _parse_lines(header, raw.tolist())
            if len(fields) != len(raw):
                raise ValueError(f"{path.name}: lines {numbers[0]}-{numbers[-1]}: a quoted field spans lines")
            fields.columns = columns
            yield Block(header, raw, numbers, fields)


def _xlsx_blocks(path: Path, block_rows: int) -> Iterator[Block]:
    """XLSX rows as the CSV lines the analyst could have exported, with their sheet row numbers."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.active
        if sheet is None or not hasattr(sheet, "iter_rows"):
            raise ValueError(f"{path.name}: the workbook has no worksheet to read")
        rows = sheet.iter_rows(values_only=True)
        columns = [str(h).strip() for h in next(rows)]
        _check_header(columns)
        header = _csv_line(columns)
        cells: list[list[str]] = []
        numbers: list[int] = []
        for number, values in enumerate(rows, start=2):
            row = ["" if v is None else (v.isoformat() if isinstance(v, datetime) else str(v)) for v in values]
            if any(row):
                cells.append((row + [""] * len(columns))[: len(columns)])
                numbers.append(number)
            if len(cells) >= block_rows:
                yield _sheet_block(header, columns, cells, numbers)
                cells, numbers = [], []
        if cells:
            yield _sheet_block(header, columns, cells, numbers)
    finally:
        book.close()


def _csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def _sheet_block(header: str, columns: list[str], cells: list[list[str]], numbers: list[int]) -> Block:
    lines = np.array([_csv_line(row) for row in cells], dtype=object)
    return Block(header, lines, np.array(numbers, dtype=np.int64), pd.DataFrame(cells, columns=columns, dtype=str))


def row_instants(site: Site, source: str, name: str, block: Block) -> np.ndarray:
    """interval_start of every row as UTC epoch nanoseconds; a row without a readable instant names its line."""
    text = block.fields["interval_start"].str.strip()
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    if parsed.isna().any():  # a spelling the ISO 8601 reader missed: read it as before
        parsed = pd.to_datetime(
            text.str.replace("Z", "+00:00", regex=False), utc=True, format="ISO8601", errors="coerce"
        )
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        reason = f"interval_start {text.iloc[i]!r} is not an ISO 8601 instant"
        raise ParseError(site.id, source, f"{name}: line {block.numbers[i]}: {reason}")
    naive = ~has_offset(text)
    if naive.any():
        i = int(np.argmax(naive))
        reason = f"interval_start {text.iloc[i]!r} has no UTC offset"
        raise ParseError(site.id, source, f"{name}: line {block.numbers[i]}: {reason}")
    return pd.DatetimeIndex(parsed).as_unit("ns").asi8


def has_offset(text: pd.Series) -> np.ndarray:
    """Which stripped instants end with a UTC offset. OFFSET matches at most the last 6 characters, so
    it is tried once per distinct ending (a regex per row was the slowest step of reading a file)."""
    codes, endings = pd.factorize(text.str[-6:])
    known = np.array([OFFSET_RE.search(ending) is not None for ending in endings], dtype=bool)
    return known[codes]


def chunk_index(plans: list[ChunkPlan], instants: np.ndarray) -> np.ndarray:
    """Index of the plan holding each instant, -1 outside the planned range (a vectorised bisect)."""
    starts = np.array([pd.Timestamp(p.start).value for p in plans], dtype=np.int64)
    ends = np.array([pd.Timestamp(p.end).value for p in plans], dtype=np.int64)
    index = np.searchsorted(starts, instants, side="right") - 1
    inside = (index >= 0) & (instants < ends[np.maximum(index, 0)])
    return np.where(inside, index, -1)


def chunk_body(source: str, header: str, numbers: np.ndarray, lines: np.ndarray) -> bytes:
    """A landed chunk: the analyst's own lines as sent, each prefixed with its line number in the export.

    The first line names the import's source, so two exports with some identical lines never share
    a payload (payloads are stored once per sha256 and counter_ref, and a chunk finds its payloads by source).
    """
    rows = [f"{n},{line}" for n, line in zip(numbers.tolist(), lines.tolist(), strict=True)]
    return (f"# {source}\nline,{header}\n" + "\n".join(rows) + "\n").encode()


def land_chunks(engine: Engine, site: Site, items: list[tuple[ChunkPlan, Fetched]]) -> list[int]:
    """The block's chunk bodies landed in one transaction and two statements (gzip, once per sha256 and counter_ref)."""
    with engine.begin() as conn:
        ensure_site(conn, site)
        return land_bodies(
            conn,
            site_id=site.id,
            source=items[0][0].source if items else "",
            received_at=datetime.now(UTC),
            bodies=[
                (
                    answer.body,
                    {
                        "request": answer.request,
                        "window_start": plan.start,
                        "window_end": plan.end,
                        "content_type": answer.content_type,
                    },
                )
                for plan, answer in items
            ],
        )


def split_file(
    site: Site, path: Path, plans: list[ChunkPlan], engine: Engine, progress: Callable[[int], object] | None = None
) -> dict[datetime, list[int]]:
    """One streaming pass over the export: each block's rows are routed to their chunks and landed as
    raw CSV payloads (the lines as sent, with their line numbers), so memory stays bounded whatever
    the file size. Rows outside the planned range are ignored; a row whose time cannot be read
    names the file and the line."""
    landed: dict[datetime, list[int]] = {p.start: [] for p in plans}
    for block in read_blocks(path):
        chunk = chunk_index(plans, row_instants(site, plans[0].source, path.name, block))
        order = np.argsort(chunk, kind="stable")  # file order within each chunk
        bounds = np.searchsorted(chunk[order], np.arange(len(plans) + 1))
        items = []
        for i in np.flatnonzero(np.diff(bounds)):
            rows = order[bounds[i] : bounds[i + 1]]
            numbers = block.numbers[rows]
            request = f"file {path.name} lines {numbers.min()}-{numbers.max()}"
            body = chunk_body(plans[i].source, block.header, numbers, block.lines[rows])
            items.append((plans[i], Fetched(None, request, None, "text/csv", body)))
        for (plan, _), payload_id in zip(items, land_chunks(engine, site, items), strict=True):
            landed[plan.start].append(payload_id)
        if progress:
            progress(len(block.lines))
    return landed


def _file_rows(payloads: list[Payload]) -> pd.DataFrame:
    """Landed chunks back to string fields, with their payload_id; bodies sharing a header are parsed
    in one read_csv (bodies landed before CSV landing were JSON: still read)."""
    frames: list[pd.DataFrame] = []
    groups: dict[bytes, list[tuple[int, bytes]]] = {}
    for payload in payloads:
        if payload.body.startswith(b"{"):
            doc = json.loads(payload.body)
            frames.append(pd.DataFrame.from_records(doc["rows"]).astype(str).assign(payload_id=payload.payload_id))
            continue
        body = payload.body.partition(b"\n")[2] if payload.body.startswith(b"# ") else payload.body
        header, _, rows = body.partition(b"\n")
        groups.setdefault(header, []).append((payload.payload_id, rows))
    for header, bodies in groups.items():
        text = header + b"\n" + b"".join(rows for _, rows in bodies)
        frame = pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False, na_filter=False)
        frame.columns = frame.columns.str.strip()
        counts = [rows.count(b"\n") for _, rows in bodies]
        if len(frame) != sum(counts) and len(payloads) > 1:  # a stray carriage return: parse body by body
            return pd.concat([_file_rows([p]) for p in payloads], ignore_index=True)
        frame["payload_id"] = np.repeat([i for i, _ in bodies], counts) if len(payloads) > 1 else bodies[0][0]
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def file_name(source: str) -> str:
    """The export's name in a plan source `file:<name>:<hash>`."""
    return source.removeprefix("file:").rsplit(":", 1)[0]


def _said(column: str, what: str, row: pd.Series) -> str:
    return f"{column} {row[column]!r} {what}"


def normalize_file_rows(site: Site, payloads: list[Payload], name: str = "export") -> pd.DataFrame:
    """Counts-CSV rows landed by `split_file` to count_interval rows.

    Row-level faults are reported with the file and line (a GX failure could only show values);
    the same suite then runs on the whole batch, as for live data.
    """
    counters = {c.id for c in site.counters}
    rows = _file_rows(payloads)
    if rows.empty:
        return empty_counts()
    for column in COUNTS_HEADER:
        if column not in rows:
            rows[column] = ""

    def fail(mask: pd.Series, reason: Callable[[pd.Series], str]) -> None:
        if mask.any():
            bad = rows[mask].iloc[0]
            raise ParseError(
                site.id,
                f"file:{name}",
                f"{name}: line {bad['line']}: {reason(bad)}",
                sorted(set(rows.loc[mask, "payload_id"].astype(int))),
            )

    # Each column is first read as it is (fast); only a column with something odd in it (spaces, text)
    # is read again stripped, as the analyst means it, and its first bad value named with its line.
    if not rows["site_id"].isin(["", site.id]).all():
        site_ids = rows["site_id"].str.strip()
        fail(site_ids.ne("") & site_ids.ne(site.id), lambda r: f"site_id {r['site_id']!r} is not {site.id}")
    fail(~rows["counter_id"].isin(counters), lambda r: f"counter_id {r['counter_id']!r} is not a counter of {site.id}")
    for column in MEASURED_COLUMNS:
        values = pd.to_numeric(rows[column], errors="coerce")
        if (values.isna() & rows[column].ne("")).any():
            text = rows[column].str.strip()
            values = pd.to_numeric(text.where(text != ""), errors="coerce")
            fail(text.ne("") & values.isna(), partial(_said, column, "is not a number"))
        fail(values.lt(0), partial(_said, column, "is negative"))
        fail(values.notna() & values.mod(1).ne(0), partial(_said, column, "is not a whole number"))
        rows[column] = values
    starts = pd.to_datetime(rows["interval_start"], utc=True, format="ISO8601", errors="coerce")
    if starts.isna().any():
        starts = pd.to_datetime(
            rows["interval_start"].str.strip().str.replace("Z", "+00:00", regex=False), utc=True, format="ISO8601"
        )
    rows["interval_start"] = starts
    rows["interval_minutes"] = rows["interval_minutes"].fillna(BASE_MINUTES)
    key = ["counter_id", "interval_start"]
    if rows.duplicated(key).any():  # the same interval twice: the later landed payload wins, as for live data
        rows = rows[rows["payload_id"].eq(rows.groupby(key)["payload_id"].transform("max"))]
    return typed_counts(rows)


def file_date_range(site: Site, path: Path) -> tuple[date, date]:
    """First and last local date in an export (one streaming pass), when the analyst gave no range."""
    first = last = None
    for block in read_blocks(path):
        text = block.fields["interval_start"].str.strip()
        text = text[has_offset(text)].str.replace("Z", "+00:00", regex=False)
        instants = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce").dropna()
        if len(instants):
            first = instants.min() if first is None else min(first, instants.min())
            last = instants.max() if last is None else max(last, instants.max())
    if first is None or last is None:
        raise ParseError(site.id, f"file:{path.name}", f"{path.name}: no row with a readable interval_start")
    return first.tz_convert(site.zone).date(), last.tz_convert(site.zone).date()


COUNTS_CSV = "footfall_counts_csv"
# Readers of landed import chunks by format name (the counts CSV is the one an analyst exports).
IMPORT_FORMATS: dict[str, Callable[..., pd.DataFrame]] = {COUNTS_CSV: normalize_file_rows}
