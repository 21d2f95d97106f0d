"""What each public response says, built from a site file and the warehouse read model.

A site's facts (last interval, today's observations and forecasts, the usual profile) are read in
one go and kept for `cache_seconds` (the pipeline loads every five minutes), so concurrent requests
for a site cost a dictionary lookup; what depends on the clock (age, freshness, open) is computed
per request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from footfall import settings
from footfall.config import SLUG, ConfigError, Site, load_site
from footfall.share import hours, levels
from footfall.share.models import (
    DayHoursOut,
    ForecastOut,
    ForecastSlotOut,
    HoursOut,
    NextChange,
    NowOut,
    OpenRange,
    SiteOut,
    TodayOut,
    TodaySlot,
)
from footfall.warehouse import share as store

log = logging.getLogger(__name__)

SLOT = timedelta(minutes=store.USUAL_SLOT_MINUTES)
DEFAULT_CACHE_SECONDS = 15.0


def cache_seconds() -> float:
    """FOOTFALL_SHARE_CACHE_SECONDS: how long a site's facts are reused (default 15 s)."""
    return float(os.environ.get("FOOTFALL_SHARE_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))


# --- site files ------------------------------------------------------------------------------------


_SLUG = re.compile(SLUG)


@lru_cache(maxsize=16)
def _sites_dir(_env: str | None) -> str:
    """settings.sites_dir() as text, per value of FOOTFALL_SITES_DIR (a Path per request costs)."""
    return str(settings.sites_dir())


@lru_cache(maxsize=4096)
def _site_at(path: str, mtime_ns: int) -> Site:
    return load_site(Path(path))


def site_file(site_id: str, directory: Path | None = None) -> Site | None:
    """The site (re-read when its file changes), or None when there is no usable file of that id."""
    if not _SLUG.match(site_id):
        return None
    path = os.path.join(directory or _sites_dir(os.environ.get("FOOTFALL_SITES_DIR")), f"{site_id}.yaml")
    try:
        return _site_at(path, os.stat(path).st_mtime_ns)
    except FileNotFoundError:
        return None
    except ConfigError as exc:
        log.error("site file unusable, not shared: %s", exc)
        return None


def all_sites(directory: Path | None = None) -> list[Site]:
    directory = directory or settings.sites_dir()
    found = (site_file(p.stem, directory) for p in sorted(directory.glob("*.yaml")))
    return [s for s in found if s is not None]


# --- facts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """One site's read model for one local day."""

    day: date
    day_start: datetime
    day_end: datetime
    last: store.LastInterval | None
    observed: list[tuple[datetime, float]]
    forecasts: list[store.ForecastSlot]  # the day-ahead forecast, its slots of the next two hours the nowcast's
    usual: store.UsualProfile


def local_day(site: Site, now: datetime) -> tuple[date, datetime, datetime]:
    day = now.astimezone(site.zone).date()
    start = datetime.combine(day, datetime.min.time(), tzinfo=site.zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=site.zone).astimezone(UTC)
    return day, start, end


def read_facts(engine: Engine, site: Site, now: datetime) -> Facts:
    day, start, end = local_day(site, now)
    return Facts(
        day,
        start,
        end,
        store.last_interval(engine, site.id),
        store.observed(engine, site.id, start, end),
        store.with_nowcast(store.forecasts(engine, site.id, start, end), store.nowcasts(engine, site.id, start, end)),
        store.usual(engine, site.id, site.timezone, now),
    )


class FactsCache:
    """Facts per (site, local day): fresh for `seconds`, then answered stale for up to `seconds` more while
    one background read refreshes them (so requests never queue behind a refresh); one reader per site."""

    def __init__(self, engine: Callable[[], Engine], seconds: float | None = None) -> None:
        self.engine = engine
        self.seconds = cache_seconds() if seconds is None else seconds
        self._facts: dict[str, tuple[float, Facts]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refreshing: dict[str, asyncio.Task] = {}

    def _usable(self, site: Site, now: datetime, limit: float) -> Facts | None:
        hit = self._facts.get(site.id)
        if hit is None or time.monotonic() - hit[0] >= limit or hit[1].day != local_day(site, now)[0]:
            return None
        return hit[1]

    def fresh(self, site: Site, now: datetime) -> Facts | None:
        return self._usable(site, now, self.seconds)

    async def _read(self, site: Site, now: datetime) -> Facts:
        facts = await run_in_threadpool(read_facts, self.engine(), site, now)
        self._facts[site.id] = (time.monotonic(), facts)
        return facts

    async def _refresh(self, site: Site, now: datetime) -> None:
        try:
            async with self._locks.setdefault(site.id, asyncio.Lock()):
                if self.fresh(site, now) is None:
                    await self._read(site, now)
        except Exception:  # the next request past the stale limit reads again and reports the failure
            log.warning("share: refreshing site %s failed", site.id, exc_info=True)
        finally:
            self._refreshing.pop(site.id, None)

    async def get(self, site: Site, now: datetime) -> Facts:
        facts = self.fresh(site, now)
        if facts is not None:
            return facts
        stale = self._usable(site, now, 2 * self.seconds)
        if stale is not None:
            if site.id not in self._refreshing:
                self._refreshing[site.id] = asyncio.get_running_loop().create_task(self._refresh(site, now))
            return stale
        async with self._locks.setdefault(site.id, asyncio.Lock()):
            return self.fresh(site, now) or await self._read(site, now)


# --- responses --------------------------------------------------------------------------------------


def links(site_id: str) -> dict[str, str]:
    base = f"/v1/public/sites/{site_id}"
    return {
        "now": f"{base}/now",
        "today": f"{base}/today",
        "forecast": f"{base}/forecast?days=7",
        "hours": f"{base}/hours?week=0",
        "embed": f"/embed/{site_id}",
    }


def site_out(site: Site) -> SiteOut:
    return SiteOut(id=site.id, name=site.name, timezone=site.timezone, capacity=site.capacity, links=links(site.id))


def _minute_of_day(site: Site, instant: datetime) -> tuple[int, int]:
    local = instant.astimezone(site.zone)
    return local.weekday(), local.hour * 60 + local.minute


def _usual_percent(site: Site, facts: Facts, instant: datetime) -> int | None:
    return levels.percent(facts.usual.at(*_minute_of_day(site, instant)), site.capacity)


def now_out(site: Site, facts: Facts, now: datetime) -> NowOut:
    state = hours.open_state(site, now)
    last = facts.last
    age = max(0, int((now - last.end).total_seconds())) if last else None
    fresh = age is not None and age <= site.quality.stale_minutes * 60
    occupancy = max(0, round(last.occupancy)) if last and fresh else None
    pct = levels.percent(occupancy, site.capacity)
    current = next((f for f in facts.forecasts if f.start <= now < f.start + timedelta(minutes=f.minutes)), None)
    wait = round(current.wait_minutes, 1) if state.open and current and current.wait_minutes is not None else None
    return NowOut(
        site=site.id,
        name=site.name,
        timezone=site.timezone,
        as_of=last.end if last else None,
        age_seconds=age,
        fresh=fresh,
        open=state.open,
        occupancy=occupancy,
        capacity=site.capacity,
        percent=pct,
        level=levels.level(is_open=state.open, fresh=fresh, percent_now=pct, thresholds=site.sharing.thresholds),
        wait_minutes=wait,
        usual_percent=_usual_percent(site, facts, now),
        next_change=NextChange(open=state.next_change[0], at=state.next_change[1]) if state.next_change else None,
        message=site.sharing.message,
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def half_hours(start: datetime, end: datetime) -> list[datetime]:
    """UTC starts of the half hours of [start, end): local half hours, as zone offsets are whole or half hours."""
    out, slot = [], start
    while slot < end:
        out.append(slot)
        slot += SLOT
    return out


def _forecast_in(slots: list[store.ForecastSlot], start: datetime) -> list[store.ForecastSlot]:
    return [f for f in slots if start <= f.start < start + SLOT]


def today_out(site: Site, facts: Facts) -> TodayOut:
    out = []
    cap = site.capacity
    for start in half_hours(facts.day_start, facts.day_end):
        seen = [occ for t, occ in facts.observed if start <= t < start + SLOT]
        ahead = _forecast_in(facts.forecasts, start)
        waits = [f.wait_minutes for f in ahead if f.wait_minutes is not None]
        out.append(
            TodaySlot(
                start=start,
                observed_percent=levels.percent(_mean(seen), cap),
                forecast_percent=levels.percent(_mean([f.median for f in ahead if f.median is not None]), cap),
                forecast_low=levels.percent(_mean([f.low for f in ahead if f.low is not None]), cap),
                forecast_high=levels.percent(_mean([f.high for f in ahead if f.high is not None]), cap),
                usual_percent=_usual_percent(site, facts, start),
                wait_minutes=round(max(waits), 1) if waits else None,
            )
        )
    return TodayOut(
        site=site.id, date=facts.day, timezone=site.timezone, as_of=facts.last.end if facts.last else None, slots=out
    )


def forecast_out(engine: Engine, site: Site, now: datetime, days: int) -> ForecastOut:
    """Half hours from the current one to the end of the local day `days - 1` days after today (the next
    two hours from the nowcast, as in `today`)."""
    _, _, today_end = local_day(site, now)
    end = local_day(site, today_end + timedelta(days=days - 1) - timedelta(seconds=1))[2]
    first = now - timedelta(minutes=now.minute % 30, seconds=now.second, microseconds=now.microsecond)
    slots = store.with_nowcast(
        store.forecasts(engine, site.id, first, end), store.nowcasts(engine, site.id, first, end)
    )
    cap = site.capacity
    out = []
    for start in half_hours(first, end):
        ahead = _forecast_in(slots, start)
        if not ahead:
            continue
        median = _mean([f.median for f in ahead if f.median is not None])
        waits = [f.wait_minutes for f in ahead if f.wait_minutes is not None]
        out.append(
            ForecastSlotOut(
                start=start,
                forecast_percent=levels.percent(median, cap),
                forecast_low=levels.percent(_mean([f.low for f in ahead if f.low is not None]), cap),
                forecast_high=levels.percent(_mean([f.high for f in ahead if f.high is not None]), cap),
                forecast_occupancy=round(median, 1) if median is not None else None,
                wait_minutes=round(max(waits), 1) if waits else None,
            )
        )
    return ForecastOut(site=site.id, days=days, slots=out)


def hours_out(site: Site, now: datetime, week: int) -> HoursOut:
    today = now.astimezone(site.zone).date()
    days = []
    for day in hours.week_hours(site, today, week):
        ranges = [OpenRange(open=a, close=b) for a, b in hours.open_ranges(site, day.day, day.day)]
        days.append(DayHoursOut(date=day.day, open=bool(ranges), ranges=ranges, note=day.note))
    return HoursOut(site=site.id, timezone=site.timezone, week=week, days=days)
