"""Sharing rules without a server: opening state across Paris DST days and holidays, levels, the rate limit,
the cache headers, the sharing section of a site file."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from footfall.config import ConfigError, LevelThresholds, load_site
from footfall.errors import Refused
from footfall.share import hours, levels
from footfall.share.access import RateLimiter, bearer
from footfall.share.http import _matches, max_age
from footfall.share.service import half_hours, local_day

WEEK = {**{d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri")}, "sat": "09:00-18:00"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_open_state_follows_hours_exceptions_and_holidays(make_site):
    site = make_site(
        country="FR",
        opening_hours={"regular": WEEK, "exceptions": {"2026-12-24": "08:00-12:00"}, "closed_days": ["2026-12-26"]},
    )
    friday_noon = utc(2026, 11, 20, 11)
    assert hours.open_state(site, friday_noon) == hours.OpenState(True, (False, utc(2026, 11, 20, 19)))
    saturday_night = utc(2026, 11, 21, 22)  # Saturday 23:00: closed until Monday 08:00 (Sunday closed)
    assert hours.open_state(site, saturday_night) == hours.OpenState(False, (True, utc(2026, 11, 23, 7)))
    # 11 November (Armistice, a Wednesday) is a public holiday in France: closed all day.
    assert hours.open_state(site, utc(2026, 11, 11, 10)).open is False
    assert hours.day_hours(site, date(2026, 11, 11)).note == "public_holiday"
    christmas_eve = hours.open_state(site, utc(2026, 12, 24, 10))
    assert christmas_eve == hours.OpenState(True, (False, utc(2026, 12, 24, 11)))  # the exception: 12:00
    assert hours.day_hours(site, date(2026, 12, 26)).note == "closed_day"
    keeps_open = make_site(country="FR", opening_hours={"regular": WEEK}, quality={"closed_on_public_holidays": False})
    assert hours.open_state(keeps_open, utc(2026, 11, 11, 10)).open is True


def test_dst_days_in_paris(make_site):
    site = make_site(opening_hours={"regular": {d: "00:00-24:00" for d in ("sat", "sun", "mon")}})
    # Sunday 25 October 2026 has 25 hours: 50 half hours from 22:00 UTC on Saturday to 23:00 UTC on Sunday.
    day, start, end = local_day(site, utc(2026, 10, 25, 12))
    assert (day, start, end) == (date(2026, 10, 25), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert len(half_hours(start, end)) == 50
    _, start, end = local_day(site, utc(2026, 3, 29, 12))  # 23 hours in spring
    assert len(half_hours(start, end)) == 46
    # Open round the clock Saturday to Monday: the midnight-touching ranges merge into one, closing Monday 24:00.
    state = hours.open_state(site, utc(2026, 10, 25, 1, 30))  # 02:30 CET, after the clocks went back
    assert state == hours.OpenState(True, (False, utc(2026, 10, 26, 23)))
    week = hours.week_hours(site, date(2026, 10, 25), 0)
    assert week[0].day == date(2026, 10, 19) and len(week) == 7


def test_a_site_without_hours_is_always_open(make_site):
    site = make_site(opening_hours={})
    assert hours.open_state(site, utc(2026, 11, 22, 3)) == hours.OpenState(True, None)


def test_levels_and_percent():
    thresholds = LevelThresholds()
    assert levels.percent(None, 100) is None and levels.percent(10, None) is None
    assert levels.percent(250, 200) == 100 and levels.percent(-3, 200) == 0 and levels.percent(79, 200) == 40
    cases = {0: "low", 39: "low", 40: "medium", 69: "medium", 70: "high", 89: "high", 90: "full", 100: "full"}
    for pct, name in cases.items():
        assert levels.level(is_open=True, fresh=True, percent_now=pct, thresholds=thresholds) == name
    assert levels.level(is_open=False, fresh=True, percent_now=50, thresholds=thresholds) == "closed"
    assert levels.level(is_open=True, fresh=False, percent_now=50, thresholds=thresholds) == "no_data"
    assert levels.level(is_open=True, fresh=True, percent_now=None, thresholds=thresholds) == "no_data"
    custom = LevelThresholds(medium=20, high=50, full=80)
    assert levels.level(is_open=True, fresh=True, percent_now=55, thresholds=custom) == "high"


def test_sharing_section_is_validated(tmp_path, site_doc):
    import yaml

    path = tmp_path / "bib.yaml"
    path.write_text(yaml.safe_dump(site_doc("bib", sharing={"public": True, "thresholds": {"medium": 80}})))
    with pytest.raises(ConfigError, match="thresholds must rise"):
        load_site(path)
    path.write_text(yaml.safe_dump(site_doc("bib", sharing={"public": True, "colour": "red"})))
    with pytest.raises(ConfigError, match=r"sharing\.colour"):
        load_site(path)
    path.write_text(yaml.safe_dump(site_doc("bib", sharing={"public": True, "message": "Fermé lundi"})))
    site = load_site(path)
    assert site.sharing.public and site.sharing.message == "Fermé lundi" and site.sharing.thresholds.full == 90
    assert load_site(path).sharing == site.sharing
    assert site_doc("other").get("sharing") is None  # without the section: private, default thresholds


def test_rate_limiter_refills_and_says_when():
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take("k", 60) for _ in range(60)] == [0.0] * 60
    assert limiter.take("k", 60) == pytest.approx(1.0)
    assert limiter.take("other", 60) == 0.0  # per key
    now[0] += 2.0
    assert limiter.take("k", 60) == 0.0
    with pytest.raises(Refused) as refused:
        for _ in range(5):
            limiter.check("k", 60)
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "1"


def test_bearer_and_etag_matching():
    assert bearer(None) is None and bearer("Bearer ffp_x") == "ffp_x"
    for bad in ("ffp_x", "Basic abc", "Bearer  "):
        with pytest.raises(Refused) as refused:
            bearer(bad)
        assert refused.value.status == 401
    assert _matches('W/"a", W/"b"', 'W/"b"') and _matches('"b"', 'W/"b"') and _matches("*", 'W/"b"')
    assert not _matches('W/"c"', 'W/"b"') and not _matches(None, 'W/"b"')


def test_max_age_expires_a_minute_after_each_five_minute_boundary():
    assert max_age(utc(2026, 11, 20, 15, 0, 0)) == 60  # next load lands about 15:01
    assert max_age(utc(2026, 11, 20, 15, 1, 0)) == 300
    assert max_age(utc(2026, 11, 20, 15, 3, 30)) == 150


def test_facts_are_served_stale_while_one_refresh_runs(make_site, monkeypatch):
    import asyncio
    import time

    from footfall.share import service

    reads: list[float] = []

    def read_facts(_engine, site, now):
        reads.append(time.monotonic())
        time.sleep(0.05)
        day, start, end = service.local_day(site, now)
        return service.Facts(day, start, end, None, [], [], None)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "read_facts", read_facts)
    site = make_site()
    cache = service.FactsCache(lambda: None, seconds=0.2)  # type: ignore[arg-type, return-value]
    now = utc(2026, 11, 20, 15)

    async def scenario() -> None:
        first = await cache.get(site, now)
        assert len(reads) == 1 and await cache.get(site, now) is first
        await asyncio.sleep(0.25)  # stale: answered at once, one refresh in the background
        stale = await asyncio.gather(*(cache.get(site, now) for _ in range(20)))
        assert all(f is first for f in stale)
        await asyncio.sleep(0.15)
        assert len(reads) == 2 and await cache.get(site, now) is not first
        await asyncio.sleep(0.45)  # past twice the cache time: the request waits for a fresh read
        await cache.get(site, now)
        assert len(reads) == 3

    # In its own thread: in the whole suite, playwright's sync API keeps an event loop running in this one.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()
