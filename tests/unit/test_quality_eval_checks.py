"""The check behaviours the accuracy bench (bench/quality_eval.py) exposed: a missing interval is one
that should be over by now, and a clock shift is judged on the shape of the hours a day reported."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from footfall.config import OpeningHours
from footfall.quality.context import SiteContext
from footfall.quality.registry import check_site

ZONE = "Europe/Paris"
DAY = date(2026, 10, 21)  # a Wednesday
EVERY_DAY = OpeningHours.model_validate(
    {"regular": dict.fromkeys(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "08:00-20:00")}
)
CTX = SiteContext("s", ZONE, capacity=5000, opening_hours=EVERY_DAY, country="FR")


def local(day: date, hh: int, mm: int = 0) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time(hh, mm))).tz_localize(ZONE).tz_convert("UTC")


def day_counts(day: date, counter: str = "a", step: int = 15, scale: float = 1.0, shift_hours: int = 0):
    """A local day with a peaked profile (quiet mornings, busy early afternoon), optionally shifted."""
    starts = pd.date_range(local(day, 0), local(day + timedelta(days=1), 0), freq=f"{step}min", inclusive="left")
    hours = ((starts.tz_convert(ZONE) - pd.Timedelta(hours=shift_hours)).hour).to_numpy()
    wall = (starts.tz_convert(ZONE) - pd.Timedelta(hours=shift_hours)).tz_localize(None)
    tod = (wall - wall.normalize()).total_seconds().to_numpy() / 3600
    profile = np.where((hours >= 8) & (hours < 20), np.maximum(0.0, 1 - np.abs(tod - 13.5) / 6), 0.0)
    entries = np.rint(40 * scale * profile * step / 15)
    return pd.DataFrame(
        {
            "site_id": "s",
            "counter_id": counter,
            "interval_start": starts,
            "interval_minutes": step,
            "entries": entries,
            "exits": entries,
            "occupancy": np.nan,
        }
    )


def flags_of(frame: pd.DataFrame, check: str, **kw) -> pd.DataFrame:
    out = check_site(frame, CTX, only={check}, **kw)
    return out[out["check"] == check]


def test_a_future_row_does_not_make_the_interval_at_now_missing():
    now = local(DAY, 16)
    both = pd.concat([day_counts(DAY, "a"), day_counts(DAY, "b")], ignore_index=True)
    frame = both[both["interval_start"] < now]
    ahead = (
        frame[frame["counter_id"] == "a"]
        .tail(2)
        .assign(interval_start=lambda f: f["interval_start"] + pd.Timedelta(hours=3))
    )
    frame = pd.concat([frame, ahead], ignore_index=True)
    assert len(flags_of(frame, "future_timestamp", as_of=now, now=now)) == 1
    assert flags_of(frame, "missing_intervals", as_of=now, now=now).empty
    gone = frame["counter_id"].eq("b") & frame["interval_start"].between(local(DAY, 15), local(DAY, 15, 30))
    found = flags_of(frame[~gone], "missing_intervals", as_of=now, now=now)
    assert found[["counter_id", "start", "end"]].values.tolist() == [["b", local(DAY, 15), local(DAY, 15, 45)]]


def test_an_interval_still_running_is_not_missing():
    now = local(DAY, 16, 5)
    quarter = day_counts(DAY, "a", step=15)
    five = day_counts(DAY, "b", step=5)
    frame = pd.concat([quarter[quarter["interval_start"] < local(DAY, 16)], five[five["interval_start"] < now]])
    assert flags_of(frame, "missing_intervals", as_of=now, now=now).empty


def history(last: date, weeks: int = 4, **kw) -> pd.DataFrame:
    return pd.concat([day_counts(last - timedelta(weeks=k), **kw) for k in range(weeks, 0, -1)], ignore_index=True)


@pytest.mark.parametrize("scale", [0.6, 1.0, 1.8])
def test_clock_shift_on_a_quieter_or_busier_day(scale):
    frame = pd.concat([history(DAY), day_counts(DAY, scale=scale, shift_hours=1)], ignore_index=True)
    found = flags_of(frame, "clock_shift")
    assert len(found) == 1 and found.iloc[0]["observed"] == 1
    assert found.iloc[0]["start"].tz_convert(ZONE).date() == DAY
    busy = pd.concat([history(DAY), day_counts(DAY, scale=scale)], ignore_index=True)
    assert flags_of(busy, "clock_shift").empty


def test_clock_shift_ignores_the_hours_a_day_has_not_reported():
    today = day_counts(DAY)
    running = today[today["interval_start"] < local(DAY, 11)]  # the day is still running
    assert flags_of(pd.concat([history(DAY), running]), "clock_shift").empty
    gap = today["interval_start"].between(local(DAY, 12), local(DAY, 14, 45))  # an outage is not a quiet hour
    assert flags_of(pd.concat([history(DAY), today[~gap]]), "clock_shift").empty
