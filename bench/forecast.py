"""Training benchmark: retrain the global forecast model on 100 sites x 1 year of 15-minute counts.

Usage: python bench/forecast.py [--sites 100] [--days 365]

The histories come from the simulator (deterministic, realistic traffic; occupancy derived with a
daily reset), held in memory; the retrain is the DAG's own `retrain` (features, day-ahead backtest
against the baselines, quantile models for 7 days, promotion, publishing into a temporary SQLite
warehouse). The floor, measured in the same run on the same rows, is one LightGBM median fit:
the ratio says how many "plain model fits" the whole retrain costs. Targets: under 300 s, under
4 GiB peak memory. The last line is `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psutil

from footfall.config import Site
from footfall.forecast import model as forecast_model
from footfall.forecast.publish import MEASURES, RETRAIN_PARAMS, RETRAIN_ROUNDS, retrain, site_plan, training_set
from footfall.forecast.series import derive_occupancy
from footfall.warehouse.engine import get_engine, upgrade
from footfall_simulator.traffic import DeviceProfile, count_arrays

ZONES = ("Europe/Paris", "Europe/Berlin", "America/Los_Angeles", "Europe/London")
COUNTRIES = {"Europe/Paris": "FR", "Europe/Berlin": "DE", "America/Los_Angeles": "US", "Europe/London": "GB"}
TIME_LIMIT_S, MEMORY_LIMIT_MB = 300.0, 4096.0


class PeakMemory:
    """Samples this process's RSS every 50 ms in a thread (ru_maxrss also covers the data generation)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_site(number: int) -> Site:
    zone = ZONES[number % len(ZONES)]
    return Site.model_validate(
        {
            "id": f"bench-{number:03d}",
            "name": f"Bench site {number}",
            "timezone": zone,
            "country": COUNTRIES[zone],
            "capacity": 150 + 10 * (number % 30) if number % 2 == 0 else None,
            "counters": [{"id": "main", "ref": f"BENCH{number:05d}"}],
            "source": {"kind": "http_json", "preset": "axis_tvpc_export_json", "connection_id": "bench"},
        }
    )


def history(site: Site, start: datetime, end: datetime) -> pd.DataFrame:
    arrays = count_arrays(DeviceProfile(ref=site.counters[0].ref, timezone=site.timezone), start, end, 15, seed=42)
    index = pd.DatetimeIndex(pd.to_datetime(arrays.start_epoch, unit="s", utc=True)).as_unit("ns")
    grid = pd.date_range(index[0], index[-1], freq="15min", unit="ns", name="interval_start")
    frame = pd.DataFrame({"entries": arrays.entries, "exits": arrays.exits}, index=index, dtype=float).reindex(grid)
    frame["occupancy"] = derive_occupancy(frame, site.timezone, reset_hour=4)
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()

    now = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
    start = now - timedelta(days=args.days)
    began = time.perf_counter()
    sites = [bench_site(n) for n in range(args.sites)]
    histories = {site.id: (site, history(site, start, now)) for site in sites}
    rows = sum(len(h) for _, h in histories.values())
    generate_s = time.perf_counter() - began
    print(f"generated {args.sites} sites x {args.days} days: {rows:,} slots in {generate_s:.1f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'warehouse.db'}"
        upgrade(url)
        engine = get_engine(url)
        with PeakMemory() as memory:
            began = time.perf_counter()
            result = retrain(engine, histories, now, run_id="bench")
            retrain_s = time.perf_counter() - began
        # Floor: one LightGBM median fit on the same kind of rows, same run.
        plans = [site_plan(site, frame, now) for site, frame in histories.values()]
        features, target, _ = training_set(plans, MEASURES[0], {p.site.id: p.first_future for p in plans}, days=8)
        began = time.perf_counter()
        forecast_model.fit(
            features, target, MEASURES[0], quantiles=(0.5,), rounds=RETRAIN_ROUNDS, params=RETRAIN_PARAMS
        )
        floor_s = time.perf_counter() - began

    peak_mb = max(memory.peak / 2**20, 0.0)
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"retrain: {retrain_s:.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in result.timings.items())})")
    print(f"decision: {result.method} (promoted={result.promoted}): {result.reason}")
    for measure, scores in result.metrics.items():
        line = ", ".join(f"{name} {s['wape']:.4f}" for name, s in scores.items())
        print(f"day-ahead WAPE {measure}: {line}")
    print(f"floor (one LightGBM median fit, {len(target):,} rows): {floor_s:.1f} s")
    print(f"peak RSS during retrain {peak_mb:.0f} MiB, process max RSS {max_rss_mb:.0f} MiB")
    ok = retrain_s < TIME_LIMIT_S and max(peak_mb, max_rss_mb) < MEMORY_LIMIT_MB
    print(
        f"RESULT sites={args.sites} days={args.days} slots={rows} retrain_s={retrain_s:.1f} floor_s={floor_s:.1f} "
        f"ratio_vs_floor={retrain_s / floor_s:.1f} training_rows={result.training_rows} "
        f"forecast_rows={result.forecast_rows} peak_rss_mb={peak_mb:.0f} max_rss_mb={max_rss_mb:.0f} "
        f"time_limit_s={TIME_LIMIT_S:.0f} memory_limit_mb={MEMORY_LIMIT_MB:.0f} within_targets={ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
