"""Training data from the warehouse: each site's consolidated history (live and backfilled) as a regular series.

Occupancy comes from the data-quality layer's `occupancy_corrected` when that table exists and has
rows for the site, else from reported occupancy, else it is derived from entries and exits with a
daily reset. Intervals under a high-severity quality flag are left out (set to missing), so a
broken counter does not teach the model that the library was empty. All of it sits behind
`training_series`, so the rest of the forecast code never knows which case applied.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd
from sqlalchemy import Engine, inspect, text

from footfall.config import Site
from footfall.forecast.series import derive_occupancy, site_series


def _has_table(engine: Engine, name: str) -> bool:
    return inspect(engine).has_table(name)


def _read(engine: Engine, sql: str, **params: object) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _utc(values: pd.Series) -> pd.Series:
    """Aware UTC nanoseconds, whether the backend returned aware (PostgreSQL) or naive UTC (SQLite) values."""
    stamps = pd.to_datetime(values)
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return stamps.dt.as_unit("ns")


def high_severity_periods(engine: Engine, site_id: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of every high-severity flag of the site; empty when quality checks are not installed."""
    if not _has_table(engine, "quality_flag"):
        return []
    flags = _read(
        engine,
        "SELECT period_start, period_end FROM quality_flag WHERE site_id = :site AND severity = 'high'",
        site=site_id,
    )
    if flags.empty:
        return []
    return list(zip(_utc(flags["period_start"]), _utc(flags["period_end"]), strict=True))


def corrected_occupancy(engine: Engine, site_id: str) -> pd.Series | None:
    """The quality layer's corrected occupancy by interval start, or None when there is none."""
    if not _has_table(engine, "occupancy_corrected"):
        return None
    rows = _read(
        engine,
        "SELECT interval_start, corrected_occupancy FROM occupancy_corrected WHERE site_id = :site",
        site=site_id,
    )
    if rows.empty:
        return None
    return pd.Series(rows["corrected_occupancy"].to_numpy(float), index=pd.DatetimeIndex(_utc(rows["interval_start"])))


def training_series(engine: Engine, site: Site, minutes: int | None = None) -> pd.DataFrame:
    """The site's history on a regular UTC grid: entries, exits, occupancy; flagged slots missing."""
    minutes = minutes or site.forecast_resolution_minutes
    counts = _read(
        engine,
        "SELECT counter_id, interval_start, interval_minutes, entries, exits, occupancy "
        "FROM count_interval WHERE site_id = :site",
        site=site.id,
    )
    if counts.empty:
        return pd.DataFrame(columns=["entries", "exits", "occupancy"], dtype=float)
    counts["interval_start"] = _utc(counts["interval_start"])
    for measure in ("entries", "exits", "occupancy"):
        counts[measure] = pd.to_numeric(counts[measure], errors="coerce").astype(float)
    series = site_series(counts, minutes)
    corrected = corrected_occupancy(engine, site.id)
    if corrected is not None:
        step = f"{minutes}min"
        slots = cast(pd.DatetimeIndex, corrected.index).floor(step)
        series["occupancy"] = corrected.groupby(slots).last().reindex(series.index)
    elif series["occupancy"].notna().mean() <= 0.5:
        series["occupancy"] = derive_occupancy(series, site.timezone)
    starts = cast(pd.DatetimeIndex, series.index).asi8
    ends = starts + np.int64(minutes * 60 * 10**9)
    for start, end in high_severity_periods(engine, site.id):
        overlap = (starts < end.value) & (ends > start.value)
        series.loc[overlap, ["entries", "exits", "occupancy"]] = np.nan
    return series
