"""Forecast errors. WAPE (sum of absolute errors over sum of actuals) is the promotion metric:
it weighs busy slots by their size and stays defined when many slots are zero, unlike MAPE."""

from __future__ import annotations

import numpy as np


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(actual - predicted)))


def wape(actual: np.ndarray, predicted: np.ndarray) -> float:
    total = float(np.sum(np.abs(actual)))
    return float(np.sum(np.abs(actual - predicted)) / total) if total > 0 else float("nan")


def pinball(actual: np.ndarray, predicted: np.ndarray, quantile: float) -> float:
    """Quantile loss, to check the 10 % and 90 % forecasts."""
    diff = actual - predicted
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1) * diff)))
