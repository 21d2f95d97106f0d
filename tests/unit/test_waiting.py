"""Waiting time: the queueing model against closed forms and against a discrete-event simulation with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from footfall.forecast.waiting import (
    dwell_minutes,
    erlang_c_wait,
    predict_waits,
    simulate_door,
    validation_mae_minutes,
)


def test_erlang_c_matches_the_closed_form_for_two_servers():
    # M/M/2 with lambda = 2/min, mean service 0.5 min: a = 1, P(wait) = 1/3, Wq = (1/3) / (4 - 2) = 1/6 min.
    assert erlang_c_wait(2.0, 2, 0.5) == pytest.approx(1 / 6)
    assert erlang_c_wait(4.0, 2, 0.5) == float("inf")  # offered load at capacity: the queue grows forever
    assert erlang_c_wait(0.0, 10, 30.0) == 0.0


def test_dwell_follows_littles_law():
    occupancy = np.array([0, 30, 30, 30, 0.0])
    entries = np.array([0, 10, 10, 10, 0.0])  # 10 per 15 min with 30 inside: a 45-minute stay
    assert dwell_minutes(occupancy, entries, 15) == pytest.approx(45.0)


def test_no_wait_when_demand_stays_far_below_capacity():
    waits = predict_waits(np.full(16, 20.0), capacity=500, dwell=45.0, slot_minutes=15)
    assert np.all(waits < 0.01)


def test_wait_grows_with_overload_then_drains():
    demand = np.r_[np.full(4, 100.0), np.full(8, 10.0)]  # 400 people in an hour into a 100-place building
    waits = predict_waits(demand, capacity=100, dwell=30.0, slot_minutes=15)
    assert waits[0] < waits[2] < waits[3]
    assert waits[3] > 30  # 300 extra people, admitted at ~100/30 per minute
    assert waits[-1] < 1


def test_a_queue_already_at_the_door_waits_first():
    quiet = predict_waits(np.full(4, 5.0), capacity=50, dwell=30.0, slot_minutes=15, occupancy_now=50)
    queued = predict_waits(np.full(4, 5.0), capacity=50, dwell=30.0, slot_minutes=15, occupancy_now=50, queue_now=40)
    assert queued[0] > quiet[0] + 5


def test_simulation_has_no_waits_with_room_for_everyone():
    arrivals, waits = simulate_door(lambda _m: 2.0, 2.0, 2, capacity=10_000, dwell=lambda g: 30.0, seed=1)
    assert 180 < len(arrivals) < 300  # ~240 Poisson arrivals in two hours
    assert np.all(waits == 0)


def test_simulation_fifo_wait_with_deterministic_stays():
    # One place, 10-minute stays: everyone arriving while it is taken waits for the stay to end.
    _arrivals, waits = simulate_door(lambda _m: 0.5, 0.5, 1, capacity=1, dwell=lambda g: 10.0, seed=3)
    assert waits[0] == 0
    assert np.all(waits >= 0) and waits.max() > 10


@pytest.mark.parametrize(
    ("capacity", "dwell", "limit"),
    [(150, 45.0, 1.5), (40, 20.0, 3.5)],
)
def test_model_matches_the_simulation(capacity, dwell, limit):
    result = validation_mae_minutes(capacity=capacity, dwell_mean=dwell, slot_minutes=15, runs=20)
    assert result["max_true_wait_minutes"] > 45  # the scenario really queues
    assert result["mae_minutes"] < limit
