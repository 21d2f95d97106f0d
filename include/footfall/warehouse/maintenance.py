"""Warehouse upkeep: raw-payload retention per site, and VACUUM/ANALYZE on SQLite and PostgreSQL.

Retention keeps every aggregate (count_interval, corrected occupancy, flags, runs, forecasts) and
only lets go of vendor bodies: a body received before the cut-off that no loaded row or push
acknowledgement points at is deleted with its row; one that loaded rows still name (count_interval
and ingest_batch reference their payload) keeps its row (source, sizes, sha256, received_at) with an
empty body. A gzip body is never empty, so an empty one means "removed by retention"; readers of
stored bodies (replay, merges) leave those out. Running it again removes nothing more (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, exists, func, select, update

from footfall.warehouse import schema

REMOVED_BODY = b""  # what a body removed by retention is left as (a stored gzip body never is)


@dataclass(frozen=True)
class RetentionResult:
    site_id: str
    before: datetime
    deleted: int  # rows (and bodies) deleted: nothing referenced them
    emptied: int  # bodies removed from rows that loaded counts still reference
    bytes_removed: int  # uncompressed bytes of those bodies


def apply_payload_retention(conn: Connection, site_id: str, before: datetime) -> RetentionResult:
    """Remove the site's raw bodies received before `before` (see the module docstring); returns what went."""
    rp, ci, ib = schema.raw_payload, schema.count_interval, schema.ingest_batch
    old = (rp.c.site_id == site_id, rp.c.received_at < before)
    referenced = exists().where(ci.c.payload_id == rp.c.payload_id) | exists().where(ib.c.payload_id == rp.c.payload_id)
    with_body = func.length(rp.c.body) > 0
    size = conn.execute(select(func.coalesce(func.sum(rp.c.body_bytes), 0)).where(*old, with_body)).scalar_one()
    deleted = conn.execute(delete(rp).where(*old, ~referenced)).rowcount
    emptied = conn.execute(update(rp).where(*old, with_body).values(body=REMOVED_BODY)).rowcount
    return RetentionResult(site_id, before, int(deleted or 0), int(emptied or 0), int(size or 0))


def vacuum_analyze(engine: Engine) -> list[str]:
    """Reclaim the space deleted rows left and refresh the planner's statistics; returns the statements run.

    Both need to run outside a transaction (PostgreSQL refuses VACUUM in one; SQLite's VACUUM too).
    PostgreSQL: VACUUM (ANALYZE) on the whole database, table by table in its own transactions;
    SQLite: VACUUM rewrites the file, ANALYZE fills sqlite_stat1.
    """
    if engine.dialect.name == "postgresql":
        statements = ["VACUUM (ANALYZE)"]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
        return statements
    statements = ["VACUUM", "ANALYZE"]
    raw = engine.raw_connection()  # sqlite3 in autocommit (the engine opens its transactions itself)
    try:
        driver = raw.driver_connection
        assert driver is not None
        for statement in statements:
            driver.execute(statement)
    finally:
        raw.close()
    return statements
