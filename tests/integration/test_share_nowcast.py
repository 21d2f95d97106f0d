"""After a live sync, the share API's `today` shows the 2-hour nowcast for the next two hours and the
day-ahead forecast beyond, on SQLite and PostgreSQL, on an ordinary day and on both Europe/Paris DST days.

The site is synced from the simulator through the real pipeline; its day-ahead forecast is written
through the warehouse layer as the retrain writes it (a flat 100 people, so today's level shows); the
nowcast rows are checked against the corrected occupancy in the warehouse by the documented rule, and
the API's half hours against the nowcast rows."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from footfall.api.app import create_app
from footfall.config import get_site
from footfall.forecast.nowcast import HALF_LIFE_MINUTES, LOOKBACK_MINUTES, RATIO_BOUNDS
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.forecasts import replace_site_forecast
from footfall_devtools.api_thread import ApiThread

STEP = timedelta(minutes=15)
ALWAYS = {"regular": {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
DAYS = {
    # now (UTC): an ordinary Friday afternoon; the spring-forward night (02:00 CET -> 03:00 CEST at 01:00Z);
    # the fall-back night (03:00 CEST -> 02:00 CET at 01:00Z). The nowcast's two hours cross each change.
    "friday": (datetime(2026, 11, 20, 15, 7, tzinfo=UTC), 48),
    "spring_forward": (datetime(2026, 3, 29, 0, 22, tzinfo=UTC), 46),
    "fall_back": (datetime(2026, 10, 25, 0, 22, tzinfo=UTC), 50),
}


def pct(value: float, capacity: int = 600) -> int:
    return max(0, min(100, round(100 * value / capacity)))


def flat_forecast(site_id: str, start: datetime, end: datetime, issued: datetime) -> list[dict]:
    rows, slot = [], start
    while slot < end:
        rows.append(
            {"site_id": site_id, "slot_start": slot, "slot_minutes": 15, "issued_at": issued, "model_version": 1,
             "method": "same_slot_last_week", "entries_p10": 5.0, "entries_p50": 10.0, "entries_p90": 15.0,
             "occupancy_p10": 80.0, "occupancy_p50": 100.0, "occupancy_p90": 130.0, "wait_minutes": 2.0}
        )  # fmt: skip
        slot += STEP
    return rows


@pytest.mark.parametrize("day", sorted(DAYS))
def test_today_shows_the_nowcast_for_the_next_two_hours(db_url, warehouse, registry, simulator, sim_clock, day):
    now, half_hours = DAYS[day]
    sim_clock.now = now
    registry.add_site("bib", capacity=600, opening_hours=ALWAYS, sharing={"public": True})
    engine = warehouse(db_url)
    site = get_site("bib")
    last_end = now.replace(minute=now.minute // 15 * 15, second=0)
    day_start = datetime.combine(now.astimezone(site.zone).date(), datetime.min.time(), tzinfo=site.zone)
    history = Window(day_start.astimezone(UTC) - timedelta(hours=6), last_end - STEP)
    sync_window(site, history, engine=engine, run_id="history", started=now)
    replace_site_forecast(engine, "bib", flat_forecast("bib", history.start, now + timedelta(days=1), now))
    live = Window(last_end - STEP, last_end)  # the live 5-minute run's window (lookback included)
    result = sync_window(site, live, engine=engine, run_id="live", started=now)
    assert "nowcast" in result.seconds

    n, o = schema.nowcast.c, schema.occupancy_corrected.c
    with engine.connect() as conn:
        nowcast = conn.execute(select(schema.nowcast).where(n.site_id == "bib").order_by(n.slot_start)).all()
        seen = conn.execute(
            select(o.interval_start, o.corrected_occupancy).where(o.site_id == "bib").order_by(o.interval_start)
        ).all()
    # Two hours of UTC slots after the last observed interval, whatever the local clock does.
    assert [r.slot_start for r in nowcast] == [last_end + i * STEP for i in range(8)]
    assert all(r.as_of == last_end and r.issued_at == now for r in nowcast)
    recent = [occ for start, occ in seen if start >= last_end - timedelta(minutes=LOOKBACK_MINUTES)]
    assert len(recent) == 4
    ratio = min(max((statistics.mean(recent) + 12) / (100 + 12), RATIO_BOUNDS[0]), RATIO_BOUNDS[1])
    for i, row in enumerate(nowcast):
        scale = 1 + (ratio - 1) * 0.5 ** ((i + 1) * 15 / HALF_LIFE_MINUTES)
        assert row.occupancy_p50 == pytest.approx(100 * scale, abs=1e-3)
        assert row.occupancy_p10 == pytest.approx(80 * scale, abs=1e-3)
        assert row.occupancy_p90 == pytest.approx(130 * scale, abs=1e-3)

    app = create_app(engine, only="share")
    app.state.share.clock = lambda: now
    app.state.share.facts.seconds = 0
    with ApiThread(app) as api:
        today = requests.get(f"{api.url}/v1/public/sites/bib/today", timeout=30).json()
        ahead = requests.get(f"{api.url}/v1/public/sites/bib/forecast?days=1", timeout=30).json()["slots"]
    # /forecast shows the same figures as /today for the half hours they share (the nowcast's included).
    in_today = {s["start"]: s for s in today["slots"]}
    assert ahead and all(
        (s["forecast_percent"], s["forecast_low"], s["forecast_high"]) ==
        (in_today[s["start"]]["forecast_percent"], in_today[s["start"]]["forecast_low"],
         in_today[s["start"]]["forecast_high"])
        for s in ahead if s["start"] in in_today
    )  # fmt: skip
    assert len(today["slots"]) == half_hours
    by_start = {r.slot_start: r for r in nowcast}
    from_nowcast = 0
    for slot in today["slots"]:
        start = datetime.fromisoformat(slot["start"])
        if start < history.start:
            continue  # before the forecast rows
        # Each 15-minute slot of the half hour: the nowcast's where it has one, else the forecast's 80/100/130.
        parts = [by_start.get(t) for t in (start, start + STEP)]
        want = [statistics.mean(getattr(r, f"occupancy_{q}") if r else d for r in parts)
                for q, d in (("p50", 100.0), ("p10", 80.0), ("p90", 130.0))]  # fmt: skip
        assert (slot["forecast_percent"], slot["forecast_low"], slot["forecast_high"]) == tuple(map(pct, want))
        from_nowcast += any(parts)
    assert from_nowcast == (4 if last_end.minute % 30 == 0 else 5)  # two hours: 4 half hours, or 5 begun
