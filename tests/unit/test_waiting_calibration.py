"""Calibrating the waiting model on observed queues: a biased model, a DES history with known waits, a lower MAE."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from footfall.forecast.series import read_counts_csv, site_series
from footfall.forecast.waiting import (
    CALIBRATION_BOUNDS,
    calibration_factor,
    history_calibration,
    observed_waits,
    predict_waits,
    simulate_door,
)

DOOR_LIMIT, DECLARED, DWELL, SLOT, HOURS = 150, 165, 45.0, 15, 12.0
SLOTS_OPEN = int(HOURS * 60 // SLOT)
SCALE = DOOR_LIMIT / (DWELL * 3.3)


def rate(minute: float) -> float:
    t = minute / 60
    return SCALE * (1.2 + 2.5 * math.exp(-(((t - 3) / 1.2) ** 2)) + 5.0 * math.exp(-(((t - 7.5) / 1.5) ** 2)))


def simulated_day(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A day of 15-min slots (12 h open, 12 h closed): door admissions, arrivals and mean wait by arrival slot."""
    arrivals, waits = simulate_door(rate, 9 * SCALE, HOURS, DOOR_LIMIT, lambda g: g.exponential(DWELL), seed)
    slot = (arrivals // SLOT).astype(int)
    total, count = np.zeros(96), np.zeros(96)
    np.add.at(total, slot, waits)
    np.add.at(count, slot, 1)
    admitted = np.zeros(96)
    np.add.at(admitted, ((arrivals + waits) // SLOT).astype(int).clip(0, 95), 1)
    mean_wait = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    mean_wait[SLOTS_OPEN:] = np.nan
    return admitted, count, mean_wait


@pytest.fixture(scope="module")
def days():
    return [simulated_day(seed) for seed in range(7)]


@pytest.mark.parametrize("counted", ["admissions", "arrivals"])
def test_calibration_reduces_the_error_of_a_biased_model(days, counted):
    # The site file declares 165 places but the door admits 150 (one-in-one-out from 150):
    # the model underestimates every wait. Six days of reported waits calibrate it.
    history = pd.DataFrame(
        {
            "entries": np.concatenate([d[0] if counted == "admissions" else d[1] for d in days[:6]]),
            "occupancy": np.r_[0.0, np.full(6 * 96 - 1, np.nan)],
            "wait_minutes": np.concatenate([d[2] for d in days[:6]]),
        }
    )
    factor = history_calibration(history, DECLARED, DWELL, SLOT)
    assert 1.3 < factor <= CALIBRATION_BOUNDS[1]
    demand = np.array([np.mean([rate(m + 0.5) for m in range(s * SLOT, (s + 1) * SLOT)]) for s in range(SLOTS_OPEN)])
    predicted = predict_waits(demand * SLOT, DECLARED, DWELL, SLOT)
    truth = days[6][2][:SLOTS_OPEN]  # a day the calibration has not seen
    raw_mae = np.mean(np.abs(predicted - truth))
    calibrated_mae = np.mean(np.abs(predicted * factor - truth))
    assert calibrated_mae < 0.8 * raw_mae, (raw_mae, calibrated_mae)


def test_calibration_is_bounded_and_neutral_without_queues():
    modelled = np.r_[np.zeros(10), np.full(10, 10.0)]
    assert calibration_factor(modelled * 5, modelled) == CALIBRATION_BOUNDS[1]
    assert calibration_factor(modelled * 0.1, modelled) == CALIBRATION_BOUNDS[0]
    assert calibration_factor(modelled * 1.2, modelled) == pytest.approx(1.2)
    assert calibration_factor(np.full(20, 0.5), np.zeros(20)) == 1.0  # no modelled wait to scale
    assert calibration_factor(np.full(5, 1.0), np.full(5, 2.0)) == 1.0  # too little queueing to judge
    nan = np.full(20, np.nan)
    assert calibration_factor(nan, modelled) == 1.0  # no observation where the model sees a queue


def test_without_reported_queues_the_factor_is_one():
    history = pd.DataFrame({"entries": np.full(96, 200.0), "occupancy": np.full(96, 100.0)})
    assert observed_waits(history, SLOT) is None
    assert history_calibration(history, 100, 45.0, SLOT) == 1.0


def test_queue_lengths_become_waits_by_littles_law():
    history = pd.DataFrame({"entries": [30.0, 0.0, 15.0, 30.0], "queue_length": [20.0, 0.0, np.nan, 0.0]})
    waits = observed_waits(history, 15)
    assert waits[0] == pytest.approx(10.0)  # 20 waiting, admitted at 2 per minute
    assert waits[1] == 0.0 and np.isnan(waits[2]) and waits[3] == 0.0


def test_counts_csv_queue_columns_reach_the_series():
    text = (
        "site_id,counter_id,interval_start,interval_minutes,entries,exits,occupancy,queue_length,wait_minutes\n"
        "s,a,2026-01-01T10:00Z,15,10,2,,4,3.0\n"
        "s,a,2026-01-01T10:15Z,15,12,3,,6,5.0\n"
        "s,b,2026-01-01T10:15Z,15,8,1,,2,\n"
    )
    series = site_series(read_counts_csv(io.StringIO(text)), 30)
    assert series["queue_length"].iloc[0] == 8  # both counters' queues at the slot's last reading
    assert series["wait_minutes"].iloc[0] == pytest.approx(4.0)
    without = pd.read_csv(io.StringIO(text)).drop(columns=["queue_length", "wait_minutes"]).to_csv(index=False)
    plain = site_series(read_counts_csv(io.StringIO(without)), 30)
    assert list(plain.columns) == ["entries", "exits", "occupancy"]


def test_published_waits_follow_the_reported_queues(make_site):
    from datetime import UTC, datetime

    from footfall.forecast.publish import forecast_rows, site_plan

    index = pd.date_range("2026-03-02T00:00Z", periods=14 * 96, freq="15min", unit="ns")
    hour = index.hour + index.minute / 60
    entries = np.where((hour >= 8) & (hour < 20), 40.0 + 60.0 * ((hour >= 12) & (hour < 15)), 0.0)
    history = pd.DataFrame({"entries": entries, "exits": entries, "occupancy": np.nan}, index=index)
    history["occupancy"] = np.where(entries > 0, 90.0, 0.0)
    site = make_site("queue-site", capacity=100, timezone="UTC", forecast_resolution_minutes=15)
    now = datetime(2026, 3, 16, tzinfo=UTC)
    residuals = {m: {"same_slot_last_week": np.zeros(1)} for m in ("entries", "occupancy")}

    def waits(frame: pd.DataFrame) -> np.ndarray:
        plan = site_plan(site, frame, now)
        rows = forecast_rows(plan, "same_slot_last_week", None, residuals, now, 1)
        return np.array([r["wait_minutes"] for r in rows], dtype=float)

    plain = waits(history)
    assert plain.max() > 1  # the lunchtime rush queues
    reported = history.assign(wait_minutes=np.nan)
    modelled = predict_waits(entries, 100, 45.0, 15)
    reported["wait_minutes"] = np.where(modelled > 0, 3 * plain.max(), 0.0)  # far longer queues than modelled
    calibrated = waits(reported)
    busy = plain > 1
    np.testing.assert_allclose(calibrated[busy], CALIBRATION_BOUNDS[1] * plain[busy], atol=0.02)  # bounded
