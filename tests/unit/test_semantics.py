"""Counter semantics: cumulative totals to interval counts conserve traffic across resets and rollovers."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from footfall.semantics import cumulative_deltas, reset_epochs, site_totals

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
