"""History imports: months or years of counts from a site's API or from an export file, in chunks.

An import is planned as chunks of whole local days (a day or a week each). A file is read once,
streamed in blocks of rows, and each chunk's rows are landed as raw payloads (so the import can
be re-processed without the file); each chunk is then normalized, validated and loaded like live
data, replacing exactly its window. `import_chunk` records every chunk's outcome, so a re-run
skips the chunks already done: an import interrupted half-way and run again ends identical to
one that never stopped. `run_imports` runs many sites' imports, two at a time in their own processes.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from footfall import db
from footfall.config import Site
from footfall.errors import FootfallError, ParseError, SiteDataError
from footfall.extract import Fetched, ensure_site
from footfall.normalize import BASE_MINUTES, Payload, empty_counts, typed_counts
from footfall.pipeline import process_payloads, sync_window, warm_up
from footfall.timewindow import Window, local_midnight

log = logging.getLogger(__name__)

COUNTS_HEADER = ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy"]
BLOCK_ROWS = 100_000  # rows read, routed and landed at a time: what bounds memory
BATCH_BYTES = 8 << 20  # landed CSV text per normalize -> validate -> load -> checks call (~120k rows, ~250 MiB)
BATCH_DAYS = 366  # and at most a year of chunks
CHUNK_DAYS = {"day": 1, "week": 7}


@dataclass(frozen=True)
class ChunkPlan:
    """One unit of an import: a window of whole local days, and where its data comes from."""

    import_id: str
    site_id: str
    start: datetime
    end: datetime
    source: str  # "api" or "file:<name>"

    def window(self) -> Window:
        return Window(self.start, self.end)

    def to_dict(self) -> dict[str, str]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> ChunkPlan:
        return cls(
            data["import_id"],
            data["site_id"],
            datetime.fromisoformat(data["start"]),
            datetime.fromisoformat(data["end"]),
            data["source"],
        )


def plan_chunks(site: Site, first_day: date, last_day: date, source: str, chunk: str = "day") -> list[ChunkPlan]:
    """Whole local days [first_day, last_day] in chunks of a day or a week (DST days are 23 or 25 h)."""
    if last_day < first_day:
        raise ValueError(f"import range ends ({last_day}) before it starts ({first_day})")
    step = CHUNK_DAYS[chunk]
    import_id = hashlib.sha256(f"{site.id}|{source}|{first_day}|{last_day}|{chunk}".encode()).hexdigest()[:16]
    plans, day = [], first_day
    while day <= last_day:
        nxt = min(day + timedelta(days=step), last_day + timedelta(days=1))
        plans.append(
            ChunkPlan(import_id, site.id, local_midnight(day, site.zone), local_midnight(nxt, site.zone), source)
        )
        day = nxt
    return plans


def done_chunks(engine: Engine, import_id: str) -> set[datetime]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.import_chunk.c.chunk_start).where(
                db.import_chunk.c.import_id == import_id, db.import_chunk.c.status == "done"
            )
        )
        return {r[0] for r in rows}


def record_chunk(engine: Engine, plan: ChunkPlan, status: str, rows: int = 0, error: str | None = None) -> None:
    values = {
        "status": status,
        "rows_loaded": rows,
        "error": error[:4000] if error else None,
        "finished_at": datetime.now(UTC),
    }
    key = (db.import_chunk.c.import_id == plan.import_id) & (db.import_chunk.c.chunk_start == plan.start)
    with engine.begin() as conn:
        if conn.execute(db.import_chunk.update().where(key).values(**values)).rowcount == 0:
            conn.execute(
                db.import_chunk.insert().values(
                    import_id=plan.import_id,
                    chunk_start=plan.start,
                    chunk_end=plan.end,
                    site_id=plan.site_id,
                    source=plan.source,
                    **values,
                )
            )


def record_done(engine: Engine, plans: list[ChunkPlan], rows: list[int]) -> None:
    """record_chunk(..., "done") for a whole batch in one transaction (one row per chunk, as before)."""
    t = db.import_chunk
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            t.delete().where(t.c.import_id == plans[0].import_id, t.c.chunk_start.in_([p.start for p in plans]))
        )
        conn.execute(
            t.insert(),
            [
                {
                    "import_id": p.import_id,
                    "chunk_start": p.start,
                    "chunk_end": p.end,
                    "site_id": p.site_id,
                    "source": p.source,
                    "status": "done",
                    "rows_loaded": n,
                    "error": None,
                    "finished_at": now,
                }
                for p, n in zip(plans, rows, strict=True)
            ],
        )


# --- files ----------------------------------------------------------------------------------------

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


def _read_blocks(path: Path, block_rows: int = BLOCK_ROWS) -> Iterator[Block]:
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
        rows = book.active.iter_rows(values_only=True)
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


def _instants(site: Site, source: str, name: str, block: Block) -> np.ndarray:
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
    naive = ~_has_offset(text)
    if naive.any():
        i = int(np.argmax(naive))
        reason = f"interval_start {text.iloc[i]!r} has no UTC offset"
        raise ParseError(site.id, source, f"{name}: line {block.numbers[i]}: {reason}")
    return pd.DatetimeIndex(parsed).as_unit("ns").asi8


def _has_offset(text: pd.Series) -> np.ndarray:
    """Which stripped instants end with a UTC offset. OFFSET matches at most the last 6 characters, so
    it is tried once per distinct ending (a regex per row was the slowest step of reading a file)."""
    codes, endings = pd.factorize(text.str[-6:])
    known = np.array([OFFSET_RE.search(ending) is not None for ending in endings], dtype=bool)
    return known[codes]


def _chunk_index(plans: list[ChunkPlan], instants: np.ndarray) -> np.ndarray:
    """Index of the plan holding each instant, -1 outside the planned range (a vectorised bisect)."""
    starts = np.array([pd.Timestamp(p.start).value for p in plans], dtype=np.int64)
    ends = np.array([pd.Timestamp(p.end).value for p in plans], dtype=np.int64)
    index = np.searchsorted(starts, instants, side="right") - 1
    inside = (index >= 0) & (instants < ends[np.maximum(index, 0)])
    return np.where(inside, index, -1)


def _body(source: str, header: str, numbers: np.ndarray, lines: np.ndarray) -> bytes:
    """A landed chunk: the analyst's own lines as sent, each prefixed with its line number in the export.

    The first line names the import's source, so two exports with some identical lines never share
    a payload (payloads are stored once per sha256 and counter_ref, and a chunk finds its payloads by source).
    """
    rows = [f"{n},{line}" for n, line in zip(numbers.tolist(), lines.tolist(), strict=True)]
    return (f"# {source}\nline,{header}\n" + "\n".join(rows) + "\n").encode()


def _land(engine: Engine, site: Site, items: list[tuple[ChunkPlan, Fetched]]) -> list[int]:
    """The block's chunk bodies landed in one transaction and two statements (gzip, once per sha256 and counter_ref)."""
    with engine.begin() as conn:
        ensure_site(conn, site)
        return db.land_bodies(
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
    site: Site, path: Path, plans: list[ChunkPlan], engine: Engine, progress: Callable[[int], None] | None = None
) -> dict[datetime, list[int]]:
    """One streaming pass over the export: each block's rows are routed to their chunks and landed as
    raw CSV payloads (the lines as sent, with their line numbers), so memory stays bounded whatever
    the file size. Rows outside the planned range are ignored; a row whose time cannot be read
    names the file and the line."""
    landed: dict[datetime, list[int]] = {p.start: [] for p in plans}
    for block in _read_blocks(path):
        chunk = _chunk_index(plans, _instants(site, plans[0].source, path.name, block))
        order = np.argsort(chunk, kind="stable")  # file order within each chunk
        bounds = np.searchsorted(chunk[order], np.arange(len(plans) + 1))
        items = []
        for i in np.flatnonzero(np.diff(bounds)):
            rows = order[bounds[i] : bounds[i + 1]]
            numbers = block.numbers[rows]
            request = f"file {path.name} lines {numbers.min()}-{numbers.max()}"
            body = _body(plans[i].source, block.header, numbers, block.lines[rows])
            items.append((plans[i], Fetched(None, request, None, "text/csv", body)))
        for (plan, _), payload_id in zip(items, _land(engine, site, items), strict=True):
            landed[plan.start].append(payload_id)
        if progress:
            progress(len(block.lines))
    return landed


def _file_rows(payloads: list[Payload]) -> pd.DataFrame:
    """Landed chunks back to string fields, with their payload_id; bodies sharing a header are parsed
    in one read_csv (bodies landed before CSV landing were JSON: still read)."""
    frames, groups = [], {}
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
    for column in ("interval_minutes", "entries", "exits", "occupancy"):
        values = pd.to_numeric(rows[column], errors="coerce")
        if (values.isna() & rows[column].ne("")).any():
            text = rows[column].str.strip()
            values = pd.to_numeric(text.where(text != ""), errors="coerce")
            fail(text.ne("") & values.isna(), lambda r, c=column: f"{c} {r[c]!r} is not a number")
        fail(values.lt(0), lambda r, c=column: f"{c} {r[c]!r} is negative")
        fail(values.notna() & values.mod(1).ne(0), lambda r, c=column: f"{c} {r[c]!r} is not a whole number")
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


def _normalizer(plan: ChunkPlan) -> Callable[[Site, list[Payload]], pd.DataFrame]:
    return partial(normalize_file_rows, name=file_name(plan.source))


def run_chunk(site: Site, plan: ChunkPlan, *, engine: Engine, run_id: str) -> dict[str, Any]:
    """Load one planned chunk (from the API, or from the file rows landed for it); skip it if done."""
    if plan.start in done_chunks(engine, plan.import_id):
        return {"chunk": plan.start.isoformat(), "status": "skipped (already done)"}
    started = datetime.now(UTC)
    try:
        if plan.source == "api":
            result = sync_window(site, plan.window(), engine=engine, run_id=run_id)
        else:
            payloads = landed_for_chunk(engine, site, plan)
            result = process_payloads(
                site,
                plan.window(),
                payloads,
                engine=engine,
                run_id=run_id,
                started=started,
                normalize=_normalizer(plan),
            )
    except SiteDataError as exc:
        record_chunk(engine, plan, "failed", error=str(exc))
        raise
    record_chunk(engine, plan, "done", rows=result.rows_loaded)
    return {"chunk": plan.start.isoformat(), "status": "done", "rows_loaded": result.rows_loaded}


def landed_for_chunk(engine: Engine, site: Site, plan: ChunkPlan, last: ChunkPlan | None = None) -> list[Payload]:
    """Payloads landed for a chunk (or for the consecutive chunks plan..last), in landing order."""
    t = db.raw_payload
    end = (last or plan).start
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.payload_id, t.c.body)
            .where(
                t.c.site_id == site.id,
                t.c.source == plan.source,
                t.c.window_start >= plan.start,
                t.c.window_start <= end,
            )
            .order_by(t.c.payload_id)
        ).all()
    return [Payload(r.payload_id, gzip.decompress(r.body)) for r in rows]


def plan_import(
    site: Site,
    first_day: date,
    last_day: date,
    *,
    engine: Engine,
    file: Path | None = None,
    chunk: str = "day",
    progress: Callable[[int], None] | None = None,
) -> list[ChunkPlan]:
    """Plan the chunks; for a file, also land its rows per chunk (one streaming pass)."""
    if file is None:
        return plan_chunks(site, first_day, last_day, "api", chunk)
    file_hash = hashlib.sha256(
        file.read_bytes()
        if file.stat().st_size < 1 << 20
        else f"{file.resolve()}|{file.stat().st_size}|{file.stat().st_mtime_ns}".encode()
    )
    source = f"file:{file.name}:{file_hash.hexdigest()[:12]}"
    plans = plan_chunks(site, first_day, last_day, source, chunk)
    done = done_chunks(engine, plans[0].import_id)
    if not all(p.start in done for p in plans):
        split_file(site, file, plans, engine, progress)
    return plans


def file_date_range(site: Site, path: Path) -> tuple[date, date]:
    """First and last local date in an export (one streaming pass), when the analyst gave no range."""
    first = last = None
    for block in _read_blocks(path):
        text = block.fields["interval_start"].str.strip()
        text = text[_has_offset(text)].str.replace("Z", "+00:00", regex=False)
        instants = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce").dropna()
        if len(instants):
            first = instants.min() if first is None else min(first, instants.min())
            last = instants.max() if last is None else max(last, instants.max())
    if first is None or last is None:
        raise ParseError(site.id, f"file:{path.name}", f"{path.name}: no row with a readable interval_start")
    return first.tz_convert(site.zone).date(), last.tz_convert(site.zone).date()


def landed_bytes(engine: Engine, site: Site, source: str) -> dict[datetime, int]:
    """Uncompressed bytes landed per chunk start: what sizes a batch of chunks."""
    t = db.raw_payload
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.window_start, func.sum(t.c.body_bytes))
            .where(t.c.site_id == site.id, t.c.source == source)
            .group_by(t.c.window_start)
        )
        return {start: int(size or 0) for start, size in rows}


def batches(plans: list[ChunkPlan], done: set[datetime], sizes: dict[datetime, int]) -> list[list[ChunkPlan]]:
    """Runs of consecutive pending chunks, each at most BATCH_BYTES of landed rows and BATCH_DAYS long.

    Chunks are contiguous, so a batch's window is exactly the union of its chunks' windows.
    """
    out: list[list[ChunkPlan]] = []
    current: list[ChunkPlan] = []
    size = 0
    for plan in plans:
        if plan.start in done:
            current, size = _close(out, current), 0
            continue
        chunk_bytes = sizes.get(plan.start, 0)
        too_long = current and plan.end - current[0].start > timedelta(days=BATCH_DAYS)
        if current and (size + chunk_bytes > BATCH_BYTES or too_long):
            current, size = _close(out, current), 0
        current.append(plan)
        size += chunk_bytes
    _close(out, current)
    return out


def _close(out: list[list[ChunkPlan]], current: list[ChunkPlan]) -> list[ChunkPlan]:
    if current:
        out.append(current)
    return []


def run_batch(site: Site, batch: list[ChunkPlan], *, engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """Several consecutive file chunks through one normalize -> validate -> load -> checks call.

    The GX suite and the quality checks have a fixed cost per call, so a year of day chunks is
    loaded in a few calls; each chunk still gets its own import_chunk row. If the batch fails, the
    chunks before the bad one are loaded and the bad one is run alone, so it fails with its file,
    line and reason and nothing of it loads, exactly as without batching.
    """
    if not batch:
        return []
    if len(batch) == 1 or batch[0].source == "api":
        return [run_chunk(site, plan, engine=engine, run_id=run_id) for plan in batch]
    window = Window(batch[0].start, batch[-1].end)
    payloads = landed_for_chunk(engine, site, batch[0], batch[-1])
    seen: list[pd.DataFrame] = []
    normalize = _normalizer(batch[0])

    def keep(site_: Site, payloads_: list[Payload]) -> pd.DataFrame:
        seen.append(normalize(site_, payloads_))
        return seen[-1]

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        result = process_payloads(site, window, payloads, engine=engine, run_id=run_id, started=started, normalize=keep)
    except SiteDataError as exc:
        return _after_batch_failure(site, batch, window, payloads, exc, engine=engine, run_id=run_id)
    starts = pd.DatetimeIndex(seen[0]["interval_start"]).as_unit("ns").asi8
    bounds = np.searchsorted(np.sort(starts), [pd.Timestamp(p.start).value for p in batch] + [window_end_ns(window)])
    rows = np.diff(bounds).tolist()
    record_done(engine, batch, rows)
    seconds = {**result.seconds, "total": time.perf_counter() - t0}
    seconds["checks"] = seconds["total"] - sum(seconds.get(k, 0.0) for k in ("normalize", "validate", "load"))
    log.info("import batch %s: %d chunk(s), %d rows, seconds %s", window, len(batch), sum(rows), _rounded(seconds))
    return [
        {"chunk": p.start.isoformat(), "status": "done", "rows_loaded": n} for p, n in zip(batch, rows, strict=True)
    ]


def window_end_ns(window: Window) -> int:
    return pd.Timestamp(window.end).value


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in seconds.items()}


def _after_batch_failure(
    site: Site,
    batch: list[ChunkPlan],
    window: Window,
    payloads: list[Payload],
    exc: SiteDataError,
    *,
    engine: Engine,
    run_id: str,
) -> list[dict[str, Any]]:
    """Load the chunks before the bad one (as a batch when the error names its payloads), then run the
    bad one alone so it fails on its own; if every chunk loads alone, forget the batch's failure."""
    bad = set(exc.payload_ids)
    landed = _chunk_payloads(engine, site, batch)
    first_bad = next((n for n, p in enumerate(batch) if bad & landed.get(p.start, set())), None)
    if first_bad is not None and len(bad) < len(payloads):
        before = run_batch(site, batch[:first_bad], engine=engine, run_id=run_id) if first_bad else []
        alone = run_chunk(site, batch[first_bad], engine=engine, run_id=run_id)  # raises: it is the bad one
        rest = run_batch(site, batch[first_bad + 1 :], engine=engine, run_id=run_id) if alone else []
        return [*before, alone, *rest]
    results = [run_chunk(site, plan, engine=engine, run_id=run_id) for plan in batch]
    _forget_batch_failure(engine, site, window, payloads)  # reached only if every chunk loaded alone
    return results


def _chunk_payloads(engine: Engine, site: Site, batch: list[ChunkPlan]) -> dict[datetime, set[int]]:
    t = db.raw_payload
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.window_start, t.c.payload_id).where(
                t.c.site_id == site.id,
                t.c.source == batch[0].source,
                t.c.window_start >= batch[0].start,
                t.c.window_start <= batch[-1].start,
            )
        )
        out: dict[datetime, set[int]] = {}
        for start, payload_id in rows:
            out.setdefault(start, set()).add(payload_id)
    return out


def _forget_batch_failure(engine: Engine, site: Site, window: Window, payloads: list[Payload]) -> None:
    """A batch failed but each of its chunks then loaded alone: clear what the batch attempt recorded."""
    with engine.begin() as conn:
        conn.execute(
            db.raw_payload.update()
            .where(db.raw_payload.c.payload_id.in_([p.payload_id for p in payloads]))
            .values(error=None)
        )
        s = db.sync_run
        conn.execute(
            s.delete().where(s.c.site_id == site.id, s.c.window_start == window.start, s.c.window_end == window.end)
        )


def run_import(
    site: Site,
    first_day: date | None,
    last_day: date | None,
    *,
    engine: Engine,
    file: Path | None = None,
    chunk: str = "day",
    run_id: str = "cli",
    show_progress: bool = False,
) -> list[dict[str, Any]]:
    """`footfall import`: plan, then every chunk in order, file chunks in batches; stops at the first
    failed chunk (a re-run resumes)."""
    from tqdm import tqdm

    if file is not None and (first_day is None or last_day is None):
        first_day, last_day = file_date_range(site, file)
    if first_day is None or last_day is None:
        raise ValueError("an API import needs --from and --to")
    with tqdm(desc="reading", unit=" rows", disable=not show_progress) as bar:
        plans = plan_import(site, first_day, last_day, engine=engine, file=file, chunk=chunk, progress=bar.update)
    done = done_chunks(engine, plans[0].import_id)
    sizes = landed_bytes(engine, site, plans[0].source) if file is not None else {}
    results = [{"chunk": p.start.isoformat(), "status": "skipped (already done)"} for p in plans if p.start in done]
    with tqdm(total=len(plans), desc=f"importing {site.id}", unit=" chunk", disable=not show_progress) as bar:
        bar.update(len(results))
        for batch in batches(plans, done, sizes):
            results.extend(run_batch(site, batch, engine=engine, run_id=run_id))
            bar.update(len(batch))
    order = {p.start.isoformat(): n for n, p in enumerate(plans)}
    return sorted(results, key=lambda r: order[r["chunk"]])


def run_imports(
    jobs: list[tuple[str, Path]],
    first_day: date | None,
    last_day: date | None,
    *,
    db_url: str,
    workers: int = 2,
    chunk: str = "day",
    run_id: str = "cli",
) -> dict[str, list[dict[str, Any]]]:
    """Many sites' exports ((site_id, file) jobs), `workers` sites at a time, each in its own process.

    One import keeps one core busy at most: PostgreSQL loads while Python waits, and the reverse.
    Two at a time keep both cores of a small machine working. Each site is exactly `run_import`
    (resumable, chunk by chunk); a site that fails does not stop the others, and every failure is
    raised together at the end, each naming its site, file, line and reason.
    """
    import multiprocessing

    args = [(site_id, path, first_day, last_day, db_url, chunk, run_id) for site_id, path in jobs]
    if db.get_engine(db_url).dialect.name == "sqlite":
        workers = 1  # one writer at a time: parallel imports would only wait on (or fail at) its lock
    if workers <= 1:
        outcomes = map(_import_site, args)
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        if method == "fork":
            warm_up()  # GX, the checks and the registry built once, before the workers fork
        pool = multiprocessing.get_context(method).Pool(workers, initializer=_new_connections, initargs=(db_url,))
        outcomes = pool.imap_unordered(_import_site, args)
    results: dict[str, list[dict[str, Any]]] = {}
    failures: list[str] = []
    finished = False
    try:
        for site_id, outcome, error in outcomes:
            results[site_id] = outcome
            if error:
                failures.append(error)
        finished = True
    finally:
        if workers > 1:
            # Interrupted (Ctrl-C, a database error): stop the workers now; a re-run resumes every site.
            if finished:
                pool.close()
            else:
                pool.terminate()
            pool.join()
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(jobs)} site import(s) failed: " + "; ".join(failures))
    return results


def _new_connections(db_url: str) -> None:
    """In a forked worker: never reuse the parent's pooled connections (their sockets are shared), and
    take back the default SIGTERM/SIGINT so Pool.terminate() stops the worker even where the parent
    (Airflow, a test runner) installed handlers that a fork inherits."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    db.get_engine(db_url).dispose(close=False)


def _import_site(args: tuple[str, Path, date | None, date | None, str, str, str]) -> tuple[str, list, str | None]:
    """One job of run_imports: (site_id, results, None), or (site_id, [], the error) when it failed."""
    from footfall.config import get_site

    site_id, path, first_day, last_day, db_url, chunk, run_id = args
    try:
        site, engine = get_site(site_id), db.get_engine(db_url)
        results = run_import(site, first_day, last_day, engine=engine, file=path, chunk=chunk, run_id=run_id)
        return site_id, results, None
    except (FootfallError, ValueError) as exc:
        return site_id, [], f"{site_id} ({path.name}): {exc}"


def plan_for_params(params: dict[str, Any]) -> list[dict[str, str]]:
    """The import_history DAG's plan task: Params in, chunk descriptors (XCom-sized) out."""
    from footfall.config import get_site

    site = get_site(str(params["site"]))
    file = Path(params["file"]) if params.get("source") == "file" and params.get("file") else None
    if params.get("source") == "file" and file is None:
        raise ValueError("source 'file' needs the 'file' param (a path the workers can read)")
    first = date.fromisoformat(params["start"]) if params.get("start") else None
    last = date.fromisoformat(params["end"]) if params.get("end") else None
    if file is not None and (first is None or last is None):
        first, last = file_date_range(site, file)
    if first is None or last is None:
        raise ValueError("an API import needs 'start' and 'end'")
    return [
        p.to_dict()
        for p in plan_import(
            site, first, last, engine=db.get_engine(), file=file, chunk=str(params.get("chunk") or "day")
        )
    ]


def run_chunk_dict(chunk: dict[str, str], *, run_id: str) -> dict[str, Any]:
    """The import_history DAG's mapped task."""
    from footfall.config import get_site

    plan = ChunkPlan.from_dict(chunk)
    return run_chunk(get_site(plan.site_id), plan, engine=db.get_engine(), run_id=run_id)
