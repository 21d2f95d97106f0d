"""Regular per-site series from interval counts: the shape every forecast method works on.

A site's counters are summed, the grid is regular at the chosen resolution (UTC instants), and
occupancy, when no counter reports it, is derived from entries minus exits with a daily reset at
the site's quietest local hour (door counters drift: a missed exit would otherwise accumulate forever).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

MEASURES = ("entries", "exits", "occupancy")
QUEUE_COLUMNS = ("queue_length", "wait_minutes")  # optional: observed queues, for the waiting model's calibration


class UnusableInput(ValueError):
    """Counts that cannot be forecast or evaluated; the message is the one-line reason."""


def parse_resolution(text: str) -> int:
    """Minutes of "30min", "15m", "1h" or "30"; forecasts need a divisor of a day."""
    value = text.strip().lower()
    for suffix, factor in (("min", 1), ("m", 1), ("h", 60)):
        if value.endswith(suffix):
            value, scale = value.removesuffix(suffix), factor
            break
    else:
        scale = 1
    try:
        minutes = int(value) * scale
    except ValueError:
        raise UnusableInput(f"resolution {text!r} is not like 15min, 30min or 1h") from None
    if minutes <= 0 or 1440 % minutes:
        raise UnusableInput(f"resolution {text!r} must divide a day")
    return minutes


def read_counts_csv(path: Path | str) -> pd.DataFrame:
    """The counts CSV of `footfall parse` (empty cells are absent measures)."""
    try:
        frame = pd.read_csv(path, dtype={"site_id": str, "counter_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnusableInput(f"cannot read counts CSV {path}: {exc}") from None
    missing = {"site_id", "interval_start", "interval_minutes"} - set(frame.columns)
    if missing:
        raise UnusableInput(f"counts CSV {path} lacks column(s) {', '.join(sorted(missing))}")
    # Nanoseconds whatever pandas infers: the backtest compares instants as int64 ns.
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True, format="ISO8601").dt.as_unit("ns")
    for measure in MEASURES:
        frame[measure] = pd.to_numeric(frame[measure], errors="coerce") if measure in frame else np.nan
    for column in QUEUE_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def site_series(counts: pd.DataFrame, minutes: int) -> pd.DataFrame:
    """One site's counts summed over counters on a regular UTC grid of `minutes`.

    Entries and exits are summed into the coarser slot (absent when every counter is absent);
    occupancy is summed across counters and taken at the slot's last reading.
    """
    step = f"{minutes}min"
    frame = counts.copy()
    frame["slot"] = frame["interval_start"].dt.floor(step)
    flows = frame.groupby("slot")[["entries", "exits"]].sum(min_count=1)
    per_instant = frame.groupby(["slot", "interval_start"])["occupancy"].sum(min_count=1)
    occupancy = per_instant.groupby(level="slot").last()
    series = flows.join(occupancy.rename("occupancy"))
    # Observed queues, when counters report them: people waiting (summed, last reading), mean wait.
    if "queue_length" in frame:
        queue = frame.groupby(["slot", "interval_start"])["queue_length"].sum(min_count=1)
        series = series.join(queue.groupby(level="slot").last().rename("queue_length"))
    if "wait_minutes" in frame:
        series = series.join(frame.groupby("slot")["wait_minutes"].mean())
    grid = pd.date_range(series.index.min(), series.index.max(), freq=step, name="interval_start", unit="ns")
    return series.reindex(grid)


def quietest_hour(series: pd.DataFrame, zone: str) -> int:
    """Local hour with the least traffic on average: where a daily occupancy reset does least harm."""
    traffic = series["entries"].fillna(0) + series["exits"].fillna(0)
    hours = cast(pd.DatetimeIndex, series.index).tz_convert(zone).hour
    return int(cast(int, traffic.groupby(hours).mean().idxmin()))


def derive_occupancy(series: pd.DataFrame, zone: str, reset_hour: int | None = None) -> pd.Series:
    """People inside at the end of each slot: entries minus exits since the daily reset, never below zero.

    Within a reset day, occ_t = max(0, occ_{t-1} + in_t - out_t), which is S_t - min(0, min_{k<=t} S_k)
    for the running net sum S: vectorised, no Python loop over slots.
    """
    hour = quietest_hour(series, zone) if reset_hour is None else reset_hour
    local = cast(pd.DatetimeIndex, series.index).tz_convert(zone)
    reset_day = (local - pd.Timedelta(hours=hour)).date
    net = series["entries"].fillna(0) - series["exits"].fillna(0)
    running = net.groupby(reset_day).cumsum()
    floor = running.groupby(reset_day).cummin().clip(upper=0)
    return (running - floor).astype(float)


def prepare_sites(counts: pd.DataFrame, minutes: int, zones: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Every site's regular series with occupancy filled in (reported, else derived)."""
    sites = {}
    for site_id, rows in counts.groupby("site_id"):
        series = site_series(rows, minutes)
        reported = series["occupancy"].notna().mean() > 0.5
        has_flows = series["entries"].notna().any() and series["exits"].notna().any()
        if not reported and has_flows:
            series["occupancy"] = derive_occupancy(series, zones.get(str(site_id), "UTC"))
        sites[str(site_id)] = series
    return sites
