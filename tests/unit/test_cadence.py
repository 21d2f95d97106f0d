"""footfall.cadence: a live run checks the whole site-day once per period on its site's slot, and at the day's end."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from footfall.cadence import full_checks_due
from footfall.timewindow import Window

STEP = timedelta(minutes=5)


def live(end: datetime) -> Window:
    return Window(end - STEP, end)


def test_each_site_checks_once_an_hour_on_its_own_slot(make_site):
    site = make_site("slot-site")
    hour = datetime(2026, 11, 18, 10, tzinfo=UTC)  # 11:00 in Paris, mid-day
    due = [full_checks_due(site, live(hour + (i + 1) * STEP), f"scheduled__{i}") for i in range(12)]
    assert due.count(True) == 1
    next_hour = [
        full_checks_due(site, live(hour + timedelta(hours=1) + (i + 1) * STEP), "scheduled__x") for i in range(12)
    ]
    assert next_hour == due  # the same slot every hour


def test_a_thousand_sites_spread_their_checks_over_the_hour(make_site):
    hour = datetime(2026, 11, 18, 10, tzinfo=UTC)
    per_slot: Counter[int] = Counter()
    for n in range(1000):
        site = make_site(f"site-{n:04d}")
        (slot,) = [i for i in range(12) if full_checks_due(site, live(hour + (i + 1) * STEP), "scheduled__x")]
        per_slot[slot] += 1
    assert len(per_slot) == 12 and max(per_slot.values()) <= 2 * 1000 / 12


def test_runs_that_are_not_live_five_minute_runs_always_check(make_site):
    site = make_site()
    end = datetime(2026, 11, 18, 10, 5, tzinfo=UTC)
    slots = [full_checks_due(site, live(end + i * STEP), "scheduled__x") for i in range(12)]
    quiet = end + slots.index(False) * STEP
    assert not full_checks_due(site, live(quiet), "scheduled__2026-11-18T10:00:00+00:00")
    for run_id in ("manual__1", "backfill__2026-11-18", "cli", "replay"):
        assert full_checks_due(site, live(quiet), run_id)
    assert full_checks_due(site, Window(quiet - timedelta(hours=1), quiet), "scheduled__x")  # an hourly interval


def test_the_interval_that_ends_the_site_day_checks_in_full_across_dst(make_site):
    site = make_site(timezone="Europe/Paris")
    winter_midnight = datetime(2026, 11, 18, 23, tzinfo=UTC)  # 00:00 in Paris (UTC+1)
    summer_midnight = datetime(2026, 7, 1, 22, tzinfo=UTC)  # 00:00 in Paris (UTC+2)
    spring_day_end = datetime(2026, 3, 29, 22, tzinfo=UTC)  # 29 March, the 23-hour day, ends at 22:00 UTC
    autumn_day_end = datetime(2026, 10, 25, 23, tzinfo=UTC)  # 25 October, the 25-hour day, ends at 23:00 UTC
    for end in (winter_midnight, summer_midnight, spring_day_end, autumn_day_end):
        assert full_checks_due(site, live(end), "scheduled__x"), end
    # an hour after the summer midnight is not a day's end: only its slot decides
    later = [full_checks_due(site, live(summer_midnight + (i + 13) * STEP), "scheduled__x") for i in range(12)]
    assert later.count(True) == 1


def test_a_site_can_check_on_every_run(make_site):
    site = make_site(quality={"checks_every_minutes": 5})
    end = datetime(2026, 11, 18, 10, 5, tzinfo=UTC)
    assert all(full_checks_due(site, live(end + i * STEP), "scheduled__x") for i in range(12))
