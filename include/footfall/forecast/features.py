"""Model features for (origin, target) slot pairs, using only what is known at the origin.

An origin is the last observed slot; a target is a later slot. Values are divided by the site's
scale so one global model serves sites of any size. The features are the target's calendar, its
past same-slot values (yesterday, last week, the 4-week median, the expanding weekly-slot mean),
the recent level at the origin, and the current readings (for short horizons, where they carry
most of the information). With optional weather (`footfall.forecast.weather`), the target slot's
temperature and precipitation are added: the weather forecast for that slot, known at the origin.
Without it the features are exactly the weatherless ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from footfall.forecast.calendar import same_wall_time_positions
from footfall.forecast.series import MEASURES
from footfall.forecast.weather import WEATHER_COLUMNS

WEEKS_FOR_MEDIAN = 4
RECENT_MINUTES = 120  # the window of `recent_ratio`: how the last two hours ran against their typical value
LEVEL_DAYS = 7  # the trailing window of a pair's level (see `SiteFrame.level`)
LEVEL_FLOOR = 0.05  # below this share of the site's scale (or unknown), a level is not trusted: 1 (the scale) serves
NOW_SHRINK = 2.0  # site-scale units added to both sides of a ratio to typical: a quiet hour does not zero a day


def take_at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """values[positions] with NaN where the position is -1."""
    out = values[np.clip(positions, 0, None)].astype(float)
    out[positions < 0] = np.nan
    return out


def row_nan_reduce(reduce: Callable[..., np.ndarray], stacked: np.ndarray) -> np.ndarray:
    """np.nanmedian/np.nanmean across columns; rows with no value give NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return reduce(stacked, axis=1)


def _expanding_group_mean(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Mean of all values so far (inclusive) in each slot's group; NaN-aware."""
    frame = pd.DataFrame({"v": values, "g": groups})
    known = frame["v"].notna().astype(float)
    total = frame["v"].fillna(0).groupby(frame["g"]).cumsum()
    count = known.groupby(frame["g"]).cumsum()
    return (total / count.replace(0, np.nan)).to_numpy()


def _day_type(calendar: pd.DataFrame) -> np.ndarray:
    """1 on workdays, 0 on weekends and public holidays: pooling days of a type gives steadier profiles."""
    return ((calendar["weekday"].to_numpy() < 5) & ~calendar["holiday"].to_numpy()).astype(np.int64)


EXCEPTIONAL_SHARE = 0.1  # a day below a tenth of its usual total (a closure, a dead counter) is exceptional


def exceptional_days(values: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Per slot: whether its local day is exceptional, judged only on earlier days.

    A day is exceptional when its total is under EXCEPTIONAL_SHARE of the median total of the same
    weekday over the previous four weeks (when that weekday has no history yet: of the upper quartile
    of the previous two weeks' days), that reference being positive: a one-off closure or a dead
    counter. A weekday that is always closed has a zero median, so it stays ordinary (learnt as closed).
    Vectorised over days (the retrain builds this for every site and measure).
    """
    frame = pd.DataFrame({"v": values, "d": dates})
    daily = frame.groupby("d", sort=True)["v"].agg(["sum", "count"])
    days = pd.DatetimeIndex(pd.to_datetime(daily.index))
    totals = pd.Series(daily["sum"].where(daily["count"] > 0).to_numpy(dtype=float), index=days)
    full = totals.reindex(pd.date_range(days.min(), days.max(), freq="D"))  # one row per calendar day
    same_weekday = pd.concat([full.shift(7 * k) for k in range(1, 5)], axis=1)
    usual = same_weekday.median(axis=1, skipna=True)
    recent = full.shift(1).rolling(14, min_periods=1).quantile(0.75)
    usual = usual.where(same_weekday.notna().any(axis=1), recent)
    flagged = (usual > 0) & (full < EXCEPTIONAL_SHARE * usual)
    by_date = pd.Series(flagged.reindex(days).to_numpy(dtype=bool), index=daily.index)
    return by_date.reindex(dates).fillna(False).to_numpy(dtype=bool)


def _last_reading(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The latest known value at or before each slot and its age in slots: a scrape or a manual count
    that skipped the origin slot still says where the level was (NaN before the first reading)."""
    positions = np.arange(len(values))
    seen = np.maximum.accumulate(np.where(np.isnan(values), -1, positions))
    latest = take_at(values, seen)
    age = np.where(seen >= 0, positions - seen, np.nan).astype(float)
    return latest, age


def _usual(typical: np.ndarray, lags: dict[int, np.ndarray]) -> np.ndarray:
    """Each slot's 4-week same-slot mean (one-off days left out)."""
    stacked = np.column_stack([take_at(typical, lags[7 * k]) for k in range(1, WEEKS_FOR_MEDIAN + 1)])
    return row_nan_reduce(np.nanmean, stacked)


def _day_so_far(raw: np.ndarray, usual: np.ndarray, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Since local midnight, up to each slot: the observed sum and the sum of those same slots' 4-week mean.

    Their ratio says how today runs against a typical day so far (same-day rescaling of the profile);
    only slots with both an observation and a typical value count.
    """
    both = ~np.isnan(raw) & ~np.isnan(usual)
    day = pd.Series(dates)
    observed = pd.Series(np.where(both, raw, 0.0)).groupby(day).cumsum().to_numpy()
    expected = pd.Series(np.where(both, usual, 0.0)).groupby(day).cumsum().to_numpy()
    return observed, expected


def trailing_level(raw: np.ndarray, typical: np.ndarray, dates: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Per slot: the mean of the `window` slots up to it (NaN-aware), earlier days' slots as `typical`
    (one-off days left out) and its own day's as `raw`: whether today is a one-off needs today's total,
    which is not known yet at the slot. NaN under `min_count` values. `window` spans at least a day."""
    day = pd.Series(dates)

    def sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        known = ~np.isnan(values)
        filled = pd.Series(np.where(known, values, 0.0))
        counted = pd.Series(known.astype(float))
        return (
            filled.rolling(window, min_periods=1).sum().to_numpy(),
            counted.rolling(window, min_periods=1).sum().to_numpy(),
            filled.groupby(day).cumsum().to_numpy(),
            counted.groupby(day).cumsum().to_numpy(),
        )

    window_typical, count_typical, today_typical, today_count_typical = sums(typical)
    _, _, today_raw, today_count_raw = sums(raw)
    total = window_typical - today_typical + today_raw
    count = count_typical - today_count_typical + today_count_raw
    return np.where(count >= min_count, total / np.maximum(count, 1), np.nan)


def _window_sums(raw: np.ndarray, usual: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Over the `steps` slots up to each slot: the observed sum and the sum of those same slots' typical value."""
    both = ~np.isnan(raw) & ~np.isnan(usual)
    observed = np.r_[0.0, np.cumsum(np.where(both, raw, 0.0))]
    expected = np.r_[0.0, np.cumsum(np.where(both, usual, 0.0))]
    ends = np.arange(1, len(raw) + 1)
    starts = np.maximum(ends - steps, 0)
    return observed[ends] - observed[starts], expected[ends] - expected[starts]


@dataclass
class SiteFrame:
    """One site's series with the positions and running statistics every feature needs."""

    site_id: str
    series: pd.DataFrame
    calendar: pd.DataFrame
    scale: dict[str, float]
    steps_per_day: int
    lags: dict[int, np.ndarray] = field(default_factory=dict)
    profile: dict[str, np.ndarray] = field(default_factory=dict)
    day_type_profile: dict[str, np.ndarray] = field(default_factory=dict)
    rolling_day: dict[str, np.ndarray] = field(default_factory=dict)
    rolling_week: dict[str, np.ndarray] = field(default_factory=dict)
    weather: pd.DataFrame | None = None  # temperature_c, precipitation_mm per slot (forecast for the future)
    exceptional: dict[str, np.ndarray] = field(default_factory=dict)  # per slot: its day is a one-off (closure...)
    day_observed: dict[str, np.ndarray] = field(default_factory=dict)  # running sum since local midnight
    day_typical: dict[str, np.ndarray] = field(default_factory=dict)  # the same slots' 4-week mean, summed
    last_seen: dict[str, np.ndarray] = field(default_factory=dict)  # the latest reading at or before each slot
    last_age: dict[str, np.ndarray] = field(default_factory=dict)  # slots since that reading
    recent: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # RECENT_MINUTES sums
    week: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # last 7 days sums
    # Per slot: the mean of the last LEVEL_DAYS (earlier one-off days left out) over the site's scale. A site
    # whose counts follow it has its pairs in scale x level at their origin (`in_level_units`).
    level: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        site_id: str,
        series: pd.DataFrame,
        calendar: pd.DataFrame,
        zone: str,
        minutes: int,
        scale_until: int | None = None,
        weather: pd.DataFrame | None = None,
    ) -> SiteFrame:
        """Precompute lags and running means; the scale uses only slots before `scale_until`.

        `weather`, when given, is aligned to the series' index (see `weather.align_weather`).
        """
        steps = 1440 // minutes
        index = cast(pd.DatetimeIndex, series.index)
        lags = {days: same_wall_time_positions(index, zone, days) for days in (1, 2, 3, 4, 5, 6, 7, 14, 21, 28)}
        head = series.iloc[:scale_until] if scale_until else series
        scale = {m: float(np.nanmean(np.abs(head[m].to_numpy(dtype=float)))) for m in MEASURES}
        scale = {m: (v if np.isfinite(v) and v > 0 else 1.0) for m, v in scale.items()}
        profile, day_type_profile, rolling_day, rolling_week, exceptional = {}, {}, {}, {}, {}
        day_type = calendar["slot_of_day"].to_numpy() * 2 + _day_type(calendar)
        dates = calendar["local_date"].to_numpy()
        day_observed, day_typical, last_seen, last_age, recent, week, level = {}, {}, {}, {}, {}, {}, {}
        for m in MEASURES:
            raw = series[m].to_numpy(dtype=float)
            exceptional[m] = exceptional_days(raw, dates)
            # Typical-day statistics skip one-off days: a closed week must not teach next week's profile.
            values = np.where(exceptional[m], np.nan, raw)
            usual = _usual(values, lags)
            day_observed[m], day_typical[m] = _day_so_far(raw, usual, dates)
            recent[m] = _window_sums(raw, usual, max(2, RECENT_MINUTES // minutes))
            week[m] = _window_sums(raw, usual, 7 * steps)
            level[m] = trailing_level(raw, values, dates, LEVEL_DAYS * steps, steps) / scale[m]
            last_seen[m], last_age[m] = _last_reading(raw)
            profile[m] = _expanding_group_mean(values, calendar["weekly_slot"].to_numpy())
            day_type_profile[m] = _expanding_group_mean(values, day_type)
            rolling_day[m] = series[m].rolling(steps, min_periods=steps // 2).mean().to_numpy()
            rolling_week[m] = series[m].rolling(7 * steps, min_periods=steps).mean().to_numpy()
        return cls(
            site_id,
            series,
            calendar,
            scale,
            steps,
            lags,
            profile,
            day_type_profile,
            rolling_day,
            rolling_week,
            weather,
            exceptional,
            day_observed,
            day_typical,
            last_seen,
            last_age,
            recent,
            week,
            level,
        )

    def values(self, measure: str) -> np.ndarray:
        return self.series[measure].to_numpy(dtype=float)

    def relative_level(self, origins: np.ndarray, measure: str) -> np.ndarray:
        """The site's trailing level at each origin as a share of its scale; 1 where unknown or too low to trust."""
        level = self.level[measure][origins] if measure in self.level else np.ones(len(origins))
        return np.where(np.isfinite(level) & (level > LEVEL_FLOOR), level, 1.0)

    def typical_values(self, measure: str) -> np.ndarray:
        """The values with exceptional days missing: what same-slot history features read."""
        values = self.values(measure)
        flags = self.exceptional.get(measure)
        return values if flags is None else np.where(flags, np.nan, values)

    def latest_same_day_type(self, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Position of the target's slot on the latest observed day of the same type (workday or not)."""
        kinds = _day_type(self.calendar)
        found = np.full(len(targets), -1)
        for days in range(1, 8):
            lag = self.lags[days][targets]
            usable = (found < 0) & (lag >= 0) & (lag <= origins) & (kinds[np.clip(lag, 0, None)] == kinds[targets])
            found = np.where(usable, lag, found)
        return found

    def week_lags(self, targets: np.ndarray) -> list[np.ndarray]:
        """Positions of the same wall-clock slot 1..4 weeks before each target."""
        return [self.lags[7 * k][targets] for k in range(1, WEEKS_FOR_MEDIAN + 1)]


def share_weather_columns(frames: list[SiteFrame]) -> list[SiteFrame]:
    """One global model needs one feature set: when any site has weather, sites without get missing values."""
    if any(f.weather is not None for f in frames):
        for frame in frames:
            if frame.weather is None:
                frame.weather = pd.DataFrame(np.nan, index=frame.series.index, columns=list(WEATHER_COLUMNS))
    return frames


def day_ahead_pairs(frame: SiteFrame, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(origin, target) for every target slot in [start, end): the origin is the last slot before its local midnight."""
    dates = frame.calendar["local_date"].to_numpy()
    targets = np.arange(max(start, 1), end)
    first = np.r_[True, dates[1:] != dates[:-1]]
    day_start = np.maximum.accumulate(np.where(first, np.arange(len(dates)), 0))
    origins = day_start[targets] - 1
    keep = origins >= 0
    return origins[keep], targets[keep]


def multi_day_pairs(frame: SiteFrame, start: int, end: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """(origin, target) with origins at each local midnight and targets on that day and the `days - 1` after it."""
    dates = frame.calendar["local_date"].to_numpy()
    first = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]])
    day_of = np.searchsorted(first, np.arange(len(dates)), side="right") - 1
    targets = np.arange(max(start, 1), end)
    origin_parts, target_parts = [], []
    for ahead in range(days):
        source_day = day_of[targets] - ahead
        keep = source_day >= 0
        origins = first[source_day[keep]] - 1
        valid = origins >= 0
        origin_parts.append(origins[valid])
        target_parts.append(targets[keep][valid])
    return np.concatenate(origin_parts), np.concatenate(target_parts)


def short_horizon_pairs(frame: SiteFrame, start: int, end: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(origin, target) for each origin in [start - 1, end - 1) and the next `steps` slots that fall before `end`."""
    origins = np.repeat(np.arange(max(start - 1, 0), end - 1), steps)
    targets = origins + np.tile(np.arange(1, steps + 1), len(origins) // steps)
    keep = targets < end
    return origins[keep], targets[keep]


DIMENSIONLESS = frozenset(
    {"slot_of_day", "weekday", "holiday", "term", "open", "lead_steps", "lead_minutes", "latest_age"}
    | {"day_ratio", "now_ratio", "recent_ratio", "week_ratio", *WEATHER_COLUMNS}
)


def in_level_units(features: pd.DataFrame, factor: np.ndarray) -> pd.DataFrame:
    """The features with every count divided by `factor` per row (1: unchanged); the calendar, leads,
    ages, ratios and weather stay as they are. With a site's `relative_level` as the factor, pairs of a
    busy term and of a quiet break are one unit apart, so one model serves both."""
    factor = np.asarray(factor, dtype=float)
    if np.all(factor == 1.0):
        return features
    out = features.copy()
    counts = [c for c in out.columns if c not in DIMENSIONLESS]
    out[counts] = out[counts].to_numpy(dtype=float) / factor[:, None]
    return out


def pair_features(frame: SiteFrame, origins: np.ndarray, targets: np.ndarray, measure: str) -> pd.DataFrame:
    """Features of each (origin, target) pair for forecasting `measure`, all scaled by the site's scale
    (`in_level_units` re-expresses them in units of the site's trailing level)."""
    scale = frame.scale[measure]
    raw = frame.values(measure) / scale
    values = frame.typical_values(measure) / scale  # same-slot history skips one-off days
    profile = frame.profile[measure] / scale
    cal = frame.calendar
    lag1 = frame.lags[1][targets]
    lag1 = np.where(lag1 <= origins, lag1, -1)
    weeks = [np.where(w <= origins, w, -1) for w in frame.week_lags(targets)]  # a week ahead and beyond: unknown
    week_values = np.column_stack([take_at(values, w) for w in weeks])
    median4 = row_nan_reduce(np.nanmedian, week_values)
    mean4 = row_nan_reduce(np.nanmean, week_values)
    profile_target = take_at(profile, weeks[0])
    profile_origin = take_at(profile, frame.lags[7][origins])
    current = raw[origins]
    latest = frame.last_seen[measure][origins] / scale  # the origin's reading, else the latest before it
    same_type = frame.latest_same_day_type(origins, targets)
    # Same-day rescaling: the typical value times how today (or, from midnight, yesterday) ran so far.
    observed = frame.day_observed[measure][origins] / scale
    expected = frame.day_typical[measure][origins] / scale
    day_ratio = np.clip((observed + NOW_SHRINK) / (expected + NOW_SHRINK), 0.2, 5.0)
    typical = np.where(np.isnan(mean4), median4, 0.5 * (median4 + mean4))
    origin_weeks = np.column_stack([take_at(values, w) for w in frame.week_lags(origins)])
    typical_origin = 0.5 * (row_nan_reduce(np.nanmedian, origin_weeks) + row_nan_reduce(np.nanmean, origin_weeks))
    now_ratio = np.clip((latest + NOW_SHRINK) / (typical_origin + NOW_SHRINK), 0.2, 5.0)
    recent_observed, recent_typical = (x[origins] / scale for x in frame.recent[measure])
    recent_ratio = np.clip((recent_observed + NOW_SHRINK) / (recent_typical + NOW_SHRINK), 0.2, 5.0)
    week_observed, week_typical = (x[origins] / scale for x in frame.week[measure])
    week_ratio = np.clip((week_observed + NOW_SHRINK) / (week_typical + NOW_SHRINK), 0.2, 5.0)
    features = {
        "slot_of_day": cal["slot_of_day"].to_numpy()[targets],
        "weekday": cal["weekday"].to_numpy()[targets],
        "holiday": cal["holiday"].to_numpy()[targets].astype(np.int8),
        "term": cal["term"].to_numpy()[targets].astype(np.int8),
        "open": cal["open"].to_numpy()[targets].astype(np.int8),
        "lead_steps": (targets - origins).astype(np.int32),
        "same_slot_yesterday": take_at(values, lag1),
        "same_slot_last_week": week_values[:, 0],
        "median_4_weeks": median4,
        "mean_4_weeks": mean4,
        "typical_4_weeks": typical,
        "day_ratio": day_ratio,
        "rescaled": typical * day_ratio,
        "typical_origin": typical_origin,
        "recent_ratio": recent_ratio,
        "typical_recent_ratio": typical * recent_ratio,
        "week_ratio": week_ratio,
        "typical_week_ratio": typical * week_ratio,
        "latest": latest,
        "latest_age": frame.last_age[measure][origins],
        "typical_step": typical + (latest - typical_origin),  # now, plus the typical change until the target
        "now_ratio": now_ratio,
        "typical_now_ratio": typical * now_ratio,
        "lead_minutes": ((targets - origins) * (1440 // frame.steps_per_day)).astype(np.int32),
        "profile": profile_target,
        "profile_day_type": take_at(frame.day_type_profile[measure] / scale, same_type),
        "profile_smooth": row_nan_reduce(
            np.nanmean,
            np.column_stack([take_at(profile, np.where(weeks[0] < 0, -1, weeks[0] + k)) for k in (-1, 0, 1)]),
        ),
        "same_day_type_latest": take_at(values, same_type),
        "current": current,
        "previous": take_at(raw, origins - 1),
        "current_vs_profile": current - profile_origin,
        "anchored": profile_target + (current - profile_origin),
        "level_day": frame.rolling_day[measure][origins] / scale,
        "level_week": frame.rolling_week[measure][origins] / scale,
    }
    for other in MEASURES:
        if other != measure:
            features[f"current_{other}"] = frame.values(other)[origins] / frame.scale[other]
    if frame.weather is not None:
        for column in WEATHER_COLUMNS:
            features[column] = frame.weather[column].to_numpy(dtype=float)[targets]
    return pd.DataFrame(features)
