"""What makes the model hold on small and irregular real sites: one-off days left out of the typical
day, the per-site blend of boosters and statistical anchor, and the per-site serving rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from footfall.forecast.features import _last_reading, exceptional_days
from footfall.forecast.model import anchor, blend_weight
from footfall.forecast.publish import site_decision


def daily(totals: list[float], start: str = "2026-02-02") -> tuple[np.ndarray, np.ndarray]:
    """Hourly values (the day's total spread over 10 open hours) and their local dates."""
    days = pd.date_range(start, periods=len(totals), freq="D")
    values = np.concatenate([np.r_[np.zeros(8), np.full(10, t / 10), np.zeros(6)] for t in totals])
    dates = np.repeat(days.to_numpy(), 24)
    return values, dates


def test_a_one_off_closure_is_exceptional_but_a_weekly_closing_day_is_not():
    week = [100, 100, 0, 100, 120, 150, 90]  # Monday 2 Feb 2026; closed every Wednesday
    totals = week * 4 + [100, 5, 0, 100, 120, 150, 90]  # the fifth Tuesday: a dead counter
    values, dates = daily(totals)
    flags = exceptional_days(values, dates).reshape(-1, 24).all(axis=1)
    # The first Wednesday has no Wednesday before it: against the days before, it looks like a one-off.
    assert flags.tolist() == [False, False, True] + [False] * 26 + [True] + [False] * 5
    assert not flags[9::7].any()  # later Wednesdays, closed like the one before, are ordinary


def test_exceptional_days_judge_only_on_earlier_days():
    values, dates = daily([100] * 7 + [0] * 7 + [100] * 7)
    flags = exceptional_days(values, dates).reshape(-1, 24).all(axis=1)
    assert flags[7:14].all() and not flags[:7].any() and not flags[14:].any()
    head = exceptional_days(values[: 10 * 24], dates[: 10 * 24]).reshape(-1, 24).all(axis=1)
    assert (head == flags[:10]).all()  # adding later days changes no earlier flag


def test_latest_reading_carries_forward_with_its_age():
    latest, age = _last_reading(np.array([np.nan, 3.0, np.nan, np.nan, 5.0]))
    assert np.isnan(latest[0]) and latest[1:].tolist() == [3.0, 3.0, 3.0, 5.0]
    assert np.isnan(age[0]) and age[1:].tolist() == [0, 1, 2, 0]


def test_blend_weight_follows_the_better_forecast_and_defaults_to_the_boosters():
    actual = np.array([10.0, 20, 30, 40])
    good, bad = actual + 0.5, actual * 2
    assert blend_weight(actual, good, bad) == 1.0
    assert blend_weight(actual, bad, good) == 0.0
    assert blend_weight(actual, actual + 4, actual - 4) == 0.5
    assert blend_weight(actual[:0], good[:0], bad[:0]) == 1.0  # nothing out of sample yet
    assert blend_weight(actual, actual + 1.0, actual + 0.97) == 1.0  # 3 % better is noise: boosters


def test_anchor_prefers_the_typical_value_and_fades_the_current_ratio_with_the_lead():
    features = pd.DataFrame(
        {
            "typical_4_weeks": [10.0, 10.0, np.nan],
            "median_4_weeks": [9.0, 9.0, np.nan],
            "same_slot_yesterday": [1.0, 1.0, 7.0],
            "now_ratio": [2.0, 2.0, 1.0],
            "lead_minutes": [0, 100_000, 60],
        }
    )
    out = anchor(features)
    assert out[0] == 20.0 and abs(out[1] - 10.0) < 1e-6 and out[2] == 7.0


def scores(model: float, best: float) -> dict:
    return {
        "model": model,
        "persistence": 0.9,
        "same_slot_yesterday": 0.8,
        "same_slot_last_week": 0.7,
        "median_4_weeks": best,
    }


def test_a_site_is_served_the_model_only_where_its_own_backtest_beats_its_best_baseline():
    method, why = site_decision({"entries": scores(0.30, 0.40), "occupancy": scores(0.32, 0.40)}, model_serves=True)
    assert method == "model" and "beats its best baseline median_4_weeks 0.4000" in why
    method, why = site_decision({"entries": scores(0.45, 0.40), "occupancy": scores(0.42, 0.40)}, model_serves=True)
    assert method == "median_4_weeks" and why.endswith("median_4_weeks serves")
    method, why = site_decision({"entries": scores(0.30, 0.40), "occupancy": scores(0.30, 0.40)}, model_serves=False)
    assert method == "median_4_weeks" and "no model serves" in why
