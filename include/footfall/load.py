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
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from footfall import PACKAGE_DIR, db
from footfall.timewindow import Window

INT4_COLUMNS = ["interval_minutes", "entries", "exits", "occupancy"]
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # binary COPY timestamps are microseconds from it
PG_EPOCH_US = 946_684_800_000_000  # the same instant in Unix microseconds
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
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
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {staging} ({', '.join(STAGED)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(_copy_csv(rows))


def _copy_binary(site_id: str, rows: pd.DataFrame, loaded_at: datetime) -> bytes | None:
    """count_interval rows as PostgreSQL binary COPY, built with numpy (no per-row Python).

    Rows with the same counter and the same missing counts have the same byte layout, so each such
    group is one numpy record array. None when a count does not fit PostgreSQL's integer: the
    staged path then fails with PostgreSQL's own message.
    """
    site = site_id.encode()
    codes, counters = pd.factorize(rows["counter_id"].astype(str))
    missing = {c: rows[c].isna().to_numpy() for c in INT4_COLUMNS}
    values = {c: rows[c].fillna(0).to_numpy(dtype="int64") for c in INT4_COLUMNS}
    if any(v.min(initial=0) < INT4_MIN or v.max(initial=0) > INT4_MAX for v in values.values()):
        return None
    instants = pd.DatetimeIndex(rows["interval_start"]).as_unit("us").asi8 - PG_EPOCH_US
    payload_ids = rows["payload_id"].to_numpy(dtype="int64")
    loaded = (loaded_at - PG_EPOCH) // timedelta(microseconds=1)
    shape = codes.astype(np.int64) << len(INT4_COLUMNS)
    for bit, column in enumerate(INT4_COLUMNS):
        shape |= missing[column].astype(np.int64) << bit
    parts = [COPY_HEADER]
    for key in np.unique(shape):
        index = np.flatnonzero(shape == key)
        counter = str(counters[key >> len(INT4_COLUMNS)]).encode()
        nulls = [c for bit, c in enumerate(INT4_COLUMNS) if key >> bit & 1]
        fields = [("n", ">i2"), ("site_len", ">i4"), ("site", f"S{len(site)}")]
        fields += [("counter_len", ">i4"), ("counter", f"S{len(counter)}"), ("start_len", ">i4"), ("start", ">i8")]
        for column in INT4_COLUMNS:
            fields += [(f"{column}_len", ">i4")] + ([] if column in nulls else [(column, ">i4")])
        fields += [("payload_len", ">i4"), ("payload", ">i8"), ("loaded_len", ">i4"), ("loaded", ">i8")]
        block = np.zeros(len(index), dtype=fields)
        block["n"] = 9
        block["site_len"], block["site"] = len(site), site
        block["counter_len"], block["counter"] = len(counter), counter
        block["start_len"], block["start"] = 8, instants[index]
        for column in INT4_COLUMNS:
            if column in nulls:
                block[f"{column}_len"] = -1
            else:
                block[f"{column}_len"], block[column] = 4, values[column][index]
        block["payload_len"], block["payload"] = 8, payload_ids[index]
        block["loaded_len"], block["loaded"] = 8, loaded
        parts.append(block.tobytes())
    parts.append(b"\xff\xff")  # end of data: a field count of -1
    return b"".join(parts)


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
            cursor = conn.connection.driver_connection.cursor()
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
