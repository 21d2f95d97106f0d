"""Retrain the global model from the warehouse, decide what serves, and publish 7-day forecasts.

One run: every site's consolidated history -> pairs with origins at local midnights and targets
up to eight local days ahead -> a day-ahead backtest over the last four weeks (one refit at the
start of that window; the model and every baseline on the same pairs) -> the promotion rule ->
10/50/90 % forecasts for the next 7 days at each site's resolution, with waits where the site
has a capacity -> the `forecast` table (replaced per site) and a `forecast_model` row.

Promotion: a new model serves only if its WAPE (mean over entries and occupancy) beats the best
baseline's and the current model's recorded WAPE. Otherwise the current model keeps serving if
it exists, else the best baseline does (its 10/90 % from its backtest residuals). The reason is
logged and stored with the version. Then per site: a site is served the model only where its own
backtest (the model as that site's blend of boosters and statistical anchor) beats its own best
baseline; elsewhere its best baseline serves. Each site's method and reason are logged, and its
forecast rows carry the method (the sites page shows it).
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from footfall.config import Site
from footfall.forecast import model as forecast_model
from footfall.forecast.baselines import BASELINES, predict_baseline
from footfall.forecast.calendar import calendar_frame, holiday_dates, open_mask
from footfall.forecast.features import (
    SiteFrame,
    in_level_units,
    multi_day_pairs,
    pair_features,
    share_weather_columns,
)
from footfall.forecast.metrics import mae, wape
from footfall.forecast.waiting import dwell_minutes, history_calibration, predict_waits
from footfall.forecast.weather import weather_for
from footfall.warehouse.engine import get_engine
from footfall.warehouse.forecasts import (
    counts_span,
    current_model,
    insert_model_version,
    replace_site_forecast,
)

log = logging.getLogger(__name__)

MEASURES = ("entries", "occupancy")
HORIZON_DAYS = 7
BACKTEST_DAYS = 28
MIN_HISTORY_DAYS = 2
MAX_TRAINING_ROWS = 400_000
# The retrain fits six boosters on up to 400k rows every run: a coarser, faster schedule than the
# backtest's (same model family). Measured on bench/forecast.py; the accuracy cost is small.
RETRAIN_ROUNDS = 150
RETRAIN_PARAMS = {"learning_rate": 0.1, "max_bin": 63}
QUANTILES = forecast_model.QUANTILES


@dataclass
class SitePlan:
    """One site's frame (history extended by the forecast horizon) and where its future starts."""

    site: Site
    frame: SiteFrame
    first_future: int  # position of the first slot not yet observed
    minutes: int


@dataclass
class RetrainResult:
    model_version: int
    method: str
    promoted: bool
    reason: str
    metrics: dict
    training_rows: int
    forecast_rows: int
    timings: dict[str, float] = field(default_factory=dict)
    serving: dict[str, tuple[str, str]] = field(default_factory=dict)  # site id -> (method served, why)
    blend: dict[str, dict[str, float]] = field(default_factory=dict)  # site id -> measure -> boosters' share
    level_units: dict[str, dict[str, bool]] = field(default_factory=dict)  # site id -> measure -> in level units


def site_plan(site: Site, history: pd.DataFrame, now: datetime) -> SitePlan | None:
    """Extend the history to now + 7 days (empty future slots) and precompute the site's features."""
    minutes = site.forecast_resolution_minutes
    observed = history.dropna(how="all")
    if observed.empty or (observed.index[-1] - observed.index[0]) < pd.Timedelta(days=MIN_HISTORY_DAYS):
        return None
    end = pd.Timestamp(now).floor(f"{minutes}min") + pd.Timedelta(days=HORIZON_DAYS)
    index = pd.date_range(history.index[0], end, freq=f"{minutes}min", inclusive="left", unit="ns")
    series = history.reindex(index)
    local_years = index.tz_convert(site.timezone).year
    has_hours = bool(site.opening_hours.regular or site.opening_hours.exceptions)
    calendar = calendar_frame(
        index,
        site.timezone,
        minutes,
        holiday_dates(site.country, site.region, local_years),
        [(t.start, t.end) for t in site.terms],
        open_mask(index, site.timezone, site.opening_hours.hours_on if has_hours else None),
    )
    first_future = int(np.searchsorted(index.asi8, observed.index[-1].value, side="right"))
    # The site's weather file: observations for the past, the weather forecast for the next days.
    weather = weather_for(site.weather.file, site.id, index) if site.weather is not None else None
    frame = SiteFrame.build(site.id, series, calendar, site.timezone, minutes, weather=weather)
    return SitePlan(site, frame, first_future, minutes)


def _pairs(plan: SitePlan, start: int, end: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    return multi_day_pairs(plan.frame, start, end, days)


def _units(plan: SitePlan, origins: np.ndarray, measure: str, relative: bool) -> np.ndarray:
    """Per pair, the divisor of its scaled counts: the site's trailing level when it is in level units, else 1."""
    return plan.frame.relative_level(origins, measure) if relative else np.ones(len(origins))


def training_set(
    plans: list[SitePlan],
    measure: str,
    until: dict[str, int],
    days: int,
    seed: int = 11,
    relative: dict[str, bool] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, dict[str, bool]]:
    """Features and scaled targets of pairs whose target was observed before each site's `until`, and
    whether each site's pairs are in units of its trailing level (`relative`, else decided here on
    those same pairs: `model.level_helps`).

    With more pairs than MAX_TRAINING_ROWS, an even random share of each site's pairs is kept
    *before* features are built, so memory follows the sample, not the whole history.
    """
    counts = [len(_pairs(plan, 1, until[plan.site.id], days)[0]) for plan in plans]
    share = min(1.0, MAX_TRAINING_ROWS / max(1, sum(counts)))
    rng = np.random.default_rng(seed)
    features, targets, decided = [], [], {}
    for plan in plans:
        origins, target_pos = _pairs(plan, 1, until[plan.site.id], days)
        if share < 1.0:
            keep = rng.random(len(origins)) < share
            origins, target_pos = origins[keep], target_pos[keep]
        values = plan.frame.values(measure)[target_pos] / plan.frame.scale[measure]
        known = ~np.isnan(values) & ~plan.frame.exceptional[measure][target_pos]  # one-off days are not learnt
        site_features = pair_features(plan.frame, origins[known], target_pos[known], measure)
        sid = plan.site.id
        decided[sid] = (
            relative[sid]
            if relative is not None and sid in relative
            else forecast_model.level_helps(values[known], site_features, np.ones(int(known.sum())))
        )
        factor = _units(plan, origins[known], measure, decided[sid])
        features.append(in_level_units(site_features, factor))
        targets.append(values[known] / factor)
    return pd.concat(features, ignore_index=True), np.concatenate(targets), decided


@dataclass
class Backtest:
    """One measure's day-ahead backtest: pooled scores, residuals, and each site's own scores and blend weight."""

    scores: dict
    residuals: dict[str, np.ndarray]
    site_scores: dict[str, dict[str, float]]  # site id -> method -> WAPE
    blend: dict[str, float]  # site id -> share of the boosters against the statistical anchor
    relative: dict[str, bool]  # site id -> its pairs are in units of its trailing level


def backtest(plans: list[SitePlan], measure: str) -> Backtest:
    """Day-ahead scores over the last four weeks of each site: the model (refit at the window start) and baselines.

    The model's forecasts are out of sample, so each site's blend of boosters and statistical anchor
    is chosen on them (`blend_weight`), and "model" is scored as that blend: what the site would be served.
    Also returns each method's residuals (actual - predicted), for baseline prediction intervals.
    """
    cut = {p.site.id: max(1, p.first_future - BACKTEST_DAYS * p.frame.steps_per_day) for p in plans}
    began = time.perf_counter()
    train_x, train_y, relative = training_set(plans, measure, cut, days=1)
    fitted = forecast_model.fit(
        train_x, train_y, measure, quantiles=(0.5,), rounds=RETRAIN_ROUNDS, params=RETRAIN_PARAMS
    )
    train_s = time.perf_counter() - began
    actual: list[np.ndarray] = []
    predicted: dict[str, list[np.ndarray]] = {name: [] for name in ("model", *BASELINES)}
    site_scores: dict[str, dict[str, float]] = {}
    blend: dict[str, float] = {}
    predict_s = 0.0
    for plan in plans:
        origins, targets = _pairs(plan, cut[plan.site.id], plan.first_future, 1)
        values = plan.frame.values(measure)[targets]
        known = ~np.isnan(values)
        origins, targets = origins[known], targets[known]
        truth_site = values[known]
        actual.append(truth_site)
        began = time.perf_counter()
        factor = _units(plan, origins, measure, relative.get(plan.site.id, False))
        features = in_level_units(pair_features(plan.frame, origins, targets, measure), factor)
        unit = plan.frame.scale[measure] * factor
        boosted = np.clip(fitted.predict(features)[0.5] * unit, 0, None)
        statistical = forecast_model.anchor(features) * unit
        predict_s += time.perf_counter() - began
        weight = forecast_model.blend_weight(truth_site, boosted, statistical)
        blend[plan.site.id] = weight
        predicted["model"].append(weight * boosted + (1 - weight) * statistical)
        for name in BASELINES:
            predicted[name].append(predict_baseline(name, plan.frame, origins, targets, measure))
        site_scores[plan.site.id] = {
            name: round(wape(truth_site, parts[-1]), 4) if len(truth_site) else float("nan")
            for name, parts in predicted.items()
        }
    truth = np.concatenate(actual)
    scores, residuals = {}, {}
    for name, parts in predicted.items():
        guess = np.concatenate(parts)
        scores[name] = {"mae": round(mae(truth, guess), 4), "wape": round(wape(truth, guess), 4)}
        residuals[name] = truth - guess
    scores["model"].update(train_s=round(train_s, 3), predict_s=round(predict_s, 3))
    return Backtest(scores, residuals, site_scores, blend, relative)


def site_decision(site_scores: dict[str, dict[str, float]], model_serves: bool) -> tuple[str, str]:
    """(method served at one site, why): the model only where the site's own backtest beats its best baseline.

    `site_scores` maps measure -> method -> the site's WAPE; the mean over measures decides, as for the version.
    """
    usable = {m: s for m, s in site_scores.items() if all(np.isfinite(v) for v in s.values())}
    if not usable:
        return "model" if model_serves else "median_4_weeks", "no backtest pairs at this site"
    mean = {name: float(np.mean([s[name] for s in usable.values()])) for name in ("model", *BASELINES)}
    best = min(BASELINES, key=lambda name: mean[name])
    if not model_serves:
        return best, f"no model serves; its own best baseline {best} {mean[best]:.4f}"
    if mean["model"] < mean[best]:
        return "model", f"model WAPE {mean['model']:.4f} beats its best baseline {best} {mean[best]:.4f}"
    return (
        best,
        f"model WAPE {mean['model']:.4f} does not beat its best baseline {best} {mean[best]:.4f}; {best} serves",
    )


def _score(metrics: dict, method: str) -> float:
    return float(np.mean([metrics[m][method]["wape"] for m in metrics]))


def decide(metrics: dict, current: dict | None) -> tuple[str, bool, str]:
    """(method that serves, whether the new model is promoted, why)."""
    best_baseline = min(BASELINES, key=lambda name: _score(metrics, name))
    new, baseline = _score(metrics, "model"), _score(metrics, best_baseline)
    current_wape = _score(json.loads(current["metrics"]), "model") if current else None
    if new < baseline and (current_wape is None or new <= current_wape):
        versus = f", current model {current_wape:.4f}" if current_wape is not None else ""
        return "model", True, f"new model WAPE {new:.4f} beats best baseline {best_baseline} {baseline:.4f}{versus}"
    if new >= baseline:
        why = f"new model WAPE {new:.4f} does not beat best baseline {best_baseline} {baseline:.4f}"
    else:
        why = f"new model WAPE {new:.4f} does not beat the current model's {current_wape:.4f}"
    if current is not None and current_wape is not None and current_wape < baseline:
        return "current_model", False, why + f"; current model (version {current['model_version']}) keeps serving"
    return best_baseline, False, why + f"; {best_baseline} serves"


def _artifact(models: dict[str, forecast_model.QuantileModel]) -> bytes:
    doc = {
        measure: {
            "features": m.feature_names,
            "boosters": {str(q): b.model_to_string() for q, b in m.boosters.items()},
        }
        for measure, m in models.items()
    }
    return gzip.compress(json.dumps(doc).encode("utf-8"))


def load_artifact(blob: bytes) -> dict[str, forecast_model.QuantileModel]:
    """Boosters of a stored model version, ready to predict."""
    import lightgbm as lgb

    doc = json.loads(gzip.decompress(blob))
    return {
        measure: forecast_model.QuantileModel(
            measure,
            {float(q): lgb.Booster(model_str=text) for q, text in part["boosters"].items()},
            part["features"],
        )
        for measure, part in doc.items()
    }


def forecast_rows(
    plan: SitePlan,
    method: str,
    models: dict[str, forecast_model.QuantileModel] | None,
    residuals: dict[str, dict[str, np.ndarray]],
    now: datetime,
    model_version: int,
    blend: dict[str, float] | None = None,
    level_units: dict[str, bool] | None = None,
) -> list[dict]:
    """The site's next 7 days of slots with 10/50/90 % entries and occupancy, and the wait where it has a capacity."""
    frame = plan.frame
    index = cast(pd.DatetimeIndex, frame.series.index)
    start = int(np.searchsorted(index.asi8, pd.Timestamp(now).floor(f"{plan.minutes}min").value))
    start = min(start, plan.first_future)
    origins, targets = _pairs(plan, start, len(index), HORIZON_DAYS + 1)
    # The freshest origin for each target: the last local midnight that is already observed.
    fresh = origins < plan.first_future
    order = np.lexsort((-origins[fresh], targets[fresh]))
    origins, targets = origins[fresh][order], targets[fresh][order]
    first = np.r_[True, targets[1:] != targets[:-1]]
    origins, targets = origins[first], targets[first]
    columns: dict[str, np.ndarray] = {}
    for measure in MEASURES:
        if models is not None:
            factor = _units(plan, origins, measure, (level_units or {}).get(measure, False))
            features = in_level_units(pair_features(frame, origins, targets, measure), factor)
            scale = frame.scale[measure] * factor
            quantiles = models[measure].predict(features)
            # The site's blend with the statistical anchor moves the median; the band keeps its width.
            weight = (blend or {}).get(measure, 1.0)
            shift = (1 - weight) * (forecast_model.anchor(features) - quantiles[0.5])
            bands = [np.clip((quantiles[q] + shift) * scale, 0, None) for q in QUANTILES]
        else:
            point = predict_baseline(method, frame, origins, targets, measure)
            errors = residuals[measure][method]
            low, high = (np.nanquantile(errors, q) if len(errors) else 0.0 for q in (0.1, 0.9))
            bands = [np.clip(point + low, 0, None), np.clip(point, 0, None), np.clip(point + high, 0, None)]
        for q, band in zip(QUANTILES, bands, strict=True):
            columns[f"{measure}_p{round(q * 100)}"] = band
    waits = np.full(len(targets), np.nan)
    if plan.site.capacity:
        history = frame.series.iloc[: plan.first_future].tail(BACKTEST_DAYS * frame.steps_per_day)
        occupancy, entries = history["occupancy"].to_numpy(float), history["entries"].to_numpy(float)
        dwell = dwell_minutes(np.nan_to_num(occupancy), np.nan_to_num(entries), plan.minutes)
        observed = occupancy[~np.isnan(occupancy)]
        waits = predict_waits(
            columns["entries_p50"],
            plan.site.capacity,
            max(dwell, 1.0),
            plan.minutes,
            occupancy_now=float(observed[-1]) if len(observed) else 0.0,
        )
        # Sites reporting queue lengths or waits: scale by what the history showed (1 without them).
        waits = waits * history_calibration(history, plan.site.capacity, max(dwell, 1.0), plan.minutes)
    rows = []
    for i, position in enumerate(targets):
        row = {
            "site_id": plan.site.id,
            "slot_start": index[position].to_pydatetime(),
            "slot_minutes": plan.minutes,
            "issued_at": now,
            "model_version": model_version,
            "method": "model" if models is not None else method,
            "wait_minutes": None if np.isnan(waits[i]) else round(float(waits[i]), 2),
        }
        row.update({name: round(float(values[i]), 3) for name, values in columns.items()})
        rows.append(row)
    return rows


class NotEnoughHistory(ValueError):
    """No site has enough history to train on yet (a fresh install): nothing is wrong, the retrain waits."""


def retrain(
    engine: Engine, histories: dict[str, tuple[Site, pd.DataFrame]], now: datetime, run_id: str
) -> RetrainResult:
    """Backtest, train, decide, publish. `histories` maps site id to (site, training_series)."""
    timings: dict[str, float] = {}
    began = time.perf_counter()
    plans = [p for site, history in histories.values() if (p := site_plan(site, history, now)) is not None]
    if not plans:
        raise NotEnoughHistory(f"no site has {MIN_HISTORY_DAYS} days of history to train on yet")
    share_weather_columns([p.frame for p in plans])
    timings["features_s"] = time.perf_counter() - began
    metrics, residuals, tests = {}, {}, {}
    began = time.perf_counter()
    for measure in MEASURES:
        tests[measure] = backtest(plans, measure)
        metrics[measure], residuals[measure] = tests[measure].scores, tests[measure].residuals
    timings["backtest_s"] = time.perf_counter() - began
    began = time.perf_counter()
    until = {p.site.id: p.first_future for p in plans}
    models, rows_used = {}, 0
    for measure in MEASURES:
        features, target, _ = training_set(
            plans, measure, until, days=HORIZON_DAYS + 1, relative=tests[measure].relative
        )
        models[measure] = forecast_model.fit(features, target, measure, rounds=RETRAIN_ROUNDS, params=RETRAIN_PARAMS)
        rows_used += len(target)
    timings["train_s"] = time.perf_counter() - began
    current = current_model(engine)
    method, promoted, reason = decide(metrics, current)
    log.info("forecast retrain: %s", reason)
    reuse = method == "current_model" and current is not None
    serving = models if promoted else (load_artifact(current["artifact"]) if reuse and current else None)
    version = insert_model_version(
        engine,
        trained_at=now,
        method="model" if promoted else method,
        promoted=promoted,
        reason=reason,
        metrics=json.dumps(metrics),
        training_rows=rows_used,
        sites=len(plans),
        artifact=_artifact(models),
        run_id=run_id,
    )
    serving_version = version if promoted or current is None or method != "current_model" else current["model_version"]
    began = time.perf_counter()
    written = 0
    per_site, blends, level_units = {}, {}, {}
    for plan in plans:
        sid = plan.site.id
        blends[sid] = {m: tests[m].blend.get(sid, 1.0) for m in MEASURES}
        level_units[sid] = {m: tests[m].relative.get(sid, False) for m in MEASURES}
        site_method, why = site_decision({m: tests[m].site_scores.get(sid, {}) for m in MEASURES}, serving is not None)
        if site_method == "model" and serving is None:
            site_method = method
        per_site[sid] = (site_method, why)
        log.info("forecast for site %s: %s serves (%s)", sid, site_method, why)
        site_models = serving if site_method == "model" else None
        rows = forecast_rows(
            plan,
            site_method,
            site_models,
            residuals,
            now,
            serving_version,
            blends[sid] if site_models else None,
            level_units[sid],
        )
        replace_site_forecast(engine, sid, rows)
        written += len(rows)
    timings["publish_s"] = time.perf_counter() - began
    return RetrainResult(
        version, method, promoted, reason, metrics, rows_used, written, timings, per_site, blends, level_units
    )


def retrain_sites(engine: Engine, sites: list[Site], run_id: str, now: datetime | None = None) -> RetrainResult:
    """Read every site's history from the warehouse, then `retrain`."""
    from footfall.forecast.training import training_series

    now = now or datetime.now(UTC)
    histories = {site.id: (site, training_series(engine, site)) for site in sites}
    return retrain(engine, histories, now, run_id)


def run_retrain(run_id: str, now: datetime | None = None) -> dict[str, object]:
    """The DAG task: every registry site, the warehouse of FOOTFALL_DB_URL; a summary for the task log and XCom."""
    from footfall.config import load_registry

    engine = get_engine()
    now = now or datetime.now(UTC)
    span = counts_span(engine)
    if span is None or span < timedelta(days=MIN_HISTORY_DAYS):
        # a fresh install: no site can have enough history, so every site's is not read (one cheap query
        # instead of a few per site, on each run that new counts trigger)
        raise NotEnoughHistory(f"no site has {MIN_HISTORY_DAYS} days of history to train on yet")
    sites, _ = load_registry()
    result = retrain_sites(engine, list(sites.values()), run_id, now)
    return {
        "model_version": result.model_version,
        "method": result.method,
        "promoted": result.promoted,
        "reason": result.reason,
        "training_rows": result.training_rows,
        "forecast_rows": result.forecast_rows,
        **{k: round(v, 2) for k, v in result.timings.items()},
    }
