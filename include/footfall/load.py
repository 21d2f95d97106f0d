"""Load: replace exactly one site's window of count_interval, in one transaction.

Rows go to a staging table (PostgreSQL: COPY into a temporary table; SQLite: executemany), then
one DELETE removes intervals the batch no longer has and one INSERT ... ON CONFLICT writes new and
changed intervals while leaving identical ones untouched. Running the same window twice therefore
leaves the tables exactly as one run did, which is what makes retries and backfills safe.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from footfall import PACKAGE_DIR, db
from footfall.timewindow import Window

STAGED = ["counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy", "payload_id"]


@dataclass(frozen=True)
class LoadResult:
    rows_in_window: int
    rows_written: int
    rows_deleted: int


@cache
def sql(name: str) -> str:
    """A named SQL file from footfall/sql (hand-written SQL lives there, not in strings)."""
    return (PACKAGE_DIR / "sql" / f"{name}.sql").read_text(encoding="utf-8")


def in_window(rows: pd.DataFrame, window: Window) -> pd.DataFrame:
    starts = rows["interval_start"]
    return rows[(starts >= pd.Timestamp(window.start)) & (starts < pd.Timestamp(window.end))]


def _records(rows: pd.DataFrame) -> list[tuple]:
    """Plain Python tuples (None for missing counts) in STAGED order."""
    out = []
    frame = rows[STAGED].astype(object).where(rows[STAGED].notna(), None)
    for counter_id, start, minutes, entries, exits, occupancy, payload_id in frame.itertuples(index=False):
        out.append(
            (
                counter_id,
                start.to_pydatetime(),
                int(minutes),
                None if entries is None else int(entries),
                None if exits is None else int(exits),
                None if occupancy is None else int(occupancy),
                int(payload_id),
            )
        )
    return out


def _copy_csv(rows: pd.DataFrame) -> bytes:
    """STAGED columns as COPY CSV, built by column (writing row by row was the load's main cost).

    Instants are written in UTC with an explicit offset; missing counts are empty, which COPY reads as NULL.
    """
    frame = rows[STAGED].copy()
    utc = pd.DatetimeIndex(frame["interval_start"]).tz_convert("UTC").tz_localize(None)
    frame["interval_start"] = np.char.add(np.datetime_as_string(utc.to_numpy("datetime64[us]"), unit="us"), "+00")
    return frame.to_csv(index=False, header=False, na_rep="", lineterminator="\n").encode()


def _stage_postgres(conn: Connection, staging: str, rows: pd.DataFrame) -> None:
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staging} (counter_id text, interval_start timestamptz, interval_minutes int, "
        "entries int, exits int, occupancy int, payload_id bigint) ON COMMIT DROP"
    )
    if rows.empty:
        return
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {staging} ({', '.join(STAGED)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(_copy_csv(rows))


def _stage_sqlite(conn: Connection, staging: str, records: list[tuple]) -> None:
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staging} (counter_id TEXT, interval_start DATETIME, interval_minutes INTEGER, "
        "entries INTEGER, exits INTEGER, occupancy INTEGER, payload_id INTEGER)"
    )
    naive = [(r[0], sqlite_instant(r[1]), *r[2:]) for r in records]
    if naive:  # an empty list would be read as one statement without parameters
        conn.exec_driver_sql(f"INSERT INTO {staging} VALUES (?, ?, ?, ?, ?, ?, ?)", naive)


def sqlite_instant(moment: datetime) -> str:
    """SQLite compares instants as text: write them exactly as SQLAlchemy's SQLite DateTime does."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _bind_instant(conn: Connection, moment: datetime) -> datetime | str:
    return sqlite_instant(moment) if conn.dialect.name == "sqlite" else moment


def replace_window(conn: Connection, site_id: str, window: Window, rows: pd.DataFrame) -> LoadResult:
    """Make count_interval for (site, window) equal `rows` (already validated), inside `conn`'s transaction."""
    rows = in_window(rows, window)
    staging = f"staging_counts_{uuid.uuid4().hex[:12]}"
    if conn.dialect.name == "postgresql":
        _stage_postgres(conn, staging, rows)
    else:
        _stage_sqlite(conn, staging, _records(rows))
    bounds = {
        "site_id": site_id,
        "window_start": _bind_instant(conn, window.start),
        "window_end": _bind_instant(conn, window.end),
    }
    deleted = conn.execute(text(sql("load_counts_delete_absent").format(staging=staging)), bounds).rowcount
    conn.execute(  # before the upsert: what changed intervals were (a re-sent or revised interval)
        text(sql("load_counts_record_revisions").format(staging=staging)),
        {"site_id": site_id, "revised_at": _bind_instant(conn, datetime.now(UTC))},
    )
    written = conn.execute(
        text(sql("load_counts_upsert").format(staging=staging)),
        {"site_id": site_id, "loaded_at": _bind_instant(conn, datetime.now(UTC))},
    ).rowcount
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(f"DROP TABLE {staging}")
    return LoadResult(rows_in_window=len(rows), rows_written=max(written, 0), rows_deleted=max(deleted, 0))


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
        "error": error[:4000] if error else None,
    }
    key = (
        (db.sync_run.c.site_id == site_id)
        & (db.sync_run.c.window_start == window.start)
        & (db.sync_run.c.window_end == window.end)
    )
    if conn.execute(db.sync_run.update().where(key).values(**values)).rowcount == 0:
        conn.execute(
            db.sync_run.insert().values(site_id=site_id, window_start=window.start, window_end=window.end, **values)
        )


def load_window(
    engine: Engine,
    site_id: str,
    window: Window,
    rows: pd.DataFrame,
    *,
    run_id: str,
    started_at: datetime,
    rows_read: int,
) -> LoadResult:
    """Replace the window and record the run, atomically: either both land or neither."""
    with engine.begin() as conn:
        result = replace_window(conn, site_id, window, rows)
        record_sync_run(
            conn,
            site_id,
            window,
            run_id=run_id,
            started_at=started_at,
            rows_read=rows_read,
            rows_loaded=result.rows_in_window,
            outcome="success",
        )
    return result
