"""Load: replace exactly one site's window of count_interval, in one transaction.

Rows go to a staging table (PostgreSQL: COPY into a temporary table; SQLite: executemany), then
one DELETE removes intervals the batch no longer has and one INSERT ... ON CONFLICT writes new and
changed intervals while leaving identical ones untouched. Running the same window twice therefore
leaves the tables exactly as one run did, which is what makes retries and backfills safe.

A window that holds no rows yet (first loads, history imports) has nothing to delete, revise or
compare, so on PostgreSQL its rows are written with one binary COPY straight into count_interval.
Each row's foreign-key triggers were most of that COPY's cost: when the role may, the load checks
and locks the batch's counters and payloads once (what every row's trigger would check and lock)
and runs the COPY without per-row triggers (`session_replication_role = replica`, for the COPY only).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from footfall import PACKAGE_DIR, db, pgcopy
from footfall.timewindow import Window

INT4_COLUMNS = ["interval_minutes", "entries", "exits", "occupancy"]
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
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
    driver = conn.connection.driver_connection
    assert driver is not None  # psycopg's connection, checked out
    cursor = driver.cursor()
    with cursor.copy(f"COPY {staging} ({', '.join(STAGED)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(_copy_csv(rows))


def _copy_binary(site_id: str, rows: pd.DataFrame, loaded_at: datetime) -> bytes | None:
    """count_interval rows as PostgreSQL binary COPY (built with numpy, no per-row Python).

    None when a count does not fit PostgreSQL's integer: the staged path then fails with
    PostgreSQL's own message.
    """
    missing = {c: rows[c].isna().to_numpy() for c in INT4_COLUMNS}
    values = {c: rows[c].fillna(0).to_numpy(dtype="int64") for c in INT4_COLUMNS}
    if any(v.min(initial=0) < INT4_MIN or v.max(initial=0) > INT4_MAX for v in values.values()):
        return None
    n = len(rows)
    loaded = pgcopy.instants_us(pd.DatetimeIndex([loaded_at]))[0]
    return pgcopy.copy_body(
        [
            pgcopy.Column("text", np.full(n, site_id, dtype=object)),
            pgcopy.Column("text", rows["counter_id"].astype(str).to_numpy()),
            pgcopy.Column("timestamptz", pgcopy.instants_us(rows["interval_start"])),
            *(pgcopy.Column("int4", values[c], missing[c]) for c in INT4_COLUMNS),
            pgcopy.Column("int8", rows["payload_id"].to_numpy(dtype="int64")),
            pgcopy.Column("timestamptz", np.full(n, loaded, dtype=np.int64)),
        ]
    )


def _window_has_rows(conn: Connection, site_id: str, window: Window) -> bool:
    bounds = {"site_id": site_id, "window_start": window.start, "window_end": window.end}
    return conn.execute(text(sql("load_counts_window_has_rows")), bounds).first() is not None


def _may_skip_triggers(conn: Connection) -> bool:
    """Superusers, and on PostgreSQL 15+ roles granted SET on session_replication_role."""
    row = conn.exec_driver_sql(
        "SELECT current_setting('is_superuser') = 'on', current_setting('server_version_num')::int"
    ).one()
    if row[0] or row[1] < 150000:
        return bool(row[0])
    return bool(conn.exec_driver_sql("SELECT has_parameter_privilege('session_replication_role', 'SET')").scalar())


def _references_locked(conn: Connection, site_id: str, rows: pd.DataFrame) -> bool:
    """Every counter and payload the rows reference exists, now locked FOR KEY SHARE until commit:
    what each row's foreign-key trigger would check and lock, done once for the batch."""
    counters = sorted(rows["counter_id"].astype(str).unique())
    payloads = sorted(int(p) for p in rows["payload_id"].unique())
    found = conn.execute(
        text(sql("load_counts_lock_references")),
        {"site_id": site_id, "counter_ids": counters, "payload_ids": payloads},
    ).one()
    return (found[0], found[1]) == (len(counters), len(payloads))


def _copy_into_empty_window(conn: Connection, site_id: str, rows: pd.DataFrame) -> bool:
    """One binary COPY into count_interval; False (and nothing written) if a concurrent load filled
    the window first, so the caller replaces it the general way."""
    from psycopg.errors import UniqueViolation

    body = _copy_binary(site_id, rows, datetime.now(UTC))
    if body is None:
        return False
    columns = ", ".join(["site_id", *STAGED, "loaded_at"])
    try:
        with conn.begin_nested():
            trusted = _may_skip_triggers(conn) and _references_locked(conn, site_id, rows)
            driver = conn.connection.driver_connection
            assert driver is not None  # psycopg's connection, checked out
            cursor = driver.cursor()
            if trusted:
                cursor.execute("SET LOCAL session_replication_role = replica")
            with cursor.copy(f"COPY count_interval ({columns}) FROM STDIN (FORMAT binary)") as copy:
                copy.write(body)
            if trusted:
                cursor.execute("SET LOCAL session_replication_role = origin")
    except UniqueViolation:
        return False
    return True


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
    if (
        conn.dialect.name == "postgresql"
        and len(rows)
        and not _window_has_rows(conn, site_id, window)
        and _copy_into_empty_window(conn, site_id, rows)
    ):
        return LoadResult(rows_in_window=len(rows), rows_written=len(rows), rows_deleted=0)
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
