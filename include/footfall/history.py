"""History imports: months or years of counts from a site's API or from an export file, in chunks.

An import is planned as chunks of whole local days (a day or a week each). A file is read once,
streamed in blocks of rows, and each chunk's rows are landed as raw payloads (so the import can
be re-processed without the file); each chunk is then normalized, validated and loaded like live
data, replacing exactly its window. `import_chunk` records every chunk's outcome, so a re-run
skips the chunks already done: an import interrupted half-way and run again ends identical to
one that never stopped.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from footfall import db
from footfall.config import Site
from footfall.errors import ParseError, SiteDataError
from footfall.extract import Fetched, land_payloads
from footfall.normalize import BASE_MINUTES, Payload, empty_counts, typed_counts
from footfall.pipeline import process_payloads, sync_window
from footfall.timewindow import Window, local_midnight

log = logging.getLogger(__name__)

COUNTS_HEADER = ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy"]
BLOCK_ROWS = 100_000
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


# --- files ----------------------------------------------------------------------------------------


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) from a counts CSV (plain or .gz) or XLSX, streamed."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        rows = book.active.iter_rows(values_only=True)
        header = [str(h).strip() for h in next(rows)]
        for number, values in enumerate(rows, start=2):
            yield (
                number,
                {
                    h: ("" if v is None else (v.isoformat() if isinstance(v, datetime) else str(v)))
                    for h, v in zip(header, values, strict=False)
                },
            )
        book.close()
        return
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("counter_id", "interval_start") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"line 1: header lacks {', '.join(missing)} (expected {','.join(COUNTS_HEADER)})")
        for row in reader:
            yield reader.line_num, row


def split_file(
    site: Site, path: Path, plans: list[ChunkPlan], engine: Engine, progress: Callable[[int], None] | None = None
) -> dict[datetime, list[int]]:
    """One streaming pass over the export: each chunk's rows (with their line numbers) are landed as
    raw payloads in blocks, so memory stays bounded whatever the file size. Rows outside the planned
    range are ignored; a row whose time cannot be read names the file and the line."""
    starts = [p.start for p in plans]
    by_start = {p.start: p for p in plans}
    buffers: dict[datetime, list[dict[str, Any]]] = {}
    landed: dict[datetime, list[int]] = {s: [] for s in starts}
    buffered = 0

    def flush(start: datetime) -> None:
        rows = buffers.pop(start, [])
        if not rows:
            return
        body = json.dumps({"file": path.name, "rows": rows}, separators=(",", ":")).encode()
        plan = by_start[start]
        fetched = Fetched(
            None, f"file {path.name} lines {rows[0]['line']}-{rows[-1]['line']}", None, "application/json", body
        )
        landed[start].extend(land_payloads(engine, site, plan.window(), [fetched], source=plan.source))

    for line, row in _read_rows(path):
        text = (row.get("interval_start") or "").strip()
        try:
            instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ParseError(
                site.id,
                plans[0].source,
                f"{path.name}: line {line}: interval_start {text!r} is not an ISO 8601 instant",
            ) from None
        if instant.tzinfo is None:
            raise ParseError(
                site.id, plans[0].source, f"{path.name}: line {line}: interval_start {text!r} has no UTC offset"
            )
        i = bisect.bisect_right(starts, instant) - 1
        if i < 0 or instant >= plans[i].end:
            continue
        buffers.setdefault(starts[i], []).append({"line": line, **row})
        buffered += 1
        if progress:
            progress(1)
        if buffered >= BLOCK_ROWS:
            for start in list(buffers):
                flush(start)
            buffered = 0
    for start in list(buffers):
        flush(start)
    return landed


def normalize_file_rows(site: Site, payloads: list[Payload]) -> pd.DataFrame:
    """Counts-CSV rows landed by `split_file` to count_interval rows.

    Row-level faults are reported with the file and line (a GX failure could only show values);
    the same suite then runs on the whole chunk, as for live data.
    """
    counters = {c.id for c in site.counters}
    frames = []
    for payload in payloads:
        doc = json.loads(payload.body)
        frame = pd.DataFrame.from_records(doc["rows"])
        frame["payload_id"] = payload.payload_id
        frame["file"] = doc["file"]
        frames.append(frame)
    if not frames:
        return empty_counts()
    rows = pd.concat(frames, ignore_index=True)
    for column in COUNTS_HEADER:
        if column not in rows:
            rows[column] = ""

    def fail(mask: pd.Series, reason: str) -> None:
        if mask.any():
            bad = rows[mask].iloc[0]
            raise ParseError(
                site.id,
                f"file:{bad['file']}",
                f"{bad['file']}: line {bad['line']}: {reason(bad)}",
                sorted(set(rows.loc[mask, "payload_id"].astype(int))),
            )

    fail(rows["site_id"].ne("") & rows["site_id"].ne(site.id), lambda r: f"site_id {r['site_id']!r} is not {site.id}")
    fail(~rows["counter_id"].isin(counters), lambda r: f"counter_id {r['counter_id']!r} is not a counter of {site.id}")
    for column in ("interval_minutes", "entries", "exits", "occupancy"):
        text = rows[column].fillna("").astype(str).str.strip()
        values = pd.to_numeric(text.where(text != ""), errors="coerce")
        fail(text.ne("") & values.isna(), lambda r, c=column: f"{c} {r[c]!r} is not a number")
        fail(values.lt(0), lambda r, c=column: f"{c} {r[c]!r} is negative")
        fail(values.notna() & values.mod(1).ne(0), lambda r, c=column: f"{c} {r[c]!r} is not a whole number")
        rows[column] = values
    rows["interval_start"] = pd.to_datetime(rows["interval_start"], utc=True, format="ISO8601")
    rows["interval_minutes"] = rows["interval_minutes"].fillna(BASE_MINUTES)
    last = rows.groupby(["counter_id", "interval_start"])["payload_id"].transform("max")
    return typed_counts(rows[rows["payload_id"].eq(last)])


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
                normalize=normalize_file_rows,
            )
    except SiteDataError as exc:
        record_chunk(engine, plan, "failed", error=str(exc))
        raise
    record_chunk(engine, plan, "done", rows=result.rows_loaded)
    return {"chunk": plan.start.isoformat(), "status": "done", "rows_loaded": result.rows_loaded}


def landed_for_chunk(engine: Engine, site: Site, plan: ChunkPlan) -> list[Payload]:
    t = db.raw_payload
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.payload_id, t.c.body)
            .where(t.c.site_id == site.id, t.c.source == plan.source, t.c.window_start == plan.start)
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
    if not all(p.start in done_chunks(engine, p.import_id) for p in plans):
        split_file(site, file, plans, engine, progress)
    return plans


def file_date_range(site: Site, path: Path) -> tuple[date, date]:
    """First and last local date in an export (one streaming pass), when the analyst gave no range."""
    first = last = None
    for _, row in _read_rows(path):
        try:
            instant = datetime.fromisoformat((row.get("interval_start") or "").strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if instant.tzinfo is None:
            continue
        first = instant if first is None or instant < first else first
        last = instant if last is None or instant > last else last
    if first is None or last is None:
        raise ParseError(site.id, f"file:{path.name}", f"{path.name}: no row with a readable interval_start")
    return first.astimezone(site.zone).date(), last.astimezone(site.zone).date()


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
    """`footfall import`: plan, then every chunk in order; stops at the first failed chunk (re-run resumes)."""
    from tqdm import tqdm

    if file is not None and (first_day is None or last_day is None):
        first_day, last_day = file_date_range(site, file)
    if first_day is None or last_day is None:
        raise ValueError("an API import needs --from and --to")
    with tqdm(desc="reading", unit=" rows", disable=not show_progress) as bar:
        plans = plan_import(site, first_day, last_day, engine=engine, file=file, chunk=chunk, progress=bar.update)
    results = []
    for plan in tqdm(plans, desc=f"importing {site.id}", unit=" chunk", disable=not show_progress):
        results.append(run_chunk(site, plan, engine=engine, run_id=run_id))
    return results


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
