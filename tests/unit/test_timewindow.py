"""The incremental window: UTC bounds, local dates and local days, across both 2026 DST changes in Paris."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from footfall.timewindow import Window, floor_time, load_window, local_midnight, parse_instant

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_window_is_stored_in_utc():
    window = Window(datetime(2026, 11, 20, 11, 0, tzinfo=PARIS), datetime(2026, 11, 20, 12, 0, tzinfo=PARIS))
    assert window.start == utc(2026, 11, 20, 10, 0)
    assert window.start.tzinfo is UTC and window.end.tzinfo is UTC
    assert str(window) == "[2026-11-20T10:00Z, 2026-11-20T11:00Z)"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2026, 11, 20, 10), utc(2026, 11, 20, 11), "timezone-aware"),  # noqa: DTZ001 (on purpose)
        (utc(2026, 11, 20, 11), utc(2026, 11, 20, 11), "empty window"),
        (utc(2026, 11, 20, 12), utc(2026, 11, 20, 11), "empty window"),
    ],
)
def test_bad_windows(start, end, message):
    with pytest.raises(ValueError, match=message):
        Window(start, end)


def test_load_window_adds_the_lookback():
    assert load_window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 10, 5), 30) == Window(
        utc(2026, 11, 20, 9, 30), utc(2026, 11, 20, 10, 5)
    )


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 28), 24), (date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 10, 26), 24)],
)
def test_local_days_are_23_24_or_25_hours(day, hours):
    start = local_midnight(day, PARIS)
    end = local_midnight(day + timedelta(days=1), PARIS)
    assert end - start == timedelta(hours=hours)
    # Any window inside the day is widened to exactly that day.
    inner = Window(start + timedelta(hours=2), start + timedelta(hours=2, minutes=35))
    assert inner.local_dates(PARIS) == (day, day)
    assert inner.covering_local_days(PARIS) == Window(start, end)


def test_spring_forward_window():
    # 01:55 CET .. 03:05 CEST on 2026-03-29: ten minutes of real time cross the missing hour.
    window = Window(utc(2026, 3, 29, 0, 55), utc(2026, 3, 29, 1, 5))
    assert window.start.astimezone(PARIS).strftime("%H:%M %Z") == "01:55 CET"
    assert window.end.astimezone(PARIS).strftime("%H:%M %Z") == "03:05 CEST"
    assert window.local_dates(PARIS) == (date(2026, 3, 29), date(2026, 3, 29))


def test_fall_back_window():
    # 02:30 CEST .. 02:10 CET on 2026-10-25: the end reads earlier on the wall clock than the start.
    window = Window(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 10))
    assert window.start.astimezone(PARIS).strftime("%H:%M %Z") == "02:30 CEST"
    assert window.end.astimezone(PARIS).strftime("%H:%M %Z") == "02:10 CET"
    assert window.covering_local_days(PARIS) == Window(utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0))


def test_window_ending_at_local_midnight_stays_on_its_day():
    window = Window(utc(2026, 10, 25, 22, 0), utc(2026, 10, 25, 23, 0))  # 23:00 .. 00:00 CET
    assert window.local_dates(PARIS) == (date(2026, 10, 25), date(2026, 10, 25))


def test_parse_instant():
    assert parse_instant("2026-10-25T01:30:00Z") == utc(2026, 10, 25, 1, 30)
    assert parse_instant("2026-10-25T02:30:00+01:00") == utc(2026, 10, 25, 1, 30)
    assert parse_instant("2026-10-25T01:30") == utc(2026, 10, 25, 1, 30)  # naive is UTC, as --help says


def test_floor_time():
    assert floor_time(utc(2026, 11, 20, 10, 7, 59), 5) == utc(2026, 11, 20, 10, 5)
    assert floor_time(utc(2026, 11, 20, 10, 5), 5) == utc(2026, 11, 20, 10, 5)
    moment = datetime(2026, 11, 20, 11, 7, tzinfo=timezone(timedelta(hours=1)))
    assert floor_time(moment, 15) == utc(2026, 11, 20, 10, 0)
