"""Runs: what every window run, quality run and import chunk did, one row each (a re-run replaces it).

sync_run says how each (site, window) stands; quality_run which range's flags a run replaced and
its Great Expectations result; import_chunk which chunks of an import are done, so a re-run resumes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, func, insert, select

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
    rows_skipped: int = 0,
) -> None:
    """One row per (site, window): a re-run replaces it, so the table says how each window stands."""
    values = {
        "run_id": run_id,
        "started_at": started_at,
        "finished_at": datetime.now(UTC),
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "rows_skipped": rows_skipped,
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


def record_quality_run(conn: Connection, site_id: str, checked: Window, values: dict[str, Any]) -> None:
    """One quality_run row per site and checked range (replaced by a rerun); `values`: run_id,
    gx_success, gx_statistics, gx_result, flags."""
    q = schema.quality_run
    conn.execute(
        delete(q).where(q.c.site_id == site_id, q.c.checked_start == checked.start, q.c.checked_end == checked.end)
    )
    conn.execute(
        insert(q).values(
            site_id=site_id,
            checked_start=checked.start,
            checked_end=checked.end,
            finished_at=datetime.now(UTC),
            **values,
        )
    )


def recent_quality_results(engine: Engine, site_id: str | None, per_site: int) -> list[Row]:
    """The latest `per_site` quality runs with a stored GX result of every site (or of `site_id`),
    newest first: site_id, run_id, finished_at, checked_start, checked_end, gx_result."""
    q = schema.quality_run
    rank = func.row_number().over(partition_by=q.c.site_id, order_by=q.c.finished_at.desc()).label("rank")
    inner = select(
        q.c.site_id, q.c.run_id, q.c.finished_at, q.c.checked_start, q.c.checked_end, q.c.gx_result, rank
    ).where(q.c.gx_result.is_not(None))
    if site_id is not None:
        inner = inner.where(q.c.site_id == site_id)
    ranked = inner.subquery()
    query = select(ranked).where(ranked.c.rank <= per_site).order_by(ranked.c.site_id, ranked.c.finished_at.desc())
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def failed_windows_by_site(conn: Connection, since: datetime) -> dict[str, int]:
    """Failed sync runs per site among windows ending after `since`."""
    t = schema.sync_run.c
    query = select(t.site_id, func.count()).where(t.outcome == "failed", t.window_end > since).group_by(t.site_id)
    return {str(site_id): int(n) for site_id, n in conn.execute(query).all()}


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
