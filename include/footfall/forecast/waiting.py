"""Waiting time to get in, per future slot, for sites with a capacity.

The queueing model (documented here because visitors will read its numbers):

* The door is a FIFO queue in front of a building that holds at most `capacity` people; each
  visitor stays a dwell time with mean D. D comes from Little's law on the history:
  D = mean occupancy / mean entry rate (both over open hours).
* Demand is the forecast entries per slot (spread evenly inside the slot). Inside a full building
  people leave at rate occupancy / D, so once the building is full the door admits about
  capacity / D people per minute.
* A fluid model runs minute by minute from the current (or forecast) occupancy: exits =
  occupancy / D per minute, admissions = min(queue + arrivals, free places), the rest waits. The
  wait of someone arriving at minute t is the time until cumulative admissions reach the cumulative
  arrivals at t (FIFO), i.e. Little's law W = queue / admission rate, read off the curves.
* Near capacity, random arrivals queue even when average demand fits: that part is the M/M/c
  (Erlang C) mean wait with c = capacity, service rate 1/D and the load the fluid model carries in
  the slot (its occupancy), added while there is no fluid queue (in overload the fluid queue dominates).

Calibration, where a site reports what its queue really does (its devices' queue_measure rows, per slot
by `queue_observations`, as an optional `wait_minutes` column,
mean wait of those who got in during the interval, or `queue_length`, people waiting at the
interval's end, turned into a wait by Little's law W = L / admissions per minute): the model is
replayed over the same history (the counted entries as demand, from the first recorded occupancy)
and its waits are compared with the observed ones. The forecast waits are multiplied by
sum(observed) / sum(modelled) over the history's slots where either is known, bounded to
[0.5, 2] so a few odd days cannot switch the model off or blow it up; without observations, or
with too little queueing in the history to compare (under MIN_CALIBRATION_MINUTES of summed
wait), the factor is 1. This corrects what the model cannot see: a door that admits fewer than
the declared capacity (staffing, a one-in-one-out rule), stays that are not exponential, and
counted entries understating arrivals while a queue stands (they are admissions).

`simulate_door` is a discrete-event simulation with known arrivals, capacity and dwell times; it
is the ground truth the model is validated against (`validation_mae_minutes`).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable

import numpy as np
import pandas as pd


def erlang_c_wait(arrivals_per_minute: float, capacity: int, dwell_minutes: float) -> float:
    """Mean wait (minutes) in an M/M/c queue; infinite when the load reaches the capacity."""
    offered = arrivals_per_minute * dwell_minutes  # a = lambda / mu, in places
    if offered <= 0:
        return 0.0
    if offered >= capacity:
        return math.inf
    blocking = 1.0  # Erlang B by the stable recursion, then Erlang C from it
    for servers in range(1, capacity + 1):
        blocking = offered * blocking / (servers + offered * blocking)
    waiting_probability = capacity * blocking / (capacity - offered * (1 - blocking))
    return waiting_probability / (capacity / dwell_minutes - arrivals_per_minute)


def dwell_minutes(occupancy: np.ndarray, entries: np.ndarray, slot_minutes: int) -> float:
    """Mean stay by Little's law: mean people inside / mean arrivals per minute (slots with visitors)."""
    busy = (occupancy > 0) | (entries > 0)
    rate = float(np.nansum(entries[busy])) / (busy.sum() * slot_minutes) if busy.any() else 0.0
    return float(np.nanmean(occupancy[busy])) / rate if rate > 0 else float(slot_minutes)


def predict_waits(
    demand_per_slot: np.ndarray,
    capacity: int,
    dwell: float,
    slot_minutes: int,
    occupancy_now: float = 0.0,
    queue_now: float = 0.0,
) -> np.ndarray:
    """Expected wait in minutes for people arriving in each future slot (fluid FIFO + Erlang C near capacity)."""
    minutes = len(demand_per_slot) * slot_minutes
    arrivals = np.repeat(np.asarray(demand_per_slot, dtype=float) / slot_minutes, slot_minutes)
    admitted = np.empty(minutes)
    inside = np.empty(minutes)
    occupancy, queue = float(min(occupancy_now, capacity)), float(queue_now)
    overloaded = np.zeros(len(demand_per_slot), dtype=bool)
    for minute in range(minutes):
        occupancy -= occupancy / dwell
        waiting = queue + arrivals[minute]
        entering = min(waiting, capacity - occupancy)
        queue = waiting - entering
        occupancy += entering
        admitted[minute] = entering
        inside[minute] = occupancy
        if queue > 1e-9:
            overloaded[minute // slot_minutes] = True
    cum_arrivals = queue_now + np.cumsum(arrivals)  # who arrived by the end of each minute
    cum_admitted = np.cumsum(admitted)
    # FIFO: someone arriving in minute t gets in when cumulative admissions pass cumulative arrivals at t.
    arrival_mid = cum_arrivals - arrivals / 2
    gets_in = np.searchsorted(cum_admitted, arrival_mid - 1e-9)
    fluid = np.where(gets_in >= minutes, minutes - np.arange(minutes), gets_in - np.arange(minutes)).clip(0)
    weights = arrivals.reshape(-1, slot_minutes)
    per_slot = (fluid.reshape(-1, slot_minutes) * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-12)
    # Erlang C on the load the building actually carries (the fluid occupancy), not the steady state of
    # the slot's demand: before a peak the building is still filling, and steady-state formulas would overshoot.
    load = inside.reshape(-1, slot_minutes).mean(axis=1)
    stochastic = np.array(
        [
            0.0 if busy else min(erlang_c_wait(carried / dwell, capacity, dwell), float(slot_minutes))
            for carried, busy in zip(load, overloaded, strict=True)
        ]
    )
    return per_slot + stochastic


CALIBRATION_BOUNDS = (0.5, 2.0)
MIN_CALIBRATION_MINUTES = 30.0  # summed over the history's slots, observed and modelled alike


def observed_waits(history: pd.DataFrame, slot_minutes: int) -> np.ndarray | None:
    """Observed mean wait per slot: reported `wait_minutes`, else `queue_length` / admissions per minute.

    None when the site reports neither (the columns are absent or empty).
    """
    if "wait_minutes" in history and history["wait_minutes"].notna().any():
        return history["wait_minutes"].to_numpy(dtype=float)
    if "queue_length" in history and history["queue_length"].notna().any():
        queue = history["queue_length"].to_numpy(dtype=float)
        admitted = history["entries"].to_numpy(dtype=float) / slot_minutes
        with np.errstate(divide="ignore", invalid="ignore"):
            waits = np.where(queue > 0, queue / admitted, np.where(queue == 0, 0.0, np.nan))
        return np.where(np.isfinite(waits), waits, np.nan)
    return None


def queue_observations(measures: pd.DataFrame, slot_minutes: int) -> pd.DataFrame:
    """A site's queue_measure rows as the per-slot `queue_length` and `wait_minutes` the calibration reads.

    Per slot of `slot_minutes` (UTC): people waiting = each queue's last reading in the slot, summed over
    the site's queues; the wait = the mean of the reported waits weighted by the people served (1 where a
    device gives no count). Slots without a reported wait stay missing."""
    if measures.empty:
        return pd.DataFrame(columns=["queue_length", "wait_minutes"], dtype=float)
    frame = measures.assign(slot=pd.to_datetime(measures["interval_start"], utc=True).dt.floor(f"{slot_minutes}min"))
    frame = frame.sort_values("interval_start")
    length = frame.dropna(subset=["queue_length"]).groupby(["slot", "queue_ref"])["queue_length"].last()
    waits = frame.dropna(subset=["wait_seconds"])
    weight = waits["served"].fillna(1.0).clip(lower=0)
    weighted = (waits["wait_seconds"] / 60 * weight).groupby(waits["slot"]).sum()
    totals = weight.groupby(waits["slot"]).sum()
    out = pd.DataFrame(
        {
            "queue_length": length.groupby(level="slot").sum(),
            "wait_minutes": (weighted / totals.where(totals > 0)).where(totals > 0),
        }
    )
    out.index = pd.DatetimeIndex(out.index).as_unit("ns")
    return out.astype(float)


def calibration_factor(
    observed: np.ndarray, modelled: np.ndarray, bounds: tuple[float, float] = CALIBRATION_BOUNDS
) -> float:
    """sum(observed) / sum(modelled) over slots where both are known, bounded; 1 with too little queueing."""
    both = np.isfinite(observed) & np.isfinite(modelled)
    seen, model = float(observed[both].sum()), float(modelled[both].sum())
    if model <= 0 or max(seen, model) < MIN_CALIBRATION_MINUTES:
        return 1.0  # nothing to compare (and no modelled wait to scale)
    return float(np.clip(seen / model, *bounds))


def history_calibration(history: pd.DataFrame, capacity: int, dwell: float, slot_minutes: int) -> float:
    """The calibration factor of a site's recent history (1 when it reports no queue or wait)."""
    observed = observed_waits(history, slot_minutes)
    if observed is None:
        return 1.0
    entries = np.nan_to_num(history["entries"].to_numpy(dtype=float))
    occupancy = history["occupancy"].to_numpy(dtype=float)
    start = occupancy[np.isfinite(occupancy)]
    modelled = predict_waits(entries, capacity, dwell, slot_minutes, occupancy_now=float(start[0]) if len(start) else 0)
    return calibration_factor(observed, modelled)


def simulate_door(
    rate_per_minute: Callable[[float], float],
    peak_rate: float,
    hours: float,
    capacity: int,
    dwell: Callable[[np.random.Generator], float],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Discrete-event simulation of a FIFO door: (arrival minute, wait in minutes) of every visitor.

    Arrivals are a non-homogeneous Poisson process (thinning against `peak_rate`); when the
    building is full, arrivals queue and enter as others leave.
    """
    rng = np.random.default_rng(seed)
    end = hours * 60
    events: list[tuple[float, int, int]] = []  # (time, kind 0=departure 1=arrival, visitor)
    arrival_times: list[float] = []
    clock = 0.0
    while True:
        clock += rng.exponential(1 / peak_rate)
        if clock >= end:
            break
        if rng.random() < rate_per_minute(clock) / peak_rate:
            heapq.heappush(events, (clock, 1, len(arrival_times)))
            arrival_times.append(clock)
    waits = np.zeros(len(arrival_times))
    inside, queue = 0, deque[int]()
    while events:
        now, kind, visitor = heapq.heappop(events)
        if kind == 1:
            if inside < capacity:
                inside += 1
                heapq.heappush(events, (now + dwell(rng), 0, visitor))
            else:
                queue.append(visitor)
        elif queue:
            nxt = queue.popleft()
            waits[nxt] = now - arrival_times[nxt]
            heapq.heappush(events, (now + dwell(rng), 0, nxt))
        else:
            inside -= 1
    return np.array(arrival_times), waits


def validation_mae_minutes(
    capacity: int = 150, dwell_mean: float = 45.0, slot_minutes: int = 15, runs: int = 20, seed: int = 0
) -> dict[str, float]:
    """MAE (minutes) of `predict_waits` against the mean simulated wait per slot, with known truth.

    A day with a morning bump and an afternoon peak whose demand exceeds what the building can
    take for about two hours: waits grow from zero to tens of minutes and drain again.
    """
    hours = 12.0
    scale = capacity / (dwell_mean * 3.3)  # peak demand about 1.9 x what the building holds, whatever its size

    def rate(minute: float) -> float:
        t = minute / 60
        return scale * (1.2 + 2.5 * math.exp(-(((t - 3) / 1.2) ** 2)) + 5.0 * math.exp(-(((t - 7.5) / 1.5) ** 2)))

    peak = 9.0 * scale
    slots = int(hours * 60 // slot_minutes)
    totals, counts = np.zeros(slots), np.zeros(slots)
    for run in range(runs):
        arrivals, waits = simulate_door(rate, peak, hours, capacity, lambda g: g.exponential(dwell_mean), seed + run)
        slot = (arrivals // slot_minutes).astype(int)
        np.add.at(totals, slot, waits)
        np.add.at(counts, slot, 1)
    truth = totals / np.maximum(counts, 1)
    demand = np.array(
        [np.mean([rate(m) for m in np.arange(s * slot_minutes, (s + 1) * slot_minutes) + 0.5]) for s in range(slots)]
    )
    predicted = predict_waits(demand * slot_minutes, capacity, dwell_mean, slot_minutes)
    return {
        "mae_minutes": float(np.mean(np.abs(predicted - truth))),
        "max_true_wait_minutes": float(truth.max()),
        "mean_true_wait_minutes": float(truth.mean()),
    }
