"""Counts: the one writer of count_interval (`write_counts`, replace or merge, revisions recorded in one
place) and the range reads of it.

Replace (a pulled window: the source was asked for exactly it) makes the site's window equal the batch.
Merge (pushes, files: a body says what it holds, not which window it answers) upserts the batch's
intervals; an interval loaded from a later payload is left alone (the latest payload wins).

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

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Text, and_, or_, select, text, type_coerce

from footfall.timewindow import Window
from footfall.warehouse import pgcopy, schema

SQL_DIR = Path(__file__).resolve().parent / "sql"
INT4_COLUMNS = list(schema.MEASURED_COLUMNS)
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
STAGED = [*schema.COUNT_COLUMNS[1:], "payload_id"]
KEY = ["counter_id", "interval_start"]
WriteMode = Literal["replace", "merge"]


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows of the batch it covered, rows inserted or changed, rows deleted (replace
    only), and changed intervals recorded in interval_revision."""

    rows_in_window: int
    rows_written: int
    rows_deleted: int
    rows_revised: int = 0


@cache
def sql(name: str) -> str:
    """A named SQL file from footfall/warehouse/sql (hand-written SQL lives there, not in strings)."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


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


def window_has_rows(conn: Connection, site_id: str, window: Window) -> bool:
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


def write_counts(
    conn: Connection, site_id: str, rows: pd.DataFrame, *, mode: WriteMode, window: Window | None = None
) -> WriteResult:
    """Write validated rows inside `conn`'s transaction: `replace` makes (site, window) equal the rows
    in it; `merge` upserts every row, an interval loaded from a later payload left alone.

    Either way a changed interval leaves its old and new values (and both payloads) in
    interval_revision, and an identical one is left untouched (not even loaded_at), so writing the
    same batch twice changes nothing.
    """
    if mode == "replace":
        if window is None:
            raise ValueError("a replace write needs the window it replaces")
        return _replace_window(conn, site_id, window, rows)
    if mode == "merge":
        return _merge(conn, site_id, rows)
    raise ValueError(f"write mode {mode!r} is neither replace nor merge")


def _stage(conn: Connection, rows: pd.DataFrame) -> str:
    """The rows in a temporary staging table (PostgreSQL: COPY; SQLite: executemany); returns its name."""
    staging = f"staging_counts_{uuid.uuid4().hex[:12]}"
    if conn.dialect.name == "postgresql":
        _stage_postgres(conn, staging, rows)
    else:
        _stage_sqlite(conn, staging, _records(rows))
    return staging


def _revise_and_upsert(conn: Connection, site_id: str, staging: str, latest_wins: bool) -> tuple[int, int]:
    """Record the revisions, then upsert from the staging table; returns (revised, written)."""
    condition = "AND s.payload_id >= c.payload_id" if latest_wins else ""
    upsert_condition = "AND excluded.payload_id >= count_interval.payload_id" if latest_wins else ""
    revised = conn.execute(  # before the upsert: what changed intervals were (a re-sent or revised interval)
        text(sql("load_counts_record_revisions").format(staging=staging, latest_wins=condition)),
        {"site_id": site_id, "revised_at": _bind_instant(conn, datetime.now(UTC))},
    ).rowcount
    written = conn.execute(
        text(sql("load_counts_upsert").format(staging=staging, latest_wins=upsert_condition)),
        {"site_id": site_id, "loaded_at": _bind_instant(conn, datetime.now(UTC))},
    ).rowcount
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(f"DROP TABLE {staging}")
    return max(revised, 0), max(written, 0)


def _merge(conn: Connection, site_id: str, rows: pd.DataFrame) -> WriteResult:
    """Upsert intervals, the latest payload winning. On PostgreSQL the site's merges take turns (a
    transaction lock), so two runs cannot both record the same revision; SQLite writers take turns already."""
    if rows.empty:
        return WriteResult(0, 0, 0)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"footfall.merge_counts:{site_id}"})
    latest = rows.sort_values("payload_id", kind="stable").drop_duplicates(KEY, keep="last")
    revised, _ = _revise_and_upsert(conn, site_id, _stage(conn, latest), latest_wins=True)
    return WriteResult(rows_in_window=len(rows), rows_written=len(rows), rows_deleted=0, rows_revised=revised)


def _replace_window(conn: Connection, site_id: str, window: Window, rows: pd.DataFrame) -> WriteResult:
    """Make count_interval for (site, window) equal `rows` (already validated)."""
    rows = in_window(rows, window)
    if (
        conn.dialect.name == "postgresql"
        and len(rows)
        and not window_has_rows(conn, site_id, window)
        and _copy_into_empty_window(conn, site_id, rows)
    ):
        return WriteResult(rows_in_window=len(rows), rows_written=len(rows), rows_deleted=0)
    staging = _stage(conn, rows)
    bounds = {
        "site_id": site_id,
        "window_start": _bind_instant(conn, window.start),
        "window_end": _bind_instant(conn, window.end),
    }
    deleted = conn.execute(text(sql("load_counts_delete_absent").format(staging=staging)), bounds).rowcount
    revised, written = _revise_and_upsert(conn, site_id, staging, latest_wins=False)
    return WriteResult(
        rows_in_window=len(rows), rows_written=written, rows_deleted=max(deleted, 0), rows_revised=revised
    )


# --- range reads ------------------------------------------------------------------------------------


def read_count_ranges(conn: Connection, ranges: list[tuple[str, datetime, datetime]]) -> pd.DataFrame:
    """count_interval rows of each (site, [start, end)) as a frame, instants converted in one call.

    PostgreSQL: one COPY to CSV. SQLite: rows as plain tuples, instants as the text it stores (the
    per-row type decorator and pandas' per-row probing of SQLAlchemy rows cost ~15 µs a row, more
    than all the checks together).
    """
    columns = list(schema.COUNT_COLUMNS)
    if conn.dialect.name == "postgresql":
        site_ids, starts, ends = (list(x) for x in zip(*ranges, strict=True))
        driver = conn.connection.driver_connection
        assert driver is not None  # psycopg's connection, checked out
        cursor = driver.cursor()
        body = io.BytesIO()
        with cursor.copy(sql("quality_counts_copy"), {"site_ids": site_ids, "starts": starts, "ends": ends}) as copy:
            for block in copy:
                body.write(block)
        body.seek(0)
        frame = (
            pd.read_csv(body, names=columns, dtype={"site_id": str, "counter_id": str})
            if body.getbuffer().nbytes
            else None
        )
    else:
        t = schema.count_interval
        start = type_coerce(t.c.interval_start, Text()).label("interval_start")
        where = or_(*(and_(t.c.site_id == s, t.c.interval_start >= a, t.c.interval_start < b) for s, a, b in ranges))
        selected = [start if c == "interval_start" else t.c[c] for c in columns]
        rows = [tuple(r) for r in conn.execute(select(*selected).where(where))]
        frame = pd.DataFrame.from_records(rows, columns=columns) if rows else None
    if frame is None:
        return empty_count_frame()
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True, format="ISO8601").dt.as_unit("us")
    return frame


def empty_count_frame() -> pd.DataFrame:
    """A count read that found nothing, typed like one that found rows."""
    frame = pd.DataFrame(columns=list(schema.COUNT_COLUMNS))
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True)
    return frame


def counts_between(conn: Connection, start: datetime, end: datetime) -> pd.DataFrame:
    """site_id, interval_start, entries, exits of every site's intervals starting in [start, end)."""
    t = schema.count_interval.c
    query = select(t.site_id, t.interval_start, t.entries, t.exits).where(
        t.interval_start >= start, t.interval_start < end
    )
    return pd.DataFrame(conn.execute(query).all(), columns=["site_id", "interval_start", "entries", "exits"])
