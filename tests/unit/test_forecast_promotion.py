"""The promotion rule: a new model serves only if it beats the best baseline and the current model."""

from __future__ import annotations

import json

from footfall.forecast.publish import decide


def metrics(model: float, best: float = 0.5) -> dict:
    block = {
        "model": {"wape": model},
        "persistence": {"wape": 0.9},
        "same_slot_yesterday": {"wape": 0.8},
        "same_slot_last_week": {"wape": 0.7},
        "median_4_weeks": {"wape": best},
    }
    return {"entries": block, "occupancy": block}


def current(model_wape: float, version: int = 3) -> dict:
    return {"model_version": version, "metrics": json.dumps(metrics(model_wape))}


def test_first_model_that_beats_the_baselines_is_promoted():
    method, promoted, reason = decide(metrics(0.4), None)
    assert (method, promoted) == ("model", True)
    assert "beats best baseline median_4_weeks 0.5000" in reason


def test_a_model_worse_than_a_baseline_gives_way_to_it():
    method, promoted, reason = decide(metrics(0.6), None)
    assert (method, promoted) == ("median_4_weeks", False)
    assert reason.endswith("median_4_weeks serves")


def test_a_new_model_worse_than_the_current_one_keeps_the_current_one():
    method, promoted, reason = decide(metrics(0.45), current(0.42))
    assert (method, promoted) == ("current_model", False)
    assert "current model's 0.4200" in reason and "version 3" in reason


def test_a_better_new_model_replaces_the_current_one():
    method, promoted, _ = decide(metrics(0.40), current(0.42))
    assert (method, promoted) == ("model", True)


def test_when_both_models_lose_to_a_baseline_the_baseline_serves():
    method, promoted, _ = decide(metrics(0.6), current(0.55))
    assert (method, promoted) == ("median_4_weeks", False)
