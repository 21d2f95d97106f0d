"""Rolling-origin backtest of the model and every baseline on the same (origin, target) pairs.

The test period starts after a warm-up (four weeks, so every baseline has its history); it is cut
into blocks (a week by default). Before each block the model is refit on every pair whose target
was observed by the block's start, then forecasts the block's pairs: what a weekly retrain would
have served. Features use only data up to each pair's origin, so nothing peeks at the answer,
except the labelled reference (the in-sample weekly-slot mean), which shows where noise sets the floor.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from footfall.forecast import model as forecast_model
from footfall.forecast.baselines import BASELINES, predict_baseline
from footfall.forecast.features import (
    SiteFrame,
    day_ahead_pairs,
    in_level_units,
    pair_features,
    short_horizon_pairs,
)
from footfall.forecast.metrics import mae, wape

WARMUP_DAYS = 28


@dataclass
class Pairs:
    """Every site's pairs, their features and where they sit in time."""

    sites: list[SiteFrame]
    site_of: np.ndarray
    origins: np.ndarray
    targets: np.ndarray
    origin_end: np.ndarray  # UTC ns: when the origin slot is observed
    target_end: np.ndarray
    features: pd.DataFrame
    actual: np.ndarray  # original units
    scale: np.ndarray
    level: np.ndarray  # the site's trailing level at the origin (`SiteFrame.relative_level`)
    test: np.ndarray  # bool: scored pair
    trainable: np.ndarray  # bool: target not on an exceptional day (scored all the same, but not learnt from)


def build_pairs(sites: list[SiteFrame], horizon: str, minutes: int, measure: str) -> Pairs:
    """All pairs of the horizon ("1d": the next local day from midnight; "2h": the next 2 h from every slot)."""
    parts = []
    step = np.int64(minutes * 60 * 10**9)
    for number, frame in enumerate(sites):
        n = len(frame.series)
        if horizon == "1d":
            origins, targets = day_ahead_pairs(frame, 1, n)
        else:
            origins, targets = short_horizon_pairs(frame, 1, n, steps=max(1, 120 // minutes))
        stamps = cast(pd.DatetimeIndex, frame.series.index).asi8
        warmup_end = stamps[0] + np.int64(WARMUP_DAYS * 86400 * 10**9)
        parts.append(
            (
                np.full(len(origins), number),
                origins,
                targets,
                stamps[origins] + step,
                stamps[targets] + step,
                pair_features(frame, origins, targets, measure),
                frame.values(measure)[targets],
                np.full(len(origins), frame.scale[measure]),
                frame.relative_level(origins, measure),
                stamps[origins] + step >= warmup_end,
                ~frame.exceptional[measure][targets] if measure in frame.exceptional else np.ones(len(targets), bool),
            )
        )
    columns = list(zip(*parts, strict=True))
    site_of, origins, targets, origin_end, target_end = (np.concatenate(c) for c in columns[:5])
    actual, scale, level, test, trainable = (np.concatenate(c) for c in columns[6:])
    features = pd.concat(columns[5], ignore_index=True)
    return Pairs(
        sites, site_of, origins, targets, origin_end, target_end, features, actual, scale, level, test, trainable
    )


MAX_REFITS = 30  # a years-long history is refit at most this often (blocks widen), so its backtest stays minutes


def _block_starts(pairs: Pairs, block_days: float) -> list[int]:
    scored = pairs.origin_end[pairs.test]
    first, last = int(scored.min()), int(scored.max())
    width = max(int(block_days * 86400 * 10**9), -(-(last + 1 - first) // MAX_REFITS))
    return [*range(first, last + 1, width), last + 1]


HOLDOUT_DAYS = 7  # before the first block, the last week of training answers picks the first blend weights


def _site_weights(pairs: Pairs, seen: np.ndarray, boosted: np.ndarray, statistical: np.ndarray) -> np.ndarray:
    """Per pair, its site's blend weight from the out-of-sample pairs `seen`."""
    weights = np.ones(len(pairs.actual))
    for number in np.unique(pairs.site_of):
        site = pairs.site_of == number
        rows = seen & site
        weights[site] = forecast_model.blend_weight(pairs.actual[rows], boosted[rows], statistical[rows])
    return weights


def level_factors(pairs: Pairs, seen: np.ndarray) -> np.ndarray:
    """Per pair, the divisor of its counts: its site's trailing level where that site's pairs `seen`
    (targets already observed) say its counts follow that level (`model.level_helps`), else 1."""
    factor = np.ones(len(pairs.actual))
    for number in np.unique(pairs.site_of):
        site = pairs.site_of == number
        rows = seen & site
        if forecast_model.level_helps(pairs.actual[rows], pairs.features[rows], pairs.scale[rows]):
            factor[site] = pairs.level[site]
    return factor


def backtest_model(pairs: Pairs, measure: str, block_days: float = 7.0, rounds: int = forecast_model.ROUNDS) -> dict:
    """Refit before each block, predict the block; returns predictions (original units) and timings.

    What serves is each site's blend of the boosters with the statistical anchor, its weight chosen on
    that site's earlier out-of-sample forecasts (before the first block: a holdout of the last week of
    training), so a site whose history misleads the boosters falls back towards the robust guess.
    """
    predicted = np.full(len(pairs.actual), np.nan)
    boosted = np.full(len(pairs.actual), np.nan)
    statistical = forecast_model.anchor(pairs.features) * pairs.scale
    seen = np.zeros(len(pairs.actual), dtype=bool)  # pairs forecast out of sample so far
    train_s = predict_s = 0.0
    known = ~np.isnan(pairs.actual)
    bounds = _block_starts(pairs, block_days)
    for start, end in itertools.pairwise(bounds):
        block = pairs.test & (pairs.origin_end >= start) & (pairs.origin_end < end) & known
        if not block.any():
            continue
        train = (pairs.target_end <= start) & known & pairs.trainable
        began = time.perf_counter()
        factor = level_factors(pairs, (pairs.target_end <= start) & known)  # each site's unit, from its past
        features, unit = in_level_units(pairs.features, factor), pairs.scale * factor
        if not seen.any():
            cut = start - int(HOLDOUT_DAYS * 86400 * 10**9)
            inner, holdout = train & (pairs.target_end <= cut), train & (pairs.origin_end >= cut)
            if inner.sum() and holdout.sum():
                early = forecast_model.fit(features[inner], pairs.actual[inner] / unit[inner], measure, (0.5,), rounds)
                boosted[holdout] = early.predict(features[holdout])[0.5] * unit[holdout]
                seen |= holdout
        fitted = forecast_model.fit(
            features[train], pairs.actual[train] / unit[train], measure, quantiles=(0.5,), rounds=rounds
        )
        train_s += time.perf_counter() - began
        began = time.perf_counter()
        boosted[block] = np.clip(fitted.predict(features[block])[0.5] * unit[block], 0, None)
        weights = _site_weights(pairs, seen, boosted, statistical)
        predicted[block] = weights[block] * boosted[block] + (1 - weights[block]) * statistical[block]
        seen |= block
        predict_s += time.perf_counter() - began
    return {"predicted": np.clip(predicted, 0, None), "train_s": train_s, "predict_s": predict_s}


def in_sample_slot_mean(pairs: Pairs, measure: str) -> np.ndarray:
    """The reference: each target's mean over its whole series' same weekly slot (it peeks at the answers)."""
    out = np.empty(len(pairs.actual))
    for number, frame in enumerate(pairs.sites):
        rows = pairs.site_of == number
        slot_means = frame.series[measure].groupby(frame.calendar["weekly_slot"].to_numpy()).mean()
        weekly_slot = frame.calendar["weekly_slot"].to_numpy()[pairs.targets[rows]]
        out[rows] = slot_means.reindex(weekly_slot).to_numpy()
    return out


def _scores(actual: np.ndarray, predicted: np.ndarray, train_s: float, predict_s: float) -> dict[str, float]:
    return {
        "mae": round(mae(actual, predicted), 4),
        "wape": round(wape(actual, predicted), 4),
        "train_s": round(train_s, 3),
        "predict_s": round(predict_s, 3),
    }


def evaluate_measure(sites: list[SiteFrame], horizon: str, minutes: int, measure: str) -> dict:
    """The model and every baseline scored on the same test pairs, plus the peeking reference."""
    pairs = build_pairs(sites, horizon, minutes, measure)
    scored = pairs.test & ~np.isnan(pairs.actual)
    actual = pairs.actual[scored]
    methods = {}
    result = backtest_model(pairs, measure)
    methods["model"] = _scores(actual, result["predicted"][scored], result["train_s"], result["predict_s"])
    for name in BASELINES:
        began = time.perf_counter()
        predicted = np.empty(len(pairs.actual))
        for number, frame in enumerate(sites):
            rows = pairs.site_of == number
            predicted[rows] = predict_baseline(name, frame, pairs.origins[rows], pairs.targets[rows], measure)
        methods[name] = _scores(actual, predicted[scored], 0.0, time.perf_counter() - began)
    reference = in_sample_slot_mean(pairs, measure)[scored]
    return {
        "methods": methods,
        "reference_in_sample_slot_mean": {
            "mae": round(mae(actual, reference), 4),
            "wape": round(wape(actual, reference), 4),
        },
        "scored_pairs": int(scored.sum()),
    }
