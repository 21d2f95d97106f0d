"""What a live 5-minute site-run costs with the discrepancy checks on every run, and at their cadence.

Usage: .venv/bin/python bench/check_cadence.py [--days 28] [--runs 24] [--pg URL]

One simulated Axis site (two 5-minute doors, open all day) with --days days of history synced
through the pipeline into a temporary PostgreSQL warehouse; then --runs consecutive live 5-minute
windows (`scheduled__` run ids, as Airflow's) through `footfall.pipeline.sync_window`, twice over the
same windows: every run checked in full (the floor: what every run did before footfall.cadence), and
each run as footfall.cadence decides (the site's slot checks in full once an hour, the others
refresh the day's corrected occupancy only). CPU seconds (process_time) per site-run of each, and
their ratio. The simulator runs in its own process.

Prints a table and, last, one `RESULT key=value ...` line. Loopback only.
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

from _common import axis_site_yaml, peak_rss_mb, result_line, start_simulator, temp_postgres_database

STEP = timedelta(minutes=5)
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--pg", default=os.environ.get("FOOTFALL_TEST_PG_URL", PG_DEFAULT))
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    from footfall_devtools.local_airflow import free_port

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="footfall-cadence-") as tmp:
        sites = Path(tmp) / "sites"
        sites.mkdir()
        refs = ["ACCC8E000101", "ACCC8E000102"]
        text = axis_site_yaml("cadence-0", "Cadence", refs, res="5m", capacity=400, hours="00:00-24:00")
        (sites / "cadence-0.yaml").write_text(text, encoding="utf-8")
        port = free_port()
        sim = start_simulator(port, sites)
        stack.callback(sim.terminate)
        url = stack.enter_context(temp_postgres_database(args.pg, "cadence"))
        os.environ.update(
            FOOTFALL_SITES_DIR=str(sites),
            FOOTFALL_DB_URL=url,
            FOOTFALL_DATA_DIR=str(Path(tmp) / "data"),
            AIRFLOW_CONN_FOOTFALL_SIM=f"http://127.0.0.1:{port}",
        )
        from footfall.cadence import full_checks_due
        from footfall.config import get_site
        from footfall.pipeline import sync_window, warm_up
        from footfall.timewindow import Window, load_window
        from footfall.warehouse.engine import get_engine, upgrade

        upgrade(url)
        warm_up()
        engine = get_engine(url)
        stack.callback(engine.dispose)
        site = get_site("cadence-0")
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        live_end = now - timedelta(minutes=now.minute % 5)
        live_start = live_end - args.runs * STEP
        t = live_start - timedelta(days=args.days)
        t0 = time.perf_counter()
        while t < live_start:
            nxt = min(t + timedelta(days=1), live_start)
            sync_window(site, Window(t, nxt), engine=engine, run_id=f"history_{t:%Y%m%d}")
            t = nxt
        print(f"history: {args.days} days synced in {time.perf_counter() - t0:.0f} s", flush=True)
        windows = [Window(live_start + i * STEP, live_start + (i + 1) * STEP) for i in range(args.runs)]

        def measure(every_run: bool) -> tuple[list[float], int]:
            cpu, full = [], 0
            for w in windows:
                run_id = f"scheduled__{w.start.isoformat()}"
                checks = every_run or full_checks_due(site, w, run_id)
                full += checks
                c0 = time.process_time()
                sync_window(site, load_window(w.start, w.end, 30), engine=engine, run_id=run_id, full_checks=checks)
                cpu.append(time.process_time() - c0)
            return cpu, full

        measure(True)  # warm: the windows' payloads landed once, caches filled
        floor, floor_full = measure(True)
        cadence, cadence_full = measure(False)

    mean_floor, mean_cadence = statistics.fmean(floor), statistics.fmean(cadence)
    print(f"{'mode':22} {'runs':>5} {'full checks':>11} {'CPU/run ms mean':>16} {'median':>7}")
    for label, cpu, full in (("checks on every run", floor, floor_full), ("checks at cadence", cadence, cadence_full)):
        print(
            f"{label:22} {len(cpu):>5} {full:>11} {1000 * statistics.fmean(cpu):>16.1f}"
            f" {1000 * statistics.median(cpu):>7.1f}"
        )
    values = {
        "days": args.days,
        "runs": args.runs,
        "every_run_cpu_ms": round(1000 * mean_floor, 1),
        "cadence_cpu_ms": round(1000 * mean_cadence, 1),
        "ratio_vs_every_run": round(mean_cadence / mean_floor, 2),
        "full_checks_at_cadence": cadence_full,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    print(result_line(values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
