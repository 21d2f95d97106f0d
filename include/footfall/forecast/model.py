"""The global forecasting model: LightGBM quantile regressions on scaled pair features.

One model per measure serves every site (features and target are divided by the site's scale),
so a site with a short history borrows the shape of the others. The 50 % quantile is the point
forecast: WAPE is minimised by the median, not the mean. The 10 % and 90 % quantiles are separate
boosters with the same features; their predictions are sorted per row so they never cross.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import lightgbm as lgb

QUANTILES = (0.1, 0.5, 0.9)
PARAMS = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 80,  # counts are noisy: small trees with big leaves (measured on CalIt2)
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "seed": 7,
}
SMALL_DATA_ROWS = 200_000  # below this, threads cost more than they save (and suffer most on a busy box)
ROUNDS = 300


@dataclass
class QuantileModel:
    """Boosters by quantile, for one measure."""

    measure: str
    boosters: dict[float, lgb.Booster] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)

    def predict(self, features: pd.DataFrame) -> dict[float, np.ndarray]:
        """Predictions per quantile in the features' (scaled) units, non-crossing.

        A feature the model knows but the frame lacks (weather dropped since training) is missing.
        """
        columns = features.reindex(columns=self.feature_names)
        raw = np.column_stack([self.boosters[q].predict(columns) for q in sorted(self.boosters)])
        ordered = np.sort(raw, axis=1)
        return {q: ordered[:, i] for i, q in enumerate(sorted(self.boosters))}


MATURE, MIN_MATURE_ROWS = "median_4_weeks", 200
NOW_FADE_MINUTES = 120.0
ANCHORS = ("typical_4_weeks", "median_4_weeks", "same_day_type_latest", "same_slot_yesterday", "current")


LEVEL_MARGIN = 0.95  # the trailing level must cut the typical profile's error by 5 % to set a site's unit
MIN_LEVEL_PAIRS = 100


def level_helps(actual: np.ndarray, features: pd.DataFrame, scale: np.ndarray) -> bool:
    """Whether a site's counts follow its trailing level (terms, breaks, drift over years): on its own past
    pairs, the typical profile rescaled by how the last week ran against it beats the plain profile by
    LEVEL_MARGIN. Such a site's pairs are then expressed in units of that level (`features.in_level_units`);
    elsewhere (a steady site, or one whose level only lags its breaks) in its fixed scale."""
    typical = features["typical_4_weeks"].to_numpy(dtype=float) * scale
    rescaled = features["typical_week_ratio"].to_numpy(dtype=float) * scale
    known = ~np.isnan(actual) & ~np.isnan(typical) & ~np.isnan(rescaled)
    if known.sum() < MIN_LEVEL_PAIRS or actual[known].sum() <= 0:
        return False
    plain = float(np.abs(actual[known] - typical[known]).sum())
    return float(np.abs(actual[known] - rescaled[known]).sum()) < LEVEL_MARGIN * plain


def anchor(features: pd.DataFrame) -> np.ndarray:
    """The robust statistical guess the boosters are blended with per site: the 4-week same-slot median
    and mean averaged (one-off days left out), else the latest same-type day, yesterday, now, 0; scaled
    by how the latest reading runs against its typical value, a factor that fades over a couple of hours.
    A site with little or changing history is served mostly this; a rich one mostly the boosters."""
    out = np.full(len(features), np.nan)
    for column in ANCHORS:
        if column in features:
            values = features[column].to_numpy(dtype=float)
            out = np.where(np.isnan(out), values, out)
    if "week_ratio" in features and "day_ratio" in features:  # this week's level, then half of today's difference
        week = np.nan_to_num(features["week_ratio"].to_numpy(dtype=float), nan=1.0)
        day = np.nan_to_num(features["day_ratio"].to_numpy(dtype=float), nan=1.0)
        out = out * week * (day / week) ** 0.5
    if "now_ratio" in features and "lead_minutes" in features:  # how now runs against typical fades with the lead
        ratio = np.nan_to_num(features["now_ratio"].to_numpy(dtype=float), nan=1.0)
        out = out * ratio ** np.exp(-features["lead_minutes"].to_numpy(dtype=float) / NOW_FADE_MINUTES)
    return np.nan_to_num(out, nan=0.0)


def fit(
    features: pd.DataFrame,
    target: np.ndarray,
    measure: str,
    quantiles: tuple[float, ...] = QUANTILES,
    rounds: int = ROUNDS,
    params: dict | None = None,
) -> QuantileModel:
    """Train one booster per quantile on rows whose target is known."""
    import lightgbm as lgb

    known = ~np.isnan(target)
    if MATURE in features:  # rows whose anchor stands on four weeks of history, when there are enough
        mature = known & features[MATURE].notna().to_numpy()
        if mature.sum() >= MIN_MATURE_ROWS:
            known = mature
    rows = features[known]
    data = lgb.Dataset(
        rows,
        label=target[known],
        categorical_feature=["weekday"],
        free_raw_data=False,
    )
    model = QuantileModel(measure, feature_names=list(features.columns))
    threads = 1 if known.sum() < SMALL_DATA_ROWS else min(2, os.cpu_count() or 1)
    for quantile in quantiles:
        model.boosters[quantile] = lgb.train(
            {**PARAMS, "num_threads": threads, **(params or {}), "objective": "quantile", "alpha": quantile},
            data,
            num_boost_round=rounds,
        )
    return model


BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
BLEND_MARGIN = 0.95  # a blend must cut the boosters' error by 5 % to be chosen (a holdout week is noisy)


def blend_weight(actual: np.ndarray, boosted: np.ndarray, statistical: np.ndarray) -> float:
    """The share of the boosters (against `anchor`) with the least absolute error on out-of-sample pairs.

    Chosen per site from forecasts made before the answers were known; a blend must beat the boosters
    alone by BLEND_MARGIN, and with no such pairs yet the boosters serve alone.
    """
    known = ~np.isnan(actual) & ~np.isnan(boosted) & ~np.isnan(statistical)
    if not known.any():
        return 1.0
    errors = [
        float(np.abs(actual[known] - (w * boosted[known] + (1 - w) * statistical[known])).sum()) for w in BLEND_WEIGHTS
    ]
    best = min(errors)
    if best > errors[-1] * BLEND_MARGIN:  # not clearly better than the boosters alone: noise
        return 1.0
    return max(w for w, e in zip(BLEND_WEIGHTS, errors, strict=True) if e <= best * (1 + 1e-9))
