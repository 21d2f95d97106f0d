"""Optional weather inputs: hourly temperature and precipitation aligned to each forecast slot.

The source is a CSV `time,temperature_c,precipitation_mm` with UTC hours (an optional `site_id`
column scopes rows to one site; without it the rows serve every site). It holds observations for
the past and a weather *forecast* for the days ahead, in one file: whoever refreshes it appends the
latest forecast. A target slot's features are the file's values for the hour containing the slot's
start, so a day-ahead forecast uses the weather forecast for the target slot: what is known at
forecast time. In a backtest the past rows are observations, so the scores assume a perfect weather
forecast (slightly optimistic; day-ahead weather forecasts are good, rain timing less so).

Precipitation is mm in the hour (a rate; it is not divided across shorter slots). Hours absent
from the file are missing features (LightGBM sends them down the learned default branch). Without
weather nothing changes: the features, and so the models' results, are those of a weatherless run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from footfall.forecast.series import UnusableInput

WEATHER_COLUMNS = ("temperature_c", "precipitation_mm")


def read_weather_csv(path: Path | str) -> pd.DataFrame:
    """The weather CSV as rows (site_id when present, time as UTC ns, temperature_c, precipitation_mm)."""
    try:
        frame = pd.read_csv(path, dtype={"site_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnusableInput(f"cannot read weather CSV {path}: {exc}") from None
    missing = {"time", *WEATHER_COLUMNS} - set(frame.columns)
    if missing:
        raise UnusableInput(f"weather CSV {path} lacks column(s) {', '.join(sorted(missing))}")
    try:
        frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601").dt.as_unit("ns")
    except (ValueError, TypeError) as exc:
        raise UnusableInput(f"weather CSV {path}: time is not ISO 8601 ({exc})") from None
    for column in WEATHER_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def site_weather(rows: pd.DataFrame, site_id: str) -> pd.DataFrame:
    """One site's hourly weather indexed by UTC hour (rows without a site_id column serve every site)."""
    if "site_id" in rows.columns:
        rows = rows[rows["site_id"].isna() | (rows["site_id"] == site_id)]
    hourly = rows.assign(time=rows["time"].dt.floor("1h")).groupby("time")[list(WEATHER_COLUMNS)].mean()
    return hourly


def align_weather(hourly: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Temperature and precipitation of the hour containing each slot's start (NaN where the file has none)."""
    hours = index.floor("1h")
    values = hourly.reindex(hours)
    return pd.DataFrame({c: values[c].to_numpy(dtype=float) for c in WEATHER_COLUMNS}, index=index)


def weather_for(path: Path | str | None, site_id: str, index: pd.DatetimeIndex) -> pd.DataFrame | None:
    """The site's weather on its slot grid, or None without a weather file (or no row for the site)."""
    if path is None:
        return None
    hourly = site_weather(read_weather_csv(path), site_id)
    if hourly.empty:
        return None
    aligned = align_weather(hourly, index)
    return aligned if np.isfinite(aligned.to_numpy()).any() else None
