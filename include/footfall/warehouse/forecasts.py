"""Forecast storage and the reads training needs: model versions, published forecasts per site, and
each site's counts, corrected occupancy and high-severity flag periods as frames."""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from footfall.warehouse import schema


def _frame(engine: Engine, query: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        # Plain str names: pandas takes SQLAlchemy's quoted_name for a label to parse (groupby fails).
        return pd.DataFrame(result.fetchall(), columns=list(map(str, result.keys())))


def utc_instants(values: pd.Series) -> pd.Series:
    """Aware UTC nanoseconds, whether the backend returned aware (PostgreSQL) or naive UTC (SQLite) values."""
    stamps = pd.to_datetime(values)
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return stamps.dt.as_unit("ns")


def site_counts(engine: Engine, site_id: str) -> pd.DataFrame:
    """Every count of the site (counter_id, interval_start, interval_minutes, entries, exits, occupancy)."""
    t = schema.count_interval.c
    columns = [t.counter_id, t.interval_start, t.interval_minutes, t.entries, t.exits, t.occupancy]
    return _frame(engine, select(*columns).where(t.site_id == site_id))


def high_severity_flags(engine: Engine, site_id: str) -> pd.DataFrame | None:
    """period_start, period_end of the site's high-severity flags; None when quality checks are not installed."""
    if not inspect(engine).has_table(schema.quality_flag.name):
        return None
    t = schema.quality_flag.c
    return _frame(engine, select(t.period_start, t.period_end).where(t.site_id == site_id, t.severity == "high"))


def corrected_occupancy_rows(engine: Engine, site_id: str) -> pd.DataFrame | None:
    """interval_start, corrected_occupancy of the site; None when quality checks are not installed."""
    if not inspect(engine).has_table(schema.occupancy_corrected.name):
        return None
    t = schema.occupancy_corrected.c
    return _frame(engine, select(t.interval_start, t.corrected_occupancy).where(t.site_id == site_id))


def current_model(engine: Engine) -> dict | None:
    """The serving model version (method "model"), with its metrics and boosters, if any."""
    t = schema.forecast_model
    query = select(t).where(t.c.promoted.is_(True), t.c.method == "model").order_by(t.c.model_version.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def counts_span(engine: Engine) -> Any:
    """The time between the warehouse's first and last interval start (None while it holds no counts)."""
    t = schema.count_interval.c
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(t.interval_start), func.max(t.interval_start))).one()
    return None if first is None or last is None else last - first


def insert_model_version(engine: Engine, **values: Any) -> int:
    """A new forecast_model row; returns its model_version."""
    with engine.begin() as conn:
        key = conn.execute(insert(schema.forecast_model).values(**values)).inserted_primary_key
    assert key is not None  # an INSERT of one row always has its key
    return int(key[0])


def replace_site_forecast(engine: Engine, site_id: str, rows: list[dict[str, Any]]) -> None:
    """The site's published forecast becomes `rows` (one transaction)."""
    t = schema.forecast
    with engine.begin() as conn:
        conn.execute(delete(t).where(t.c.site_id == site_id))
        if rows:
            conn.execute(insert(t), rows)


# --- the 2-hour nowcast (footfall.forecast.nowcast) -----------------------------------------------
# Built once with bound parameters: the nowcast runs in every live site-run, and building a statement
# costs more than executing this one.

_f = schema.forecast.c
_FORECAST_SLOTS = (
    select(_f.slot_start, _f.slot_minutes, _f.occupancy_p10, _f.occupancy_p50, _f.occupancy_p90, _f.wait_minutes)
    .where(_f.site_id == bindparam("site_id"), _f.slot_start >= bindparam("start"), _f.slot_start < bindparam("end"))
    .order_by(_f.slot_start)
)
_n = schema.nowcast.c
_NOWCAST_ALL = delete(schema.nowcast).where(_n.site_id == bindparam("site_id"))
_NOWCAST_OUTSIDE = delete(schema.nowcast).where(
    _n.site_id == bindparam("site_id"), (_n.slot_start < bindparam("first")) | (_n.slot_start > bindparam("last"))
)
_NOWCAST_KEY = ("site_id", "slot_start")


@cache
def _nowcast_upsert(dialect: str) -> Any:
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(schema.nowcast)
    return statement.on_conflict_do_update(
        index_elements=list(_NOWCAST_KEY),
        set_={c.name: statement.excluded[c.name] for c in schema.nowcast.c if c.name not in _NOWCAST_KEY},
    )


def forecast_slots(conn: Connection, site_id: str, start: Any, end: Any) -> list[Any]:
    """Published forecast rows with slot_start in [start, end): one primary key range of the site."""
    return list(conn.execute(_FORECAST_SLOTS, {"site_id": site_id, "start": start, "end": end}).all())


def replace_site_nowcast(conn: Connection, site_id: str, rows: list[dict[str, Any]]) -> None:
    """The site's nowcast becomes `rows`, in the caller's transaction: only the latest run's is kept.

    Two statements that cannot conflict with a concurrent run of the same site (a backfill beside the
    live run): the rows outside the new slots are deleted, the new slots upserted."""
    if not rows:
        conn.execute(_NOWCAST_ALL, {"site_id": site_id})
        return
    first, last = min(r["slot_start"] for r in rows), max(r["slot_start"] for r in rows)
    conn.execute(_NOWCAST_OUTSIDE, {"site_id": site_id, "first": first, "last": last})
    conn.execute(_nowcast_upsert(conn.dialect.name), rows)


def site_nowcast(engine: Engine, site_id: str) -> list[Any]:
    """The site's current nowcast rows (at most two hours of slots), by slot start."""
    n = schema.nowcast.c
    query = select(schema.nowcast).where(n.site_id == site_id).order_by(n.slot_start)
    with engine.connect() as conn:
        return list(conn.execute(query).all())
