"""What the Sites page costs at 1,000 sites: footfall.warehouse.health on PostgreSQL, against a bare scan.

Usage: .venv/bin/python bench/ui_health.py [--sites 1000] [--days 3] [--repeat 5] [--pg URL]

Fills a temporary PostgreSQL warehouse (migrated by Alembic) with --sites sites of two 5-minute
counters over --days days up to now (count_interval, a sync_run per 5 minutes today, corrected
occupancy, a few flags, a forecast), with INSERT ... SELECT generate_series. Then times, --repeat
times each, the floor (one GROUP BY over today's count_interval rows: the least any page showing
today's totals must read) and `sites_health` (the Sites page's one statement), and one site's day
(`site_day`, the site page). Last line `RESULT sites=... rows=... floor_ms=... sites_health_ms=...
ratio=... site_day_ms=... peak_rss_mb=...`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import fmt, peak_rss_mb, result_line, temp_postgres_database

FILL = [
    """INSERT INTO site (site_id, name, timezone, capacity, source_kind, preset, updated_at)
       SELECT 's' || lpad(i::text, 4, '0'), 'Site ' || i,
              (ARRAY['Europe/Paris', 'America/New_York', 'Asia/Tokyo'])[1 + i % 3], 300, 'http_json',
              'axis_tvpc_export_json', now()
       FROM generate_series(1, :n) AS i""",
    """INSERT INTO counter (site_id, counter_id, ref, direction)
       SELECT site_id, c, site_id || c, 'normal' FROM site CROSS JOIN (VALUES ('door-1'), ('door-2')) AS d(c)""",
    """INSERT INTO raw_payload (site_id, source, received_at, body, body_bytes, sha256)
       SELECT site_id, 'http_json:axis_tvpc_export_json', now(), '\\x00'::bytea, 1, md5(site_id) FROM site""",
    """INSERT INTO count_interval (site_id, counter_id, interval_start, interval_minutes, entries, exits,
                                   payload_id, loaded_at)
       SELECT p.site_id, c.counter_id, t, 5, (random() * 10)::int, (random() * 10)::int, p.payload_id, t
       FROM raw_payload p CROSS JOIN (VALUES ('door-1'), ('door-2')) AS c(counter_id)
       CROSS JOIN generate_series(:start, :end, interval '5 minutes') AS t""",
    """INSERT INTO sync_run (site_id, window_start, window_end, run_id, started_at, finished_at, rows_read,
                             rows_loaded, outcome)
       SELECT site_id, t, t + interval '5 minutes', 'scheduled__' || t, t, t, 4, 2, 'success'
       FROM site CROSS JOIN generate_series(:today, :end, interval '5 minutes') AS t""",
    """INSERT INTO occupancy_corrected (site_id, interval_start, local_date, raw_net_occupancy,
                                        corrected_occupancy, correction_factor)
       SELECT site_id, t, t::date, 10, 12, CASE WHEN t < :today THEN 1.02 END
       FROM site CROSS JOIN generate_series(:start, :end, interval '5 minutes') AS t""",
    """INSERT INTO quality_flag (site_id, check_name, severity, period_start, period_end, created_at)
       SELECT site_id, 'door_imbalance', (ARRAY['high', 'medium', 'low'])[1 + length(site_id) % 3],
              :today, :end, now()
       FROM site WHERE right(site_id, 1) IN ('1', '5')""",
    """INSERT INTO forecast (site_id, slot_start, slot_minutes, issued_at, model_version, method, occupancy_p10,
                             occupancy_p50, occupancy_p90)
       SELECT site_id, t, 15, :today, 1, 'model', 5, 10, 15
       FROM site CROSS JOIN generate_series(:today, :end + interval '1 day', interval '15 minutes') AS t""",
]


def timed(fn, repeat: int) -> float:
    """Median milliseconds of `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--pg", default=os.environ.get("FOOTFALL_TEST_PG_URL", "postgresql://postgres@127.0.0.1/postgres")
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
    from sqlalchemy import func, select, text

    from footfall.warehouse import schema
    from footfall.warehouse.engine import get_engine, upgrade
    from footfall.warehouse.health import local_day_start, site_day, sites_health, today_in

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    end = now - timedelta(minutes=now.minute % 5 + 5)
    today = local_day_start("Asia/Tokyo", today_in("Asia/Tokyo", now))  # the earliest of the three zones' days
    start = today - timedelta(days=args.days - 1)
    with temp_postgres_database(args.pg, "ui_health") as url:
        upgrade(url)
        engine = get_engine(url)
        began = time.perf_counter()
        with engine.begin() as conn:
            for statement in FILL:
                conn.execute(text(statement), {"n": args.sites, "start": start, "end": end, "today": today})
            conn.execute(text("ANALYZE"))
            rows = conn.execute(select(func.count()).select_from(schema.count_interval)).scalar()
        print(f"filled {args.sites} sites, {rows} count rows in {time.perf_counter() - began:.1f} s")

        ci = schema.count_interval
        floor_query = (
            select(ci.c.site_id, func.sum(ci.c.entries), func.max(ci.c.interval_start))
            .where(ci.c.interval_start >= today)
            .group_by(ci.c.site_id)
        )

        def floor() -> None:
            with engine.connect() as conn:
                conn.execute(floor_query).all()

        zones = ["America/New_York", "Asia/Tokyo", "Europe/Paris"]
        floor_ms = timed(floor, args.repeat)
        health_ms = timed(lambda: sites_health(engine, now, zones), args.repeat)
        day_ms = timed(lambda: site_day(engine, "s0001", None, now), args.repeat)
        shown = sites_health(engine, now, zones)
        assert len(shown) == args.sites and all(h.entries_today > 0 for h in shown)
        engine.dispose()
    print(f"floor (GROUP BY today's rows)  {fmt(floor_ms)} ms")
    print(f"sites_health ({args.sites} sites)  {fmt(health_ms)} ms  ({health_ms / floor_ms:.2f}x the floor)")
    print(f"site_day (one site)            {fmt(day_ms)} ms")
    print(
        result_line(
            {
                "sites": args.sites,
                "rows": rows,
                "floor_ms": fmt(floor_ms),
                "sites_health_ms": fmt(health_ms),
                "ratio": f"{health_ms / floor_ms:.2f}",
                "site_day_ms": fmt(day_ms),
                "peak_rss_mb": fmt(peak_rss_mb()),
            }
        )
    )


if __name__ == "__main__":
    main()
