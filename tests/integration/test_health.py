"""The Sites page's read model on SQLite and PostgreSQL, after real pipeline runs: today's numbers per site
counted from each site's own local midnight (two time zones), last run, flags, occupancy now; one site's day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.health import local_day_start, site_day, sites_health

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # the simulator's day; 16:00 in Paris, 10:00 in New York


def test_a_local_day_begins_at_local_midnight_on_dst_days():
    assert local_day_start("Europe/Paris", date(2026, 10, 25)) == datetime(2026, 10, 24, 22, tzinfo=UTC)
    assert local_day_start("Europe/Paris", date(2026, 10, 26)) == datetime(2026, 10, 25, 23, tzinfo=UTC)  # 25 h
    assert local_day_start("Europe/Paris", date(2026, 3, 29)) == datetime(2026, 3, 28, 23, tzinfo=UTC)


def entries_since(engine, site_id: str, start: datetime) -> int:
    ci = schema.count_interval
    with engine.connect() as conn:
        return conn.execute(
            select(func.coalesce(func.sum(ci.c.entries), 0)).where(
                ci.c.site_id == site_id, ci.c.interval_start >= start, ci.c.interval_start <= NOW
            )
        ).scalar()


def test_sites_health_after_real_runs(simulator, make_site, db_url, warehouse):
    engine = warehouse(db_url)
    paris = make_site("h-paris")
    york = make_site("h-york", timezone="America/New_York")
    tokyo = make_site("h-tokyo", timezone="Asia/Tokyo")  # its new day began at 15:00 UTC, just now
    # All loaded from 01:00 UTC (02:00 Paris, 20:00 the day before in New York, 10:00 in Tokyo) until now.
    for site in (paris, york, tokyo):
        sync_window(site, Window(datetime(2026, 11, 20, 1, tzinfo=UTC), NOW), engine=engine, run_id=f"run__{site.id}")

    rows = {h.site_id: h for h in sites_health(engine, NOW)}

    assert set(rows) == {"h-paris", "h-york", "h-tokyo"}
    p, y = rows["h-paris"], rows["h-york"]
    assert p.entries_today == entries_since(engine, "h-paris", datetime(2026, 11, 19, 23, tzinfo=UTC)) > 0
    assert y.entries_today == entries_since(engine, "h-york", datetime(2026, 11, 20, 5, tzinfo=UTC)) > 0
    loaded = entries_since(engine, "h-tokyo", datetime(2026, 11, 20, 1, tzinfo=UTC))
    assert rows["h-tokyo"].entries_today == entries_since(engine, "h-tokyo", datetime(2026, 11, 20, 15, tzinfo=UTC))
    assert rows["h-tokyo"].entries_today < loaded  # what came before Tokyo's midnight was yesterday
    assert p.last_run_outcome == "success" and p.last_run_id == "run__h-paris"
    assert p.last_interval_start is not None and NOW - timedelta(hours=1) <= p.last_interval_start < NOW
    oc = schema.occupancy_corrected
    with engine.connect() as conn:
        latest = conn.execute(
            select(oc.c.corrected_occupancy)
            .where(oc.c.site_id == "h-paris", oc.c.interval_start <= NOW)
            .order_by(oc.c.interval_start.desc())
            .limit(1)
        ).scalar()
    assert p.occupancy_now == latest
    assert set(p.flags) == {"high", "medium", "low"}

    day = site_day(engine, "h-paris", date(2026, 11, 20), NOW)
    assert day.start == datetime(2026, 11, 19, 23, tzinfo=UTC) and day.end == datetime(2026, 11, 20, 23, tzinfo=UTC)
    assert sum(r["entries"] for r in day.intervals) == entries_since(engine, "h-paris", day.start)
    assert day.occupancy and day.payloads and day.runs[0]["run_id"] == "run__h-paris"
    assert site_day(engine, "nowhere", None, NOW) is None
