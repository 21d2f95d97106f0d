"""`footfall evaluate`: the rolling-origin backtest of a counts CSV, as one JSON-ready document."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from footfall.forecast.backtest import WARMUP_DAYS, evaluate_measure
from footfall.forecast.calendar import calendar_frame, holiday_dates
from footfall.forecast.features import SiteFrame, share_weather_columns
from footfall.forecast.series import UnusableInput, prepare_sites, read_counts_csv
from footfall.forecast.weather import weather_for

HORIZONS = ("1d", "2h")
MIN_TEST_DAYS = 7


@dataclass(frozen=True)
class SiteCalendar:
    """What the backtest needs to know about a site that the counts do not say."""

    timezone: str = "UTC"
    country: str | None = None
    region: str | None = None


def site_frames(
    path: Path | str,
    minutes: int,
    calendars: dict[str, SiteCalendar],
    default: SiteCalendar,
    weather: Path | str | None = None,
) -> list:
    """Read, sum and regularise the CSV into SiteFrames; raises UnusableInput with the reason.

    `weather`: an optional weather CSV (see `footfall.forecast.weather`) whose temperature and
    precipitation become features of each target slot.
    """
    counts = read_counts_csv(path)
    if counts.empty:
        raise UnusableInput(f"counts CSV {path} has no rows")
    if counts[["entries", "exits", "occupancy"]].isna().all().all():
        raise UnusableInput(f"counts CSV {path} has no measures (entries, exits and occupancy are all empty)")
    zones = {s: calendars.get(s, default).timezone for s in counts["site_id"].unique()}
    frames = []
    for site_id, series in prepare_sites(counts, minutes, zones).items():
        days = (series.index[-1] - series.index[0]).total_seconds() / 86400
        if days < WARMUP_DAYS + MIN_TEST_DAYS:
            continue
        info = calendars.get(site_id, default)
        index = cast(pd.DatetimeIndex, series.index)
        local_years = index.tz_convert(info.timezone).year
        calendar = calendar_frame(index, info.timezone, minutes, holiday_dates(info.country, info.region, local_years))
        warmup = int(np.searchsorted(index.asi8, index.asi8[0] + WARMUP_DAYS * 86400 * 10**9))
        frames.append(
            SiteFrame.build(
                site_id,
                series,
                calendar,
                info.timezone,
                minutes,
                scale_until=warmup,
                weather=weather_for(weather, site_id, index) if weather is not None else None,
            )
        )
    if not frames:
        raise UnusableInput(
            f"counts CSV {path} is too short: no site covers {WARMUP_DAYS + MIN_TEST_DAYS} days "
            f"({WARMUP_DAYS} of warm-up for the baselines, {MIN_TEST_DAYS} to test)"
        )
    return share_weather_columns(frames)


def evaluate(frames: list[SiteFrame], minutes: int, horizon: str) -> dict:
    """{"targets": {measure: {"methods": {...}, "reference_in_sample_slot_mean": {...}}}} for each measure present."""
    targets = {}
    for measure in ("entries", "exits", "occupancy"):
        usable = [f for f in frames if f.series[measure].notna().sum() > 0]
        if measure == "exits" or not usable:
            continue  # exits mirror entries; occupancy and entries are what visitors ask about
        targets[measure] = evaluate_measure(usable, horizon, minutes, measure)
    if not targets:
        raise UnusableInput("no site has entries or occupancy to forecast")
    return {"horizon": horizon, "resolution_minutes": minutes, "sites": [f.site_id for f in frames], "targets": targets}
