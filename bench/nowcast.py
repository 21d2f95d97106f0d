"""What the 2-hour nowcast adds to a live site-run: the sync with it beside the same sync without it.

Usage: nice .venv/bin/python bench/nowcast.py [--sites 4] [--runs 12] [--db-url URL]

N simulated sites (Axis counters served by `footfall-simulator serve` in its own process, open all
day) get today's history and a published day-ahead forecast (written through the warehouse layer as
the retrain writes it). Then K live 5-minute windows per site, the last K before now, each run twice
through `footfall.pipeline.sync_window` with the run's clock two minutes after the window: once as
the product runs (the nowcast published after the checks), once with the lifecycle's nowcast step
replaced by a no-op (the floor), in alternating order so that load drifts hit both alike. Re-running
a window replaces it (idempotent), so both runs do the same work apart from the nowcast.

Reports the median and p95 wall ms of a sync with and without, the nowcast step's own time (the
lifecycle's `seconds["nowcast"]`, wall, and its CPU time in this process), their difference and
ratio, the load average, and peak RSS. Last line `RESULT ...`.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import axis_site_yaml, fmt, peak_rss_mb, result_line, start_simulator, stop_process, temp_postgres_database

STEP = timedelta(minutes=5)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--runs", type=int, default=12, help="live 5-minute windows per site (default 12)")
    parser.add_argument("--db-url", help="PostgreSQL server URL (a temporary database is made); default SQLite")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)

    from footfall import lifecycle
    from footfall.config import get_site
    from footfall.pipeline import sync_window, warm_up
    from footfall.timewindow import Window, floor_time
    from footfall.warehouse.engine import get_engine, upgrade
    from footfall.warehouse.forecasts import replace_site_forecast, site_nowcast
    from footfall_devtools.local_airflow import free_port

    now = floor_time(datetime.now(UTC), 5)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="footfall-nowcast-")))
        sites_dir = tmp / "sites"
        sites_dir.mkdir()
        ids = [f"nowcast-{i:02d}" for i in range(args.sites)]
        for i, sid in enumerate(ids):
            refs = [f"NOWC{i:03d}{c:02d}" for c in range(1 + i % 2)]
            yaml = axis_site_yaml(sid, f"Nowcast {i}", refs, res="5m", capacity=300, hours="00:00-24:00")
            (sites_dir / f"{sid}.yaml").write_text(yaml, encoding="utf-8")
        port = free_port()
        stack.callback(stop_process, start_simulator(port, sites_dir))
        os.environ["AIRFLOW_CONN_FOOTFALL_SIM"] = f"http://127.0.0.1:{port}"
        os.environ["FOOTFALL_SITES_DIR"] = str(sites_dir)
        url = stack.enter_context(temp_postgres_database(args.db_url, "nowcast")) if args.db_url else None
        url = url or f"sqlite:///{tmp / 'warehouse.db'}"
        upgrade(url)
        engine = get_engine(url)
        stack.callback(engine.dispose)
        warm_up()

        first_live = now - args.runs * STEP
        for sid in ids:
            site = get_site(sid)
            sync_window(site, Window(first_live - timedelta(hours=6), first_live), engine=engine, run_id="history")
            rows, slot = [], floor_time(first_live - timedelta(hours=6), 15)
            while slot < now + timedelta(days=1):
                rows.append(
                    {"site_id": sid, "slot_start": slot, "slot_minutes": 15, "issued_at": now, "model_version": 1,
                     "method": "same_slot_last_week", "entries_p10": 3.0, "entries_p50": 6.0, "entries_p90": 9.0,
                     "occupancy_p10": 40.0, "occupancy_p50": 60.0, "occupancy_p90": 90.0, "wait_minutes": 0.0}
                )  # fmt: skip
                slot += timedelta(minutes=15)
            replace_site_forecast(engine, sid, rows)

        publish = lifecycle._nowcast  # the bench swaps the one step it measures
        step_cpu_ms: list[float] = []

        def timed(*a: Any, **kw: Any) -> None:
            c0 = time.process_time()
            publish(*a, **kw)
            step_cpu_ms.append(1000 * (time.process_time() - c0))

        with_ms: list[float] = []
        without_ms: list[float] = []
        step_ms: list[float] = []
        failures = 0
        for k in range(args.runs):
            window = Window(first_live + k * STEP, first_live + (k + 1) * STEP)
            for n, sid in enumerate(ids):
                site = get_site(sid)
                for on in (True, False) if (k + n) % 2 == 0 else (False, True):
                    lifecycle._nowcast = timed if on else (lambda *a, **kw: None)  # type: ignore[assignment]
                    t0 = time.perf_counter()
                    try:
                        result = sync_window(
                            site, window, engine=engine, run_id=f"live_{k}", started=window.end + timedelta(minutes=2)
                        )
                    except Exception:
                        failures += 1
                        continue
                    (with_ms if on else without_ms).append(1000 * (time.perf_counter() - t0))
                    if on:
                        step_ms.append(1000 * result.seconds.get("nowcast", 0.0))
        lifecycle._nowcast = publish
        published = sum(len(site_nowcast(engine, sid)) for sid in ids)
        backend = engine.dialect.name

    med_with, med_without = statistics.median(with_ms), statistics.median(without_ms)
    rows_out = [
        ("sync with nowcast", fmt(med_with), fmt(p95(with_ms)), len(with_ms)),
        ("sync without (floor)", fmt(med_without), fmt(p95(without_ms)), len(without_ms)),
        ("nowcast step alone", fmt(statistics.median(step_ms), 2), fmt(p95(step_ms), 2), len(step_ms)),
        ("nowcast step CPU", fmt(statistics.median(step_cpu_ms), 2), fmt(p95(step_cpu_ms), 2), len(step_cpu_ms)),
    ]
    print(f"nowcast bench: {args.sites} sites x {args.runs} live windows, {backend}, load {os.getloadavg()[0]:.1f}")
    print(f"{'':24} {'median ms':>10} {'p95 ms':>10} {'runs':>6}")
    for name, median, high, count in rows_out:
        print(f"{name:24} {median:>10} {high:>10} {count:>6}")
    print(f"nowcast slots published at the end: {published} ({args.sites} sites x 8 or 9); failures {failures}")
    print(
        result_line(
            {
                "backend": backend,
                "sites": args.sites,
                "runs": args.runs,
                "sync_ms_with": med_with,
                "sync_ms_without": med_without,
                "nowcast_step_ms": statistics.median(step_ms),
                "nowcast_step_p95_ms": p95(step_ms),
                "nowcast_step_cpu_ms": statistics.median(step_cpu_ms),
                "load_avg": os.getloadavg()[0],
                "added_ms": med_with - med_without,
                "ratio": med_with / med_without,
                "published_slots": published,
                "failures": failures,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
