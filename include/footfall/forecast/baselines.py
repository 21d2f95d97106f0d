"""The simple methods every model must beat, computed for (origin, target) slot pairs.

They are what a careful person would do by hand, so a model that cannot beat the best of them
is not worth serving. A baseline with no value for a pair (a gap, or too little history) falls
back to persistence, so each method always answers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from footfall.forecast.features import SiteFrame, row_nan_reduce, take_at


def persistence(frame: SiteFrame, origins: np.ndarray, targets: np.ndarray, measure: str) -> np.ndarray:
    """The last observed value."""
    return frame.values(measure)[origins]


def same_slot_yesterday(frame: SiteFrame, origins: np.ndarray, targets: np.ndarray, measure: str) -> np.ndarray:
    """The same local wall-clock slot one day earlier (if already observed at the origin)."""
    lag = frame.lags[1][targets]
    return take_at(frame.values(measure), np.where(lag <= origins, lag, -1))


def same_slot_last_week(frame: SiteFrame, origins: np.ndarray, targets: np.ndarray, measure: str) -> np.ndarray:
    """The same local slot seven days earlier."""
    return take_at(frame.values(measure), frame.lags[7][targets])


def median_4_weeks(frame: SiteFrame, origins: np.ndarray, targets: np.ndarray, measure: str) -> np.ndarray:
    """Median of the same local weekly slot over the last four weeks."""
    values = frame.values(measure)
    stacked = np.column_stack([take_at(values, w) for w in frame.week_lags(targets)])
    return row_nan_reduce(np.nanmedian, stacked)


BASELINES: dict[str, Callable[[SiteFrame, np.ndarray, np.ndarray, str], np.ndarray]] = {
    "persistence": persistence,
    "same_slot_yesterday": same_slot_yesterday,
    "same_slot_last_week": same_slot_last_week,
    "median_4_weeks": median_4_weeks,
}


def predict_baseline(name: str, frame: SiteFrame, origins: np.ndarray, targets: np.ndarray, measure: str) -> np.ndarray:
    """One baseline's predictions, falling back to persistence (then zero) where it has none."""
    predicted = BASELINES[name](frame, origins, targets, measure)
    fallback = np.nan_to_num(persistence(frame, origins, targets, measure), nan=0.0)
    return np.where(np.isnan(predicted), fallback, predicted)
