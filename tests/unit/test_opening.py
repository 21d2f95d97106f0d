"""One precedence for a day's opening hours, used alike by the quality checks and the sharing API."""

from __future__ import annotations

from datetime import date, time

from footfall import opening
from footfall.quality.context import SiteContext, day_ranges
from footfall.share import hours

WEEK = {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
EPIPHANY = date(2027, 1, 6)  # a public holiday in Bavaria (DE/BY), not in Berlin (DE/BE)


def test_precedence_closed_day_then_exception_then_holiday_then_week(make_site):
    site = make_site(
        country="FR",
        opening_hours={
            "regular": WEEK,
            "exceptions": {"2026-11-11": "10:00-12:00", "2026-12-24": "09:00-13:00"},
            "closed_days": ["2026-11-11", "2026-12-26"],
        },
    )
    holidays = opening.public_holidays("FR", None, [2026])
    assert date(2026, 11, 11) in holidays and date(2026, 12, 25) in holidays
    got = {d: opening.day_hours(site.opening_hours, d, holidays) for d in (date(2026, 11, d) for d in (10, 11))}
    assert got[date(2026, 11, 11)].note == "closed_day"  # closed wins over its own exception and the holiday
    assert got[date(2026, 11, 10)].ranges == ((time(9), time(18)),)
    assert opening.day_hours(site.opening_hours, date(2026, 12, 24), holidays).note == "exception"
    assert opening.day_hours(site.opening_hours, date(2026, 12, 25), holidays).note == "public_holiday"
    assert opening.day_hours(site.opening_hours, date(2026, 12, 25)).ranges == ((time(9), time(18)),)


def test_a_site_without_hours_is_open_all_day(make_site):
    site = make_site(opening_hours={})
    assert opening.day_hours(site.opening_hours, date(2026, 3, 29)).ranges == opening.ALL_DAY


def test_quality_checks_and_sharing_agree_on_a_regional_holiday(make_site):
    for region, closed in (("BY", True), ("BE", False)):
        site = make_site(country="DE", region=region, opening_hours={"regular": WEEK})
        shared = hours.day_hours(site, EPIPHANY)
        checked = day_ranges(SiteContext.from_site(site), [EPIPHANY])[0]
        assert (shared.note == "public_holiday") is closed
        assert bool((checked == -1).all()) is closed, checked  # no open range on the closed day
        if not closed:
            assert checked[0].tolist() == [9 * 60, 18 * 60]
