"""Forecast storage and the reads training needs: model versions, published forecasts per site, and
each site's counts, corrected occupancy and high-severity flag periods as frames."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, inspect, select

from footfall.warehouse import schema
from footfall.warehouse.engine import dialect_insert


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


def last_trained_at(engine: Engine) -> Any:
    t = schema.forecast_model.c
    with engine.connect() as conn:
        return conn.execute(select(t.trained_at).order_by(t.trained_at.desc())).scalar()


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


def forecast_slots(conn: Connection, site_id: str, start: Any, end: Any) -> list[Any]:
    """Published forecast rows with slot_start in [start, end): one primary key range of the site."""
    f = schema.forecast.c
    query = (
        select(f.slot_start, f.slot_minutes, f.occupancy_p10, f.occupancy_p50, f.occupancy_p90, f.wait_minutes)
        .where(f.site_id == site_id, f.slot_start >= start, f.slot_start < end)
        .order_by(f.slot_start)
    )
    return list(conn.execute(query).all())


def replace_site_nowcast(conn: Connection, site_id: str, rows: list[dict[str, Any]]) -> None:
    """The site's nowcast becomes `rows`, in the caller's transaction: only the latest run's is kept.

    Two statements that cannot conflict with a concurrent run of the same site (a backfill beside the
    live run): the rows outside the new slots are deleted, the new slots upserted."""
    t = schema.nowcast
    stale = delete(t).where(t.c.site_id == site_id)
    if rows:
        first, last = min(r["slot_start"] for r in rows), max(r["slot_start"] for r in rows)
        stale = stale.where((t.c.slot_start < first) | (t.c.slot_start > last))
    conn.execute(stale)
    if rows:
        statement = dialect_insert(conn, t)
        keys = {"site_id", "slot_start"}
        statement = statement.on_conflict_do_update(
            index_elements=sorted(keys), set_={c.name: statement.excluded[c.name] for c in t.c if c.name not in keys}
        )
        conn.execute(statement, rows)


def site_nowcast(engine: Engine, site_id: str) -> list[Any]:
    """The site's current nowcast rows (at most two hours of slots), by slot start."""
    n = schema.nowcast.c
    query = select(schema.nowcast).where(n.site_id == site_id).order_by(n.slot_start)
    with engine.connect() as conn:
        return list(conn.execute(query).all())
