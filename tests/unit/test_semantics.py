"""Counter semantics: cumulative totals to interval counts conserve traffic across resets and rollovers."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from footfall.semantics import cumulative_columns, cumulative_deltas, reset_days, reset_epochs, site_totals

PARIS = ZoneInfo("Europe/Paris")


def test_rules_by_example():
    values = np.array([10, 15, 3, 7, np.nan, 9, 65530, 4])
    deltas, kinds = cumulative_deltas(values, None, register_max=65536)
    assert np.isnan(deltas[0]) and kinds[0] == "first"
    assert deltas[1] == 5 and kinds[1] == "count"
    assert deltas[2] == 3 and kinds[2] == "reset"  # a reboot: counted from 0, never negative
    assert deltas[3] == 4
    assert np.isnan(deltas[4]) and kinds[4] == "missing"
    assert deltas[5] == 2  # compared with the last known reading (7)
    assert kinds[7] == "rollover" and deltas[7] == 65536 - 65530 + 4


def test_scheduled_reset_takes_the_new_value_even_without_a_drop():
    deltas, kinds = cumulative_deltas(np.array([5.0, 80.0]), np.array([False, True]))
    assert deltas[1] == 80 and kinds[1] == "scheduled_reset"


def _instants(*local: tuple[int, int, int, int, int]) -> pd.Series:
    stamps = [pd.Timestamp(datetime(*t, tzinfo=PARIS)).tz_convert(UTC) for t in local]
    return pd.Series(stamps)


def test_reset_epochs_on_both_dst_days():
    # Spring: 2026-03-29 has 23 hours; a 04:00 reset is seen once between 03:30 and 04:30 local.
    spring = _instants((2026, 3, 29, 1, 30), (2026, 3, 29, 3, 30), (2026, 3, 29, 4, 30), (2026, 3, 30, 3, 59))
    e = reset_epochs(spring, PARIS, time(4, 0))
    assert list(np.diff(e)) == [0, 1, 0]
    # Autumn: 2026-10-25 has 25 hours; midnight resets once per local day, the repeated 02:00 hour is one day.
    autumn = pd.Series(
        pd.to_datetime(["2026-10-24T21:55Z", "2026-10-24T22:00Z", "2026-10-25T00:30Z", "2026-10-25T01:30Z",
                        "2026-10-25T22:55Z", "2026-10-25T23:00Z"])
    )  # fmt: skip
    e = reset_epochs(autumn, PARIS, time(0, 0))
    assert list(np.diff(e)) == [1, 0, 0, 0, 1]


@st.composite
def counter_history(draw):
    """True traffic per interval, and what a counter with resets and a rolling register reports."""
    register_max = draw(st.sampled_from([None, 1000, 65536]))
    n = draw(st.integers(2, 60))
    top = 50 if register_max else 500
    traffic = draw(st.lists(st.integers(0, top), min_size=n, max_size=n))
    resets = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    start = draw(st.integers(0, (register_max or 10_000) - 1))
    readings, value = [start], start
    for i in range(1, n):
        if resets[i]:
            # a drop must be visible, and not look like a wrap (below the top tenth of the register)
            assume(traffic[i] < value and (register_max is None or value < 0.9 * register_max))
            value = traffic[i]
        else:
            value = value + traffic[i]
            if register_max:
                value %= register_max
        readings.append(value)
    return np.array(readings, dtype=float), traffic, register_max


@settings(max_examples=300, deadline=None)
@given(counter_history())
def test_conversion_conserves_traffic_across_resets_and_rollovers(history):
    readings, traffic, register_max = history
    deltas, _ = cumulative_deltas(readings, None, register_max)
    assert (deltas[1:] >= 0).all()  # never negative traffic
    assert deltas[1:].tolist() == [float(t) for t in traffic[1:]]
    assert np.nansum(deltas) == sum(traffic[1:])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=2, max_size=40), st.data())
def test_scheduled_resets_conserve_traffic_counted_after_the_reset(traffic, data):
    flags = [False] + [data.draw(st.booleans()) for _ in traffic[1:]]
    readings, value = [0], 0
    for t, reset in zip(traffic[1:], flags[1:], strict=True):
        value = t if reset else value + t
        readings.append(value)
    deltas, _ = cumulative_deltas(np.array(readings, dtype=float), np.array(flags))
    assert deltas[1:].tolist() == [float(t) for t in traffic[1:]]


def test_site_totals_use_raw_sums_not_clamped_doors():
    rows = pd.DataFrame(
        {
            "interval_start": pd.to_datetime(["2026-11-20T09:00Z"] * 2),
            "counter_id": ["front", "back"],
            "entries": [10, 0],
            "exits": [2, 6],
        }
    )
    totals = site_totals(rows)
    assert totals[["entries", "exits", "net"]].values.tolist() == [[10, 8, 2]]  # not 8 + 0 clamped


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-2_000_000_000, 4_000_000_000), min_size=1, max_size=200),
    st.sampled_from(["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]),
    st.sampled_from([time(0, 0), time(4, 0), time(2, 30)]),
)
def test_reset_days_are_reset_epochs_by_arithmetic(seconds, zone, reset_at):
    instants = (np.array(seconds, dtype=np.int64) * 1_000_000).view("datetime64[us]")
    expected = reset_epochs(pd.Series(pd.DatetimeIndex(instants).tz_localize("UTC")), ZoneInfo(zone), reset_at)
    assert (reset_days(instants, ZoneInfo(zone), reset_at) == expected).all()


def _per_counter(readings: pd.DataFrame, reset_at: time | None, register_max: int | None) -> pd.DataFrame:
    """The rules one counter at a time: the reading-by-reading definition cumulative_columns must match."""
    out = []
    for counter, group in readings.sort_values(["counter", "t", "payload"]).groupby("counter"):
        group = group.drop_duplicates("t", keep="last")
        sched = None
        if reset_at is not None:
            epochs = reset_epochs(group["t"].dt.tz_localize("UTC"), PARIS, reset_at)
            sched = np.concatenate(([False], epochs[1:] != epochs[:-1]))
        deltas, _ = cumulative_deltas(group["v"].to_numpy(), sched, register_max)
        starts = group["t"].dt.floor("300s").to_numpy()[:-1]
        out.append(pd.DataFrame({"counter": counter, "start": starts, "v": deltas[1:]}))
    merged = pd.concat(out)
    return merged.groupby(["counter", "start"], as_index=False)["v"].sum(min_count=1)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 600), st.integers(0, 3), st.one_of(st.none(), st.integers(0, 999))),
        min_size=1,
        max_size=80,
    ),
    st.sampled_from([None, time(0, 0), time(4, 0)]),
    st.sampled_from([None, 1000]),
)
def test_cumulative_columns_follow_the_rules_counter_by_counter(readings, reset_at, register_max):
    counter, minute, payload, value = (np.array(c) for c in zip(*readings, strict=True))
    instants = (np.datetime64("2026-10-24T20:00", "us") + minute.astype("timedelta64[m]") * 5).astype("datetime64[us]")
    values = np.array([np.nan if v is None else v for v in value], dtype=float)
    got = cumulative_columns(
        counter.astype(np.int64), instants, payload.astype(np.int64), {"v": values},
        np.zeros(len(values), dtype=bool), np.full(len(values), 5.0),
        zone=PARIS, native_minutes=5, reset_at=reset_at, register_max=register_max,
    )  # fmt: skip
    frame = pd.DataFrame({"counter": counter, "t": pd.Series(instants), "payload": payload, "v": values})
    expected = _per_counter(frame, reset_at, register_max)
    assert got["counter"].tolist() == expected["counter"].tolist()
    assert got["start"].tolist() == expected["start"].dt.as_unit("us").to_numpy().tolist()
    np.testing.assert_array_equal(got["v"], expected["v"].to_numpy())
