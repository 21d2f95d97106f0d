"""Push sites: land what connectors and devices send, and load the payloads a run's window received.

A pulled window is replaced as a whole because the source was asked for exactly that window.
A push only says what it contains: a batch from an on-site connector may hold two intervals of
last week and nothing of today. So a push site's run takes the payloads *received* in its window
(data interval + lookback: a batch that arrives late is picked up by the run that sees it
arrive), and MERGES their intervals into count_interval (upsert, the latest received payload
wins) instead of deleting intervals the payloads do not mention.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, select

from footfall import db
from footfall.api.landing import push_source
from footfall.config import Site
from footfall.errors import SiteDataError, ValidationFailed
from footfall.extract import ensure_site, mark_payload_error, read_body
from footfall.load import record_sync_run
from footfall.normalize import Payload, normalize_counts
from footfall.pipeline import SyncResult
from footfall.timewindow import Window
from footfall.validate import validate_counts

log = logging.getLogger(__name__)

DEFAULT_MAX_LATE_DAYS = 31  # an interval older than this when it arrives is suspect, not loaded
FUTURE_SLACK = timedelta(hours=24)  # a device clock a little ahead is tolerated; a day is not


def received_payloads(engine: Engine, site: Site, window: Window, source: str | None = None) -> list[Payload]:
    """Bodies landed for this site from `source` (default: its push preset) and received in
    [window.start, window.end), oldest first. Replay of file sites reads the same way."""
    table = db.raw_payload
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.payload_id, table.c.body, table.c.counter_ref)
            .where(
                table.c.site_id == site.id,
                table.c.source == (source or push_source(site.source.preset)),
                table.c.received_at >= window.start,
                table.c.received_at < window.end,
            )
            .order_by(table.c.payload_id)
        ).all()
    return [Payload(r.payload_id, read_body(r.body), r.counter_ref) for r in rows]


def plausible_range(site: Site, window: Window) -> Window:
    """Intervals a push received in `window` may hold: up to max_late_days old, at most a day ahead."""
    days = int(site.options().get("max_late_days", DEFAULT_MAX_LATE_DAYS))
    return Window(window.start - timedelta(days=days), window.end + FUTURE_SLACK)


def merge_counts(conn: Connection, site_id: str, rows: pd.DataFrame) -> int:
    """Upsert intervals; an interval already loaded from a later payload is left alone (latest wins)."""
    if rows.empty:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = datetime.now(UTC)
    frame = rows.astype(object).where(rows.notna(), None)
    values = [
        {
            "site_id": site_id,
            "counter_id": r.counter_id,
            "interval_start": r.interval_start.to_pydatetime(),
            "interval_minutes": int(r.interval_minutes),
            "entries": None if r.entries is None else int(r.entries),
            "exits": None if r.exits is None else int(r.exits),
            "occupancy": None if r.occupancy is None else int(r.occupancy),
            "payload_id": int(r.payload_id),
            "loaded_at": now,
        }
        for r in frame.itertuples(index=False)
    ]
    stmt = insert(db.count_interval)
    table = db.count_interval.c
    changed = (
        table.interval_minutes.is_distinct_from(stmt.excluded.interval_minutes)
        | table.entries.is_distinct_from(stmt.excluded.entries)
        | table.exits.is_distinct_from(stmt.excluded.exits)
        | table.occupancy.is_distinct_from(stmt.excluded.occupancy)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["site_id", "counter_id", "interval_start"],
        set_={
            name: stmt.excluded[name]
            for name in ("interval_minutes", "entries", "exits", "occupancy", "payload_id", "loaded_at")
        },
        where=(stmt.excluded.payload_id >= table.payload_id) & changed,
    )
    conn.execute(stmt, values)
    return len(values)


def _fail(engine: Engine, site: Site, window: Window, run_id: str, started: datetime, exc: SiteDataError) -> None:
    mark_payload_error(engine, exc.payload_ids, f"{exc.stage}: {exc.reason}")
    with engine.begin() as conn:
        ensure_site(conn, site)
        record_sync_run(
            conn, site.id, window, run_id=run_id, started_at=started, rows_read=0, rows_loaded=0,
            outcome="failed", stage=exc.stage, error=str(exc),
        )  # fmt: skip


def process_pushed_window(
    site: Site, window: Window, *, engine: Engine | None = None, run_id: str = "cli"
) -> SyncResult:
    """Normalize, validate and merge every payload received in `window`; a failure loads nothing."""
    engine = engine or db.get_engine()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    payloads = received_payloads(engine, site, window)
    ids = [p.payload_id for p in payloads]
    result = SyncResult(site.id, window, ids, seconds={"extract": time.perf_counter() - t0})
    try:
        rows = normalize_counts(site, payloads)
        t1 = time.perf_counter()
        report = validate_counts(rows, plausible_range(site, window))
        result.seconds.update(normalize=t1 - t0, validate=time.perf_counter() - t1)
        if not report.success:
            raise ValidationFailed(site.id, push_source(site.source.preset), report.summary(), ids)
    except SiteDataError as exc:
        _fail(engine, site, window, run_id, started, exc)
        raise
    t2 = time.perf_counter()
    with engine.begin() as conn:
        ensure_site(conn, site)  # a run may come before the site's first push
        written = merge_counts(conn, site.id, rows)
        record_sync_run(
            conn, site.id, window, run_id=run_id, started_at=started, rows_read=len(rows), rows_loaded=written,
            outcome="success",
        )  # fmt: skip
    result.seconds["load"] = time.perf_counter() - t2
    result.rows_read = result.rows_loaded = len(rows)
    result.rows_written = written
    log.info("merged pushed payloads %s", result.summary())
    return result
