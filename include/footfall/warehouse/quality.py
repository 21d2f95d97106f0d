"""Quality storage: a quality run's flags and corrected occupancy replace exactly the range it checked.

Flags and corrected rows are written for many sites in one transaction (bulk runs over many sites
leave the tables exactly as site-by-site runs would); the corrected rows go in one statement (COPY on
PostgreSQL, one executemany on SQLite).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select, text

from footfall.timewindow import Window
from footfall.warehouse import pgcopy, schema
from footfall.warehouse.runs import record_quality_run

# occupancy_corrected's columns in the order the corrected frames (footfall.quality.occupancy) hold them
OCCUPANCY_COLUMNS = [
    "site_id",
    "local_date",
    "interval_start",
    "raw_net_occupancy",
    "corrected_occupancy",
    "correction_factor",
]


@dataclass(frozen=True)
class QualityRows:
    """What one site's quality run stores: its checked range, flag rows, corrected occupancy (None: keep
    the previous rows, the correction failed) and its quality_run columns."""

    site_id: str
    checked: Window
    flags: list[dict[str, Any]]
    occupancy: pd.DataFrame | None
    run: dict[str, Any]


def replace_quality(conn: Connection, sites: list[QualityRows]) -> None:
    """Replace each site's flags (and corrected occupancy) over its checked range, and record its run.

    On PostgreSQL a site's quality writes take turns (a transaction lock, sites in order): two runs of
    one site checking overlapping ranges at once (a backfill beside the live runs) would each delete
    only what was committed before them and both insert, leaving both runs' flags over the overlap.
    SQLite writers take turns already."""
    f, o = schema.quality_flag, schema.occupancy_corrected
    if conn.dialect.name == "postgresql":
        for site_id in sorted({s.site_id for s in sites}):
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"footfall.quality:{site_id}"})
    for s in sites:
        conn.execute(
            delete(f).where(
                f.c.site_id == s.site_id, f.c.period_start < s.checked.end, f.c.period_end > s.checked.start
            )
        )
        if s.occupancy is not None:
            conn.execute(
                delete(o).where(
                    o.c.site_id == s.site_id, o.c.interval_start >= s.checked.start, o.c.interval_start < s.checked.end
                )
            )
    flags = [row for s in sites for row in s.flags]
    if flags:
        conn.execute(insert(f), flags)
    kept = [s.occupancy for s in sites if s.occupancy is not None]
    if kept:
        insert_occupancy(conn, pd.concat(kept, ignore_index=True))
    for s in sites:
        record_quality_run(conn, s.site_id, s.checked, s.run)


def replace_occupancy(conn: Connection, site_id: str, checked: Window, occupancy: pd.DataFrame | None) -> None:
    """Replace one site's corrected occupancy over `checked` (None: keep the rows, the correction failed),
    leaving its flags: the per-window refresh between full checks (footfall.cadence)."""
    if occupancy is None:
        return
    o = schema.occupancy_corrected
    conn.execute(
        delete(o).where(o.c.site_id == site_id, o.c.interval_start >= checked.start, o.c.interval_start < checked.end)
    )
    insert_occupancy(conn, occupancy)


def count_flags(conn: Connection, site_id: str, checked: Window) -> int:
    """How many of the site's flags overlap `checked` (what a quality run over it reports standing)."""
    f = schema.quality_flag
    query = select(func.count()).where(
        f.c.site_id == site_id, f.c.period_start < checked.end, f.c.period_end > checked.start
    )
    return int(conn.execute(query).scalar_one())


def _occupancy_copy(frame: pd.DataFrame) -> bytes:
    """occupancy_corrected rows as binary COPY, built by column (row by row costs seconds per 200k rows).
    A missing value is written as NULL (the NOT NULL columns then refuse it, as an INSERT would)."""
    floats = {c: frame[c].to_numpy("float64", na_value=np.nan) for c in OCCUPANCY_COLUMNS[3:]}
    return pgcopy.copy_body(
        [
            pgcopy.Column("text", frame["site_id"].astype(str).to_numpy()),
            pgcopy.Column("date", pgcopy.dates_days(frame["local_date"])),
            pgcopy.Column("timestamptz", pgcopy.instants_us(frame["interval_start"])),
            *(pgcopy.Column("float8", values, np.isnan(values)) for values in floats.values()),
        ]
    )


def insert_occupancy(conn: Connection, frame: pd.DataFrame) -> None:
    """All corrected rows in one statement: COPY on PostgreSQL, one executemany of plain tuples on SQLite."""
    if frame.empty:
        return
    o = schema.occupancy_corrected
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None  # psycopg's connection, checked out
        cursor = driver.cursor()
        with cursor.copy(f"COPY {o.name} ({', '.join(OCCUPANCY_COLUMNS)}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(_occupancy_copy(frame))
        return
    # SQLite compares instants and dates as text: write them exactly as SQLAlchemy's SQLite types do.
    utc = pd.DatetimeIndex(frame["interval_start"]).tz_convert("UTC").tz_localize(None)
    starts = np.char.replace(np.datetime_as_string(utc.to_numpy("datetime64[us]"), unit="us"), "T", " ")
    factor = frame["correction_factor"].astype(float)
    columns = [
        frame["site_id"].tolist(),
        [d.isoformat() for d in frame["local_date"]],
        starts.tolist(),
        frame["raw_net_occupancy"].astype(float).tolist(),
        frame["corrected_occupancy"].astype(float).tolist(),
        factor.astype(object).where(factor.notna(), None).tolist(),
    ]
    placeholders = ", ".join("?" * len(OCCUPANCY_COLUMNS))
    conn.exec_driver_sql(
        f"INSERT INTO {o.name} ({', '.join(OCCUPANCY_COLUMNS)}) VALUES ({placeholders})",
        list(zip(*columns, strict=True)),
    )
