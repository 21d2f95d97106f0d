"""Vendor simulator: traffic model properties, faults, and the HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from footfall_simulator import (
    DeviceProfile,
    Fault,
    SimulatorHandle,
    count_intervals,
    occupancy_at,
    start_in_thread,
)
from footfall_simulator.traffic import count_arrays, local_day_bounds

REF = "AXIS-0001"
NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)  # a Friday, 16:07 in Paris
API = "/local/tvpc/.api"
PROFILE = DeviceProfile(REF)


class FrozenClock:
    """A clock tests can move."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture(scope="module")
def sim(clock: FrozenClock) -> Iterator[SimulatorHandle]:
    with start_in_thread(seed=7, clock=clock) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts fault-free at NOW (only for tests using the shared server)."""
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").clear_faults()
        request.getfixturevalue("clock").now = NOW


def export(sim: SimulatorHandle, dates: str, res: str = "15m", ref: str = REF, timeout: float = 5) -> requests.Response:
    return requests.get(f"{sim.device_url(ref)}{API}?export-json&date={dates}&res={res}", timeout=timeout)


def rows(sim: SimulatorHandle, dates: str, res: str = "15m", ref: str = REF) -> list[dict[str, Any]]:
    resp = export(sim, dates, res, ref)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- traffic model --------------------------------------------------------------------------


def as_map(intervals: list[Any]) -> dict[datetime, tuple[int, int]]:
    return {i.start_utc: (i.entries, i.exits) for i in intervals}


def test_deterministic_and_window_independent() -> None:
    a = as_map(count_intervals(PROFILE, utc(2026, 5, 4), utc(2026, 5, 8), 15, seed=1))
    b = as_map(count_intervals(PROFILE, utc(2026, 5, 6, 11, 30), utc(2026, 5, 12), 15, seed=1))
    shared = a.keys() & b.keys()
    assert len(shared) == 4 * 24 * 2 - 46  # 2026-05-06 11:30 -> 05-08 00:00
    assert all(a[k] == b[k] for k in shared)
    assert sum(e for e, _ in a.values()) > 0
    again = as_map(count_intervals(DeviceProfile(REF), utc(2026, 5, 4), utc(2026, 5, 8), 15, seed=1))
    assert again == a
    other_seed = as_map(count_intervals(PROFILE, utc(2026, 5, 4), utc(2026, 5, 8), 15, seed=2))
    assert other_seed != a


@settings(max_examples=25, deadline=None)
@given(
    start=st.integers(0, 60 * 24 * 20),
    length=st.integers(1, 60 * 24 * 4),
    res=st.sampled_from([1, 5, 15, 60]),
)
def test_any_window_gives_the_same_numbers(start: int, length: int, res: int) -> None:
    base = utc(2026, 3, 20)  # spans the spring DST change
    a, b = base + timedelta(minutes=start), base + timedelta(minutes=start + length)
    full = as_map(count_intervals(PROFILE, base, base + timedelta(days=25), res, seed=3))
    part = as_map(count_intervals(PROFILE, a, b, res, seed=3))
    assert part == {k: v for k, v in full.items() if a <= k < b}


def test_coarse_resolutions_are_sums_of_fine_ones() -> None:
    start, end = utc(2026, 6, 1), utc(2026, 6, 8)
    by: dict[int, Any] = {r: count_arrays(PROFILE, start, end, r, seed=5) for r in (1, 5, 15, 60)}
    for fine, coarse in ((5, 15), (15, 60), (1, 5)):
        k = coarse // fine
        f, c = by[fine], by[coarse]
        assert np.array_equal(f.entries.reshape(-1, k).sum(axis=1), c.entries)
        assert np.array_equal(f.exits.reshape(-1, k).sum(axis=1), c.exits)
        assert np.array_equal(f.start_epoch[::k], c.start_epoch)
    days = count_intervals(PROFILE, start - timedelta(hours=2), end - timedelta(hours=2), 1440, seed=5)
    assert [d.minutes for d in days] == [1440] * 7
    assert sum(d.entries for d in days) == int(by[15].entries.sum())


def test_closed_hours_are_zero() -> None:
    tz = PROFILE.tz
    intervals = count_intervals(PROFILE, utc(2026, 9, 1), utc(2026, 10, 1), 15, seed=1)
    for i in intervals:
        local = i.start_utc.astimezone(tz)
        span = PROFILE.opening_hours[local.weekday()]
        hhmm = local.strftime("%H:%M")
        if span is None or not (span[0] <= hhmm < span[1]):
            assert (i.entries, i.exits) == (0, 0), local
    sundays = [i for i in intervals if i.start_utc.astimezone(tz).weekday() == 6]
    assert sundays and all(i.entries == 0 for i in sundays)


def test_realistic_shape() -> None:
    p = DeviceProfile("SHAPE", peak_entries_per_hour=400)
    hourly = count_intervals(p, utc(2026, 9, 1), utc(2026, 12, 1), 60, seed=1)
    by_hour: Counter[int] = Counter()
    by_weekday: Counter[int] = Counter()
    for i in hourly:
        local = i.start_utc.astimezone(p.tz)
        by_hour[local.hour] += i.entries
        by_weekday[local.weekday()] += i.entries
    assert by_hour[8] < by_hour[12] and by_hour[8] < by_hour[17]  # morning ramp, lunch and afternoon peaks
    assert by_hour[12] > by_hour[14] < by_hour[17]
    assert by_weekday[5] < min(by_weekday[d] for d in range(5))  # Saturday lower
    holiday = DeviceProfile("SHAPE", peak_entries_per_hour=400, periods=((date(2026, 10, 1), date(2026, 10, 31), 0.4),))
    normal = sum(i.entries for i in count_intervals(p, utc(2026, 10, 1), utc(2026, 11, 1), 1440, 1))
    quiet = sum(i.entries for i in count_intervals(holiday, utc(2026, 10, 1), utc(2026, 11, 1), 1440, 1))
    assert 0.3 < quiet / normal < 0.5


@pytest.mark.parametrize(
    "profile",
    [
        PROFILE,
        DeviceProfile("LONG-STAY", dwell_minutes=240, peak_entries_per_hour=500),
        DeviceProfile("STAFFED", staff=4, timezone="America/New_York"),
    ],
)
def test_occupancy_never_negative_and_empty_after_close(profile: DeviceProfile) -> None:
    tz = profile.tz
    for day in (date(2026, 3, 27) + timedelta(days=k) for k in range(21)):
        start, end = local_day_bounds(tz, day)
        minutes = count_arrays(profile, start, end, 1, seed=11)
        occupancy = np.cumsum(minutes.entries - minutes.exits)
        assert occupancy.min() >= 0
        assert occupancy[-1] == 0
        span = profile.opening_hours.get(day.weekday())
        if span is not None and not profile.staff:
            close_h, close_m = (int(x) for x in span[1].split(":"))
            after_close = datetime(day.year, day.month, day.day, close_h, close_m, tzinfo=tz)
            assert occupancy_at(profile, after_close, seed=11) == 0
            assert occupancy_at(profile, after_close - timedelta(hours=3), seed=11) > 0


def test_a_year_of_five_minute_data_is_complete() -> None:
    """A whole year in one call (speed is the benchmarks' business, not a timed test's)."""
    p = DeviceProfile("SPEED-TEST")
    intervals = count_intervals(p, utc(2025, 1, 1), utc(2026, 1, 1), 5, seed=99)
    assert len(intervals) == 365 * 288
    assert intervals[0].start_utc == utc(2025, 1, 1) and intervals[-1].start_utc == utc(2025, 12, 31, 23, 55)


def test_profile_validation() -> None:
    with pytest.raises(ValueError):
        DeviceProfile("X", opening_hours={0: ("20:00", "08:00")})
    with pytest.raises(ValueError):
        DeviceProfile("X", timezone="Mars/Olympus")
    assert 60 <= DeviceProfile("whatever").peak_entries_per_hour <= 600  # type: ignore[operator]
    assert DeviceProfile("a").peak_entries_per_hour == DeviceProfile("a").peak_entries_per_hour
    assert DeviceProfile("a").peak_entries_per_hour != DeviceProfile("b").peak_entries_per_hour
    loaded = DeviceProfile.from_dict({"ref": "Y", "opening_hours": {"0": ["07:00", "24:00"]}})
    assert loaded.hours[0] == (420, 1440) and loaded.hours[1] is None


# --- faults -------------------------------------------------------------------------------


def test_fault_parse_and_round_trip() -> None:
    f = Fault.parse("kind=imbalance,ref=ABC,start=2026-11-20T10:00Z,end=2026-11-20T11:00Z,exit_factor=0.5")
    assert (f.kind, f.ref, f.start_utc, f.end_utc) == ("imbalance", "ABC", utc(2026, 11, 20, 10), utc(2026, 11, 20, 11))
    assert f.params["exit_factor"] == 0.5
    assert Fault.from_dict(f.to_dict()) == f
    assert Fault.parse("kind=spike").params["factor"] == 8
    for bad in ("kind=nope", "ref=A", "kind=gap,start=2026-11-20T10:00", "kind=malformed,body=xml", "kind=gap,oops"):
        with pytest.raises(ValueError):
            Fault.parse(bad)
    with pytest.raises(ValueError):
        Fault("timeout", params={"seconds": 10_000})


# --- HTTP: Axis protocol ----------------------------------------------------------------------


def test_export_matches_model_and_device_shape(sim: SimulatorHandle) -> None:
    resp = export(sim, "20261116-20261117")
    body = resp.json()
    assert resp.headers["Content-Type"].startswith("application/json")
    assert body["serial"] == REF and body["res"] == "15m" and body["name"]
    assert body["timestamp"] == "20261120160700"  # device-local now
    assert len(body["data"]) == 2 * 96
    assert body["data"][0]["timestamp"] == "20261116000000"
    model = count_intervals(PROFILE, utc(2026, 11, 15, 23), utc(2026, 11, 17, 23), 15, seed=7)
    assert [(r["in"], r["out"]) for r in body["data"]] == [(i.entries, i.exits) for i in model]
    # value-less key with "=", and other resolutions are sums
    alt = requests.get(f"{sim.device_url(REF)}{API}?export-json=&date=20261116&res=1h", timeout=5).json()
    assert [r["in"] for r in alt["data"]] == [sum(r["in"] for r in body["data"][k : k + 4]) for k in range(0, 96, 4)]
    day = rows(sim, "20261116", "24h")
    assert day == [{"timestamp": "20261116000000", "in": alt_sum(alt, "in"), "out": alt_sum(alt, "out")}]


def alt_sum(body: dict[str, Any], key: str) -> int:
    return sum(r[key] for r in body["data"])


def test_dst_days_in_paris(sim: SimulatorHandle) -> None:
    spring = rows(sim, "20260329")
    autumn = rows(sim, "20261025")
    assert len(spring) == 92 and len(autumn) == 100
    assert not any(r["timestamp"].startswith("2026032902") for r in spring)  # 02:00-03:00 does not exist
    stamps = Counter(r["timestamp"] for r in autumn)
    repeated = {s for s, n in stamps.items() if n == 2}
    assert repeated == {f"20261025{h}" for h in ("020000", "021500", "023000", "024500")}
    assert rows(sim, "20260329", "1h").__len__() == 23 and len(rows(sim, "20261025", "1h")) == 25
    assert count_intervals(PROFILE, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), 1440, 7)[0].minutes == 1500
    # a Saturday after the spring change still opens at 09:00 local
    saturday = rows(sim, "20260404")
    assert all(r["in"] == 0 for r in saturday if r["timestamp"][8:] < "090000")
    assert sum(r["in"] for r in saturday) > 0


def test_partial_interval_is_revised_upward(sim: SimulatorHandle, clock: FrozenClock) -> None:
    first = rows(sim, "20261120")
    assert first[-1]["timestamp"] == "20261120160000"  # the interval containing now is the last one
    clock.now = NOW + timedelta(minutes=7)
    later = rows(sim, "20261120")
    assert len(later) == len(first)
    assert later[:-1] == first[:-1]
    assert later[-1]["in"] > first[-1]["in"] and later[-1]["out"] >= first[-1]["out"]
    clock.now = NOW + timedelta(minutes=8)  # 16:15 local: the next interval starts now, so is not there yet
    complete = rows(sim, "20261120")
    assert complete[-1]["timestamp"] == "20261120160000"
    assert complete[-1]["in"] == sum(
        i.entries for i in count_intervals(PROFILE, NOW - timedelta(minutes=7), NOW + timedelta(minutes=8), 1, 7)
    )
    clock.now = NOW + timedelta(minutes=9, seconds=59)  # one whole minute of the next interval is done
    assert rows(sim, "20261120")[-1]["timestamp"] == "20261120161500"
    assert rows(sim, "20261121") == []  # the future has no intervals


def test_live_sum_is_cumulative_since_local_midnight(sim: SimulatorHandle) -> None:
    live = requests.get(f"{sim.device_url(REF)}{API}?live-sum.json", timeout=5).json()
    today = rows(sim, "20261120", "1m")
    assert live["serial"] == REF and live["timestamp"] == "20261120160700"
    assert (live["in"], live["out"]) == (alt_sum({"data": today}, "in"), alt_sum({"data": today}, "out"))
    assert live["in"] >= live["out"] > 0


def test_same_seed_same_answers_across_servers(sim: SimulatorHandle, clock: FrozenClock) -> None:
    with start_in_thread(seed=7, clock=clock) as twin, start_in_thread(seed=8, clock=clock) as other:
        assert rows(twin, "20261110") == rows(sim, "20261110")
        assert rows(other, "20261110") != rows(sim, "20261110")


def test_configured_profiles_are_used(clock: FrozenClock) -> None:
    weekend = DeviceProfile("WKND", opening_hours={5: ("10:00", "12:00"), 6: ("10:00", "12:00")})
    with start_in_thread(profiles={"WKND": weekend}, clock=clock) as sim:
        friday = rows(sim, "20261113", ref="WKND")
        saturday = rows(sim, "20261114", ref="WKND")
    assert sum(r["in"] for r in friday) == 0
    assert all(r["in"] == 0 for r in saturday if not "100000" <= r["timestamp"][8:] < "120000")
    assert sum(r["in"] for r in saturday) > 0


# --- HTTP: faults ---------------------------------------------------------------------------

DAY = "20261118"  # Wednesday; 10:00-11:00 UTC is 11:00-12:00 local
WINDOW = "start=2026-11-18T10:00Z,end=2026-11-18T11:00Z"


def by_stamp(data: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["timestamp"]: r for r in data}


HOUR = [f"20261118{h}" for h in ("110000", "111500", "113000", "114500")]


def test_gap_fault_omits_intervals(sim: SimulatorHandle) -> None:
    clean = rows(sim, DAY)
    sim.add_fault(f"kind=gap,ref={REF},{WINDOW}")
    faulty = rows(sim, DAY)
    assert len(faulty) == len(clean) - 4
    assert not set(HOUR) & set(by_stamp(faulty))
    assert rows(sim, DAY, ref="OTHER-DEVICE") == rows(sim, DAY, ref="OTHER-DEVICE")
    assert len(rows(sim, DAY, ref="OTHER-DEVICE")) == 96  # other devices unaffected


def test_stuck_fault_zeroes_counts(sim: SimulatorHandle) -> None:
    clean = by_stamp(rows(sim, DAY))
    sim.add_fault(f"kind=stuck,{WINDOW}")  # all devices
    faulty = by_stamp(rows(sim, DAY))
    assert all(clean[s]["in"] > 0 for s in HOUR)
    assert all((faulty[s]["in"], faulty[s]["out"]) == (0, 0) for s in HOUR)
    assert faulty["20261118100000"] == clean["20261118100000"]


def test_imbalance_fault_scales_exits(sim: SimulatorHandle) -> None:
    clean = by_stamp(rows(sim, DAY))
    sim.add_fault(f"kind=imbalance,ref={REF},{WINDOW},exit_factor=0.5")
    faulty = by_stamp(rows(sim, DAY))
    for s in HOUR:
        assert faulty[s]["in"] == clean[s]["in"]
        assert faulty[s]["out"] == round(clean[s]["out"] * 0.5)
    assert sum(r["in"] - r["out"] for r in faulty.values()) > 0  # the day no longer balances


def test_spike_fault_multiplies_entries_and_later_exits(sim: SimulatorHandle) -> None:
    clean = rows(sim, DAY)
    sim.add_fault(f"kind=spike,ref={REF},start=2026-11-18T10:00Z,end=2026-11-18T10:15Z,factor=8")
    faulty = rows(sim, DAY)
    c, f = by_stamp(clean), by_stamp(faulty)
    assert f[HOUR[0]]["in"] == 8 * c[HOUR[0]]["in"]
    assert sum(r["out"] for r in faulty) - sum(r["out"] for r in clean) == 7 * c[HOUR[0]]["in"]
    occupancy = np.cumsum([r["in"] - r["out"] for r in faulty])
    assert occupancy.min() >= 0 and occupancy[-1] == 0


def test_clock_shift_fault_moves_timestamps(sim: SimulatorHandle) -> None:
    clean = by_stamp(rows(sim, DAY))
    sim.add_fault(f"kind=clock_shift,ref={REF},{WINDOW},hours=1")
    faulty = rows(sim, DAY)
    stamps = Counter(r["timestamp"] for r in faulty)
    shifted = [f"20261118{h}" for h in ("120000", "121500", "123000", "124500")]
    assert all(stamps[s] == 2 for s in shifted) and not any(stamps[s] for s in HOUR)
    assert [r for r in faulty if r["timestamp"] in shifted][:4] == [
        {**clean[old], "timestamp": new} for old, new in zip(HOUR, shifted, strict=True)
    ]


def test_http_500_fault_only_for_overlapping_windows(sim: SimulatorHandle) -> None:
    sim.add_fault(f"kind=http_500,ref={REF},{WINDOW}")
    resp = export(sim, DAY)
    assert resp.status_code == 500 and 0 < len(resp.content) < 100
    assert export(sim, "20261117").status_code == 200
    assert export(sim, DAY, ref="OTHER-DEVICE").status_code == 200


def test_timeout_fault_delays_answer_and_stop_does_not_hang(clock: FrozenClock) -> None:
    sim = start_in_thread(clock=clock, faults=[Fault("timeout", params={"seconds": 60})])
    try:
        with pytest.raises(requests.exceptions.Timeout):
            export(sim, DAY, timeout=0.3)
    finally:
        t0 = time.perf_counter()
        sim.stop()
        assert time.perf_counter() - t0 < 2


def test_short_timeout_fault_answers_late(sim: SimulatorHandle) -> None:
    sim.add_fault(Fault("timeout", ref=REF, params={"seconds": 0.4}))
    t0 = time.perf_counter()
    assert export(sim, DAY).status_code == 200
    assert time.perf_counter() - t0 >= 0.4


@pytest.mark.parametrize("body", ["html", "truncated", "wrong_shape", "negative"])
def test_malformed_fault_bodies(sim: SimulatorHandle, body: str) -> None:
    clean = export(sim, DAY)
    sim.add_fault(Fault("malformed", ref=REF, params={"body": body}))
    resp = export(sim, DAY)
    assert resp.status_code == 200
    if body == "html":
        assert resp.headers["Content-Type"].startswith("text/html") and resp.text.startswith("<!DOCTYPE html>")
    elif body == "truncated":
        assert 0 < len(resp.content) < len(clean.content)
        with pytest.raises(json.JSONDecodeError):
            json.loads(resp.content)
    elif body == "wrong_shape":
        assert "data" not in resp.json()
    else:
        data = resp.json()["data"]
        assert len(data) == 96 and all(r["in"] < 0 and r["out"] < 0 for r in data)
    live = requests.get(f"{sim.device_url(REF)}{API}?live-sum.json", timeout=5)
    assert live.status_code == 200 and live.content != b""


# --- HTTP: control API and bad input ----------------------------------------------------------


def test_control_api(sim: SimulatorHandle) -> None:
    url = f"{sim.url}/_sim/faults"
    spec = {"kind": "gap", "ref": REF, "start": "2026-11-18T10:00:00Z", "end": "2026-11-18T11:00:00Z"}
    created = requests.post(url, json=spec, timeout=5)
    assert created.status_code == 201 and created.json()["kind"] == "gap"
    assert len(rows(sim, DAY)) == 92
    assert [f["kind"] for f in requests.get(url, timeout=5).json()["faults"]] == ["gap"]
    assert sim.faults == [Fault.from_dict(spec)]
    assert requests.delete(url, timeout=5).json() == {"cleared": 1}
    assert requests.get(url, timeout=5).json() == {"faults": []}
    assert len(rows(sim, DAY)) == 96


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b'{"kind": "earthquake"}', 400),
        (b'{"kind": "gap", "start": "2026-11-18T10:00"}', 400),  # naive
        (b'{"kind": "gap", "colour": "red"}', 400),
        (b"[1, 2]", 400),
        (b"\xff\xfe", 400),
        (b"[" * 100_000, 413),
    ],
)
def test_bad_control_bodies(sim: SimulatorHandle, body: bytes, status: int) -> None:
    resp = requests.post(f"{sim.url}/_sim/faults", data=body, timeout=5)
    assert resp.status_code == status
    assert "error" in resp.json()
    assert sim.faults == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/nothing", 404),
        ("/devices/", 400),
        (f"/devices/{REF}", 404),
        (f"/devices/{REF}/unknown", 404),
        (f"/devices/{REF}{API}", 400),
        (f"/devices/{REF}{API}?export-json", 400),
        (f"/devices/{REF}{API}?export-json&date=20261131", 400),
        (f"/devices/{REF}{API}?export-json&date=2026-11-20", 400),
        (f"/devices/{REF}{API}?export-json&date=20261120-20251120", 400),
        (f"/devices/{REF}{API}?export-json&date=20200101-20261120", 400),
        (f"/devices/{REF}{API}?export-json&date=20261120&res=2h", 400),
        (f"/devices/{'%2F..%2F'}{API}?live-sum.json", 400),
        (f"/devices/{'x' * 500}{API}?live-sum.json", 400),
    ],
)
def test_bad_requests_answer_json_errors(sim: SimulatorHandle, path: str, status: int) -> None:
    resp = requests.get(sim.url + path, timeout=5)
    assert resp.status_code == status
    assert resp.json()["error"]


def test_wrong_method(sim: SimulatorHandle) -> None:
    assert requests.post(f"{sim.device_url(REF)}{API}?live-sum.json", timeout=5).status_code == 405
    assert requests.put(f"{sim.url}/_sim/faults", timeout=5).status_code == 405
    assert requests.post(f"{sim.url}/healthz", timeout=5).status_code == 405


def raw_exchange(sim: SimulatorHandle, payload: bytes) -> bytes:
    with socket.create_connection((sim.host, sim.port), timeout=5) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_server_survives_garbage(sim: SimulatorHandle, capfd: pytest.CaptureFixture[str]) -> None:
    garbage = [
        b"\x00\x01\x02\xff\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        b"BREW /healthz HTTP/1.1\r\n\r\n",
        b'POST /_sim/faults HTTP/1.1\r\nContent-Length: 50\r\n\r\n{"ki',
        b"POST /_sim/faults HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /_sim/faults HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /_sim/faults HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET http://[bad/devices HTTP/1.1\r\n\r\n",
        b"GET /devices/A/local/tvpc/.api?" + b"&k=v" * 500 + b" HTTP/1.1\r\n\r\n",
        b"",
    ]
    for payload in garbage:
        answer = raw_exchange(sim, payload)
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert 400 <= status < 600, (payload[:40], answer[:200])
            assert status != 500, answer[:200]
    with socket.create_connection((sim.host, sim.port), timeout=5):
        pass  # connect and leave without a word
    assert requests.get(f"{sim.url}/healthz", timeout=5).json() == {"status": "ok"}
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""


def test_simulator_command_refuses_a_bad_fault_before_serving(capsys):
    from footfall_simulator.cli import main

    assert main(["serve", "--port", "0", "--fault", "kind=nonsense"]) == 2
    assert "footfall-simulator:" in capsys.readouterr().err
