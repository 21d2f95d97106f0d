"""Queue measures (queue_measure): what queue-counting devices report, written and read back.

A (site, queue, interval) row is written by upsert: the latest received wins, so a re-run or a re-sent
body leaves the table as one run would. The waiting-time model reads them back per site to calibrate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select

from footfall.warehouse import schema
from footfall.warehouse.engine import dialect_insert

MEASURE_COLUMNS = ("interval_minutes", "queue_length", "wait_seconds", "served", "payload_id")


def _value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def write_queue_measures(conn: Connection, site_id: str, rows: pd.DataFrame) -> int:
    """Upsert the rows (footfall.normalize.queues columns) of one site in the caller's transaction."""
    if rows.empty:
        return 0
    records = [
        {
            "site_id": site_id,
            "queue_ref": str(r["queue_ref"]),
            "interval_start": pd.Timestamp(r["interval_start"]).to_pydatetime(),
            "interval_minutes": int(r["interval_minutes"]),
            "queue_length": _value(r["queue_length"]),
            "wait_seconds": _value(r["wait_seconds"]),
            "served": None if _value(r["served"]) is None else int(r["served"]),
            "payload_id": None if _value(r["payload_id"]) is None else int(r["payload_id"]) or None,
        }
        for r in rows.to_dict("records")
    ]
    statement = dialect_insert(conn, schema.queue_measure)
    statement = statement.on_conflict_do_update(
        index_elements=["site_id", "queue_ref", "interval_start"],
        set_={c: statement.excluded[c] for c in MEASURE_COLUMNS},
    )
    conn.execute(statement, records)
    return len(records)


def site_queue_measures(engine: Engine, site_id: str) -> pd.DataFrame:
    """Every queue measure of the site (queue_ref, interval_start UTC, interval_minutes, queue_length,
    wait_seconds, served), by queue and interval."""
    q = schema.queue_measure.c
    query = (
        select(q.queue_ref, q.interval_start, q.interval_minutes, q.queue_length, q.wait_seconds, q.served)
        .where(q.site_id == site_id)
        .order_by(q.queue_ref, q.interval_start)
    )
    with engine.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(map(str, result.keys())))
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True)
    for column in ("queue_length", "wait_seconds", "served"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame
