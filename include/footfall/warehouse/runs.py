"""Runs: what every window run, quality run and import chunk did, one row each (a re-run replaces it).

sync_run says how each (site, window) stands; quality_run which range's flags a run replaced and
its Great Expectations result; import_chunk which chunks of an import are done, so a re-run resumes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, insert, select

from footfall.timewindow import Window
from footfall.warehouse import schema

ERROR_CHARS = 4000


def record_sync_run(
    conn: Connection,
    site_id: str,
    window: Window,
    *,
    run_id: str,
    started_at: datetime,
    rows_read: int,
    rows_loaded: int,
    outcome: str,
    stage: str | None = None,
    error: str | None = None,
) -> None:
    """One row per (site, window): a re-run replaces it, so the table says how each window stands."""
    values = {
        "run_id": run_id,
        "started_at": started_at,
        "finished_at": datetime.now(UTC),
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "outcome": outcome,
        "stage": stage,
        "error": error[:ERROR_CHARS] if error else None,
    }
    t = schema.sync_run
    key = (t.c.site_id == site_id) & (t.c.window_start == window.start) & (t.c.window_end == window.end)
    if conn.execute(t.update().where(key).values(**values)).rowcount == 0:
        conn.execute(t.insert().values(site_id=site_id, window_start=window.start, window_end=window.end, **values))


def forget_sync_run(conn: Connection, site_id: str, window: Window) -> None:
    """Drop the row of (site, window): an attempt that turned out not to be one (a batch retried in parts)."""
    t = schema.sync_run
    conn.execute(
        t.delete().where(t.c.site_id == site_id, t.c.window_start == window.start, t.c.window_end == window.end)
    )


# --- import chunks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkRow:
    """One import chunk's outcome, as import_chunk stores it."""

    import_id: str
    site_id: str
    chunk_start: datetime
    chunk_end: datetime
    source: str
    status: str
    rows_loaded: int = 0
    error: str | None = None


def done_chunks(engine: Engine, import_id: str) -> set[datetime]:
    """Starts of the chunks of an import that are done."""
    t = schema.import_chunk.c
    with engine.connect() as conn:
        rows = conn.execute(select(t.chunk_start).where(t.import_id == import_id, t.status == "done"))
        return {r[0] for r in rows}


def record_chunks(engine: Engine, chunks: Iterable[ChunkRow]) -> None:
    """Store chunk outcomes in one transaction, replacing what an earlier attempt said of them."""
    rows = list(chunks)
    if not rows:
        return
    t = schema.import_chunk
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for import_id in {r.import_id for r in rows}:
            starts = [r.chunk_start for r in rows if r.import_id == import_id]
            conn.execute(delete(t).where(t.c.import_id == import_id, t.c.chunk_start.in_(starts)))
        conn.execute(
            insert(t),
            [
                {
                    "import_id": r.import_id,
                    "chunk_start": r.chunk_start,
                    "chunk_end": r.chunk_end,
                    "site_id": r.site_id,
                    "source": r.source,
                    "status": r.status,
                    "rows_loaded": r.rows_loaded,
                    "error": r.error[:ERROR_CHARS] if r.error else None,
                    "finished_at": now,
                }
                for r in rows
            ],
        )
