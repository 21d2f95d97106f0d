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
from sqlalchemy import Engine

from footfall.config import Site
from footfall.forecast.series import derive_occupancy, site_series
from footfall.forecast.waiting import queue_observations
from footfall.warehouse.forecasts import corrected_occupancy_rows, high_severity_flags, site_counts, utc_instants
from footfall.warehouse.queues import site_queue_measures


def high_severity_periods(engine: Engine, site_id: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of every high-severity flag of the site; empty when quality checks are not installed."""
    flags = high_severity_flags(engine, site_id)
    if flags is None or flags.empty:
        return []
    return list(zip(utc_instants(flags["period_start"]), utc_instants(flags["period_end"]), strict=True))


def corrected_occupancy(engine: Engine, site_id: str) -> pd.Series | None:
    """The quality layer's corrected occupancy by interval start, or None when there is none."""
    rows = corrected_occupancy_rows(engine, site_id)
    if rows is None or rows.empty:
        return None
    return pd.Series(
        rows["corrected_occupancy"].to_numpy(float), index=pd.DatetimeIndex(utc_instants(rows["interval_start"]))
    )


def training_series(engine: Engine, site: Site, minutes: int | None = None) -> pd.DataFrame:
    """The site's history on a regular UTC grid: entries, exits, occupancy; flagged slots missing; and,
    where its devices report queues, queue_length and wait_minutes (footfall.forecast.waiting)."""
    minutes = minutes or site.forecast_resolution_minutes
    counts = site_counts(engine, site.id)
    if counts.empty:
        return pd.DataFrame(columns=["entries", "exits", "occupancy"], dtype=float)
    counts["interval_start"] = utc_instants(counts["interval_start"])
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
    # Queue lengths and waits the site's queue-counting devices reported: the waiting model's calibration.
    queues = queue_observations(site_queue_measures(engine, site.id), minutes)
    if not queues.empty:
        series = series.join(queues.reindex(series.index))
    starts = cast(pd.DatetimeIndex, series.index).asi8
    ends = starts + np.int64(minutes * 60 * 10**9)
    for start, end in high_severity_periods(engine, site.id):
        overlap = (starts < end.value) & (ends > start.value)
        series.loc[overlap, ["entries", "exits", "occupancy"]] = np.nan
    return series
