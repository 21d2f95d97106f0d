"""The fault suite's figures: every scenario of tests/reliability run for real, one table.

    .venv/bin/python bench/reliability.py [--scale N] [--only EXPR] [--pg-url URL]

Runs `pytest tests/reliability` in a child process with FOOTFALL_RELIABILITY_LOG set: each
scenario test appends what it injected and found (faults, requests and inputs tried, 5xx seen,
rows lost, rows doubled, windows half-loaded, seconds) and this script prints them as a table.
`--scale N` multiplies the work of the scenarios that have a size (batches per connector, live and
backfill windows): `make reliability` runs scale 1, plus the long scenarios that `make test` leaves
out (real Airflow losing a task process and its scheduler: minutes of Airflow's own retry delays);
a soak is `--scale 10`.
The floor, measured in the same run, is the suite's fixed cost: the same pytest collecting the
scenarios and running none (imports, fixtures' modules); the wall ratio is against it.
Exit status 1 when a test failed or any loss, double, half-loaded window or 5xx was seen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import children_peak_rss_mb, fmt, result_line

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "tests" / "reliability"
COLUMNS = ("faults", "tried", "server_errors", "lost", "doubled", "half_loaded")
HEADERS = ("faults", "tried", "5xx", "lost", "doubled", "half-loaded", "s")


def pytest_run(args: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SUITE), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    return done.returncode, time.perf_counter() - started, done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1, help="work per scenario (default 1; a soak: 10)")
    parser.add_argument("--only", help="pytest -k expression: run some scenarios")
    parser.add_argument("--pg-url", default=os.environ.get("FOOTFALL_TEST_PG_URL"), help="PostgreSQL admin URL")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="footfall-reliability-") as folder:
        log = Path(folder) / "figures.jsonl"
        env = {
            **os.environ,
            "FOOTFALL_RELIABILITY_LOG": str(log),
            "FOOTFALL_RELIABILITY_SCALE": str(args.scale),
        }
        if args.pg_url:
            env["FOOTFALL_TEST_PG_URL"] = args.pg_url
        selection = ["-k", args.only] if args.only else []
        _, floor, _ = pytest_run(["--collect-only", *selection], env)
        code, wall, output = pytest_run(selection, env)
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    summary = output.strip().splitlines()[-1] if output.strip() else "no output"
    width = max([len("scenario"), *(len(r["scenario"]) for r in lines)]) if lines else 20
    print(f"footfall fault suite, scale {args.scale} (tests/reliability; a shared 2-core box, times under load)")
    print()
    print(f"{'scenario':<{width}}  " + "  ".join(f"{h:>11}" for h in HEADERS))
    totals = dict.fromkeys(COLUMNS, 0)
    for row in lines:
        cells = [fmt(int(row.get(c, 0))) for c in COLUMNS] + [fmt(row.get("seconds"))]
        print(f"{row['scenario']:<{width}}  " + "  ".join(f"{c:>11}" for c in cells))
        for c in COLUMNS:
            totals[c] += int(row.get(c, 0))
    print(f"{'all':<{width}}  " + "  ".join(f"{fmt(totals[c]):>11}" for c in COLUMNS) + f"  {fmt(wall):>11}")
    print()
    print(f"pytest: {summary}")
    print(f"wall {wall:.1f} s; floor (collect only, same run) {floor:.1f} s; ratio {wall / floor:.1f}")
    if code != 0:
        print(output[-4000:])
    bad = totals["server_errors"] + totals["lost"] + totals["doubled"] + totals["half_loaded"]
    print(
        result_line(
            {
                "scale": args.scale,
                "scenarios": len(lines),
                "faults_injected": totals["faults"],
                "tried": totals["tried"],
                "server_errors": totals["server_errors"],
                "rows_lost": totals["lost"],
                "rows_doubled": totals["doubled"],
                "windows_half_loaded": totals["half_loaded"],
                "tests_ok": code == 0,
                "wall_s": wall,
                "floor_s": floor,
                "ratio": wall / floor if floor else None,
                "peak_rss_mb": children_peak_rss_mb(),
            }
        )
    )
    return 0 if code == 0 and bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
