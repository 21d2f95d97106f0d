"""Regular site series, derived occupancy and local-calendar lags, including both Paris DST days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from footfall.forecast.calendar import calendar_frame, holiday_dates, same_wall_time_positions
from footfall.forecast.series import UnusableInput, derive_occupancy, parse_resolution, quietest_hour, site_series

PARIS = "Europe/Paris"


def grid(start: str, end: str, minutes: int = 30) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq=f"{minutes}min", tz="UTC", inclusive="left", unit="ns")


@pytest.mark.parametrize(("text", "minutes"), [("30min", 30), ("15m", 15), ("1h", 60), ("60", 60)])
def test_parse_resolution(text, minutes):
    assert parse_resolution(text) == minutes


@pytest.mark.parametrize("text", ["7min", "abc", "0min"])
def test_parse_resolution_refuses_what_does_not_divide_a_day(text):
    with pytest.raises(UnusableInput):
        parse_resolution(text)


def test_site_series_sums_counters_and_fills_the_grid():
    counts = pd.DataFrame(
        {
            "site_id": ["s"] * 5,
            "counter_id": ["a", "b", "a", "b", "a"],
            "interval_start": pd.to_datetime(
                [
                    "2026-03-29T00:00Z",
                    "2026-03-29T00:00Z",
                    "2026-03-29T00:15Z",
                    "2026-03-29T00:15Z",
                    "2026-03-29T01:30Z",
                ]
            ).as_unit("ns"),
            "interval_minutes": [15] * 5,
            "entries": [1, 2, 3, np.nan, 4],
            "exits": [0, 1, 1, 1, np.nan],
            "occupancy": [np.nan] * 5,
        }
    )
    series = site_series(counts, 30)
    assert list(series.index) == list(grid("2026-03-29T00:00Z", "2026-03-29T02:00Z"))
    assert series["entries"].tolist()[0] == 6  # 1 + 2 + 3 (the absent cell adds nothing)
    assert series["exits"].tolist()[0] == 3
    assert np.isnan(series["entries"].iloc[1])  # a gap stays a gap, not a zero
    assert series["entries"].iloc[3] == 4 and np.isnan(series["exits"].iloc[3])


def test_derived_occupancy_resets_daily_and_never_goes_negative():
    index = grid("2026-10-24T22:00Z", "2026-10-26T23:00Z", 60)  # spans Paris' 25-hour day
    entries = np.zeros(len(index))
    exits = np.zeros(len(index))
    local_hours = index.tz_convert(PARIS).hour
    entries[(local_hours >= 9) & (local_hours < 12)] = 10  # 30 in each morning
    exits[(local_hours >= 12) & (local_hours < 14)] = 10  # 20 out: 10 "stay" (missed exits)
    exits[local_hours == 8] = 5  # exits before anyone came in: must not go below zero
    series = pd.DataFrame({"entries": entries, "exits": exits}, index=index)

    occupancy = derive_occupancy(series, PARIS, reset_hour=4)

    assert occupancy.min() == 0
    local = occupancy.tz_convert(PARIS)
    for day in ("2026-10-25", "2026-10-26"):  # DST day and the day after: same shape
        assert local[f"{day} 11:00"] == 30
        assert local[f"{day} 13:00"] == 10
        assert local[f"{day} 08:00"] == 0  # the 10 left over yesterday were reset at 04:00


def test_quietest_hour_is_the_local_night():
    index = grid("2026-03-28T00:00Z", "2026-04-01T00:00Z", 60)
    local_hours = index.tz_convert(PARIS).hour
    traffic = np.where(local_hours == 4, 0, 5 + local_hours)
    series = pd.DataFrame({"entries": traffic, "exits": traffic}, index=index)
    assert quietest_hour(series, PARIS) == 4


@pytest.mark.parametrize(
    ("target", "expected_hours_back"),
    [
        ("2026-03-29T10:00+02:00", 23),  # spring forward: Saturday 10:00 was 23 h before Sunday 10:00
        ("2026-03-30T10:00+02:00", 24),  # the Monday after: an ordinary day back
        ("2026-10-25T10:00+01:00", 25),  # fall back: Saturday 10:00 was 25 h before Sunday 10:00
    ],
)
def test_same_slot_yesterday_follows_the_wall_clock(target, expected_hours_back):
    index = grid("2026-03-20T00:00Z", "2026-11-01T00:00Z")
    position = index.get_loc(pd.Timestamp(target).tz_convert("UTC"))
    lag = same_wall_time_positions(index, PARIS, 1)[position]
    back = (index[position] - index[lag]) / pd.Timedelta(hours=1)
    local_then, local_now = index[lag].tz_convert(PARIS), index[position].tz_convert(PARIS)
    assert (local_then.hour, local_then.minute) == (local_now.hour, local_now.minute)
    assert back == expected_hours_back


def test_wall_times_missing_on_the_earlier_day_have_no_lag():
    index = grid("2026-03-28T00:00Z", "2026-03-31T00:00Z")
    lags = same_wall_time_positions(index, PARIS, 1)
    monday_0230 = index.get_loc(pd.Timestamp("2026-03-30T02:30+02:00").tz_convert("UTC"))
    assert lags[monday_0230] == -1  # 02:30 did not exist on Sunday 29 March
    sunday_0330 = index.get_loc(pd.Timestamp("2026-03-29T03:30+02:00").tz_convert("UTC"))
    assert index[lags[sunday_0330]] == pd.Timestamp("2026-03-28T03:30+01:00")  # 22 h back, same wall time


def test_fall_back_repeated_wall_time_has_no_lag():
    index = grid("2026-10-24T00:00Z", "2026-10-27T00:00Z")
    lags = same_wall_time_positions(index, PARIS, 1)
    monday_0230 = index.get_loc(pd.Timestamp("2026-10-26T02:30+01:00").tz_convert("UTC"))
    assert lags[monday_0230] == -1  # 02:30 happened twice on Sunday 25 October: ambiguous


def test_calendar_marks_holidays_and_local_slots_across_dst():
    index = grid("2026-03-28T00:00Z", "2026-03-31T00:00Z")
    france = holiday_dates("FR", None, [2026])
    assert date(2026, 4, 6) in france  # Easter Monday
    calendar = calendar_frame(index, PARIS, 30, {date(2026, 3, 30)})
    monday_9 = pd.Timestamp("2026-03-30T09:00+02:00").tz_convert("UTC")
    sunday_9 = pd.Timestamp("2026-03-29T09:00+02:00").tz_convert("UTC")
    assert calendar.loc[monday_9, "slot_of_day"] == calendar.loc[sunday_9, "slot_of_day"] == 18
    assert bool(calendar.loc[monday_9, "holiday"]) and not bool(calendar.loc[sunday_9, "holiday"])
    assert calendar.loc[monday_9, "weekday"] == 0
    per_day = calendar.groupby("local_date").size()
    assert per_day[np.datetime64("2026-03-29")] == 46  # 23-hour day


def test_us_regional_holidays():
    assert date(2005, 9, 5) in holiday_dates("US", "CA", [2005])  # Labor Day, inside the CalIt2 period
    assert holiday_dates(None, None, [2005]) == set()


def test_instants_stay_utc():
    index = grid("2026-10-25T00:00Z", "2026-10-26T00:00Z")
    assert index.tz is not None and str(index.tz) == "UTC"
    assert index[0].to_pydatetime() == datetime(2026, 10, 25, tzinfo=UTC)
