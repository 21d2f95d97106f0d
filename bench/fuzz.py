"""Hostile input at scale: the fuzz suite (tests/fuzz) with thousands of examples, and its figures.

Runs the hypothesis fuzz of every decoder and preset and schemathesis over the service's OpenAPI
document with FOOTFALL_FUZZ_EXAMPLES examples per test (per decoder, preset and API operation), fresh
random inputs each run (FOOTFALL_FUZZ_RANDOM), and reports the requests sent by status, the 5xx seen
and the tests that failed. Last line: `RESULT key=value ...`.

    .venv/bin/python bench/fuzz.py [--examples 400]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from _common import result_line  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400, help="examples per decoder, preset and API operation")
    args = parser.parse_args()
    report = Path(tempfile.mkstemp(suffix=".json")[1])
    env = {**os.environ, "FOOTFALL_FUZZ_EXAMPLES": str(args.examples), "FOOTFALL_FUZZ_RANDOM": "1",
           "FOOTFALL_FUZZ_REPORT": str(report)}  # fmt: skip
    began = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "tests" / "fuzz")],
                         env=env, capture_output=True, text=True, cwd=REPO, check=False)  # fmt: skip
    wall = time.monotonic() - began
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", summary)) else 0
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", summary)) else 0
    statuses = json.loads(report.read_text() or "{}") if report.stat().st_size else {}
    report.unlink()
    requests_sent = sum(statuses.values())
    server_errors = sum(n for s, n in statuses.items() if s.startswith("5"))
    print(f"fuzz suite, {args.examples} examples per test: {summary}")
    print(f"{'status':>8} {'requests':>9}")
    for status in sorted(statuses):
        print(f"{status:>8} {statuses[status]:9d}")
    if failed:
        print(run.stdout[-4000:])
    print(
        result_line(
            {
                "examples_per_test": args.examples,
                "tests_passed": passed,
                "tests_failed": failed,
                "api_requests": requests_sent,
                "api_5xx": server_errors,
                "wall_s": round(wall, 1),
            }
        )
    )
    return 0 if failed == 0 and server_errors == 0 and run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
