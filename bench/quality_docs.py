"""What Data Docs cost: storing each run's full GX result (paid by every live run) against the GX
validation itself (the floor, same run, same batches), and building the site (paid daily).

Usage: .venv/bin/python bench/quality_docs.py [--batches 40] [--sites 6] [--runs 24]

1. Validates --batches live-sized batches (one site, two 5-minute counters, the last 24 hours, as
   a site run validates after its lookback) with footfall.validate, timing each; then serializes
   each result as `quality_run.gx_result` does (footfall.quality.docs.validation_blob), timing each.
2. Stores --sites x --runs such results in a temporary SQLite warehouse and builds the Data Docs
   site from it (footfall.quality.docs.build_docs), timing the build.

Prints per-run milliseconds of both, their ratio (blob / validate), the blob size and the build
time; last line `RESULT validate_ms=... blob_ms=... ratio=... blob_bytes=... build_s=... peak_rss_mb=...`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import fmt, peak_rss_mb, result_line

END = datetime(2026, 11, 20, 15, tzinfo=UTC)


def batch(hours: int = 24):
    import numpy as np
    import pandas as pd

    starts = pd.date_range(END - timedelta(hours=hours), END, freq="5min", inclusive="left")
    n = len(starts)
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "site_id": "bench",
            "counter_id": np.repeat(["a", "b"], n),
            "interval_start": np.tile(starts, 2),
            "interval_minutes": 5,
            "entries": rng.poisson(4, 2 * n),
            "exits": rng.poisson(4, 2 * n),
            "occupancy": pd.array([None] * (2 * n), dtype="Int64"),
            "ambiguous_time": False,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--sites", type=int, default=6)
    parser.add_argument("--runs", type=int, default=24)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
    from footfall.quality.docs import build_docs, validation_blob
    from footfall.timewindow import Window
    from footfall.validate import validate_counts
    from footfall.warehouse import schema
    from footfall.warehouse.engine import get_engine, upgrade

    rows = batch()
    window = Window(END - timedelta(hours=24), END)
    validate_counts(rows, window)  # warm: context, suite, first-call caches
    validate_ms, blob_ms, blobs = [], [], []
    for _ in range(args.batches):
        t0 = time.perf_counter()
        report = validate_counts(rows, window)
        t1 = time.perf_counter()
        blob = validation_blob(report)
        t2 = time.perf_counter()
        validate_ms.append((t1 - t0) * 1000)
        blob_ms.append((t2 - t1) * 1000)
        blobs.append(blob)
    v, b = statistics.median(validate_ms), statistics.median(blob_ms)
    size = statistics.median(len(x) for x in blobs)
    print(f"per run: validate {v:.1f} ms, store the result {b:.2f} ms ({b / v:.1%}), {size:.0f} bytes gzip JSON")

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'warehouse.db'}"
        upgrade(url)
        engine = get_engine(url)
        records = [
            {
                "site_id": f"site-{s}",
                "checked_start": END - timedelta(days=1),
                "checked_end": END - timedelta(minutes=5 * r),
                "run_id": f"scheduled__{r}",
                "gx_success": True,
                "flags": 0,
                "finished_at": END - timedelta(minutes=5 * r),
                "gx_result": blobs[(s * args.runs + r) % len(blobs)],
            }
            for s in range(args.sites)
            for r in range(args.runs)
        ]
        with engine.begin() as conn:
            conn.execute(schema.quality_run.insert(), records)
        t0 = time.perf_counter()
        built = build_docs(engine, Path(tmp) / "docs", per_site=args.runs)
        build_s = time.perf_counter() - t0
        pages = len(list((Path(tmp) / "docs" / "validations").rglob("*.html")))
        engine.dispose()
    print(f"build: {built.validations} validations of {len(built.sites)} sites, {pages} pages in {build_s:.1f} s")
    print(
        result_line(
            {
                "validate_ms": fmt(v, 1),
                "blob_ms": fmt(b, 2),
                "ratio": fmt(b / v, 3),
                "blob_bytes": int(size),
                "build_s": fmt(build_s, 2),
                "validations": built.validations,
                "peak_rss_mb": fmt(peak_rss_mb(), 0),
            }
        )
    )


if __name__ == "__main__":
    main()
