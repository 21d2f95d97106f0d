"""The simulator's wire faults (slow_drip, cut, changing) do what the fault suite relies on."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests

from footfall_simulator import Fault, start_in_thread

NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
QUERY = "/local/tvpc/.api?export-json&date=20261120&res=15m"


@pytest.fixture
def sim():
    with start_in_thread(seed=1, clock=lambda: NOW) as handle:
        yield handle


def test_changing_raises_every_count_by_step_per_earlier_pull(sim):
    url = sim.device_url("SIM1") + QUERY
    clean = requests.get(url, timeout=5).json()["data"]
    sim.add_fault({"kind": "changing", "params": {"step": 2}})
    first, second = (requests.get(url, timeout=5).json()["data"] for _ in range(2))
    assert first == clean
    assert [(r["in"], r["out"]) for r in second] == [(r["in"] + 2, r["out"] + 2) for r in clean]


def test_cut_promises_the_whole_body_and_closes_half_way(sim):
    url = sim.device_url("SIM1") + QUERY
    whole = len(requests.get(url, timeout=5).content)
    sim.add_fault(Fault("cut", params={"fraction": 0.5}))
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match=rf"{whole // 2} bytes read"):
        requests.get(url, timeout=5)


def test_slow_drip_sends_the_body_a_chunk_at_a_time(sim):
    url = sim.device_url("SIM1") + QUERY
    whole = requests.get(url, timeout=5).content
    sim.add_fault(Fault("slow_drip", params={"seconds": 0.1, "chunk_bytes": len(whole) // 4 + 1}))
    started = time.monotonic()
    dripped = requests.get(url, timeout=5).content
    assert dripped == whole
    assert time.monotonic() - started >= 0.3  # three waits between four chunks


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "slow_drip", "params": {"chunk_bytes": 0}}, "chunk_bytes"),
        ({"kind": "cut", "params": {"fraction": 1.5}}, "fraction"),
        ({"kind": "changing", "params": {"step": 0}}, "step"),
    ],
)
def test_bad_parameters_are_refused_by_the_control_api(sim, spec, message):
    answer = requests.post(sim.url + "/_sim/faults", json=spec, timeout=5)
    assert answer.status_code == 400 and message in answer.json()["error"]
