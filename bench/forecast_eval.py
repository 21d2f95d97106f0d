"""CalIt2 (UCI 156) through `footfall evaluate`: day-ahead and two-hours-ahead WAPE of the model vs the best baseline.

Usage: python bench/forecast_eval.py /path/to/calit2-building-people-counts [--keep DIR]

The data stay where they are: the script converts CalIt2.data (flow 7 = out, 9 = in, counts for the
previous half hour, local time America/Los_Angeles) to a counts CSV in a temporary folder, then runs
the real CLI for each horizon and checks the issue's targets.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("America/Los_Angeles")
TARGETS = {("1d", "occupancy"): 0.95, ("1d", "entries"): 0.97, ("2h", "occupancy"): 0.70}
BASELINES = ("persistence", "same_slot_yesterday", "same_slot_last_week", "median_4_weeks")


def convert(data_file: Path, out: Path) -> int:
    """CalIt2.data -> counts CSV (UTC interval starts; a row's time is the END of its half hour)."""
    slots: dict[datetime, dict[str, int]] = {}
    for line in data_file.read_text().splitlines():
        if not line.strip():
            continue
        flow, day, clock, count = line.strip().split(",")
        end_local = datetime.strptime(f"{day} {clock}", "%m/%d/%y %H:%M:%S").replace(tzinfo=ZONE)
        start = (end_local - timedelta(minutes=30)).astimezone(ZoneInfo("UTC"))
        slots.setdefault(start, {})["exits" if flow == "7" else "entries"] = int(count)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy"]
        )
        for start in sorted(slots):
            row = slots[start]
            stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow(["calit2", "main-door", stamp, 30, row.get("entries", ""), row.get("exits", ""), ""])
    return len(slots)


def run_evaluate(counts: Path, horizon: str) -> dict:
    command = [
        str(Path(sys.executable).with_name("footfall")),
        "evaluate",
        "--counts",
        str(counts),
        "--resolution",
        "30min",
        "--horizon",
        horizon,
        "--timezone",
        "America/Los_Angeles",
        "--country",
        "US",
        "--region",
        "CA",
    ]
    print("$", " ".join(command[1:]).replace(str(counts), "calit2_counts.csv"), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--keep", type=Path, help="write the counts CSV here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        counts = folder / "calit2_counts.csv"
        print(f"converted {convert(args.data_dir / 'CalIt2.data', counts)} half-hour slots")
        results, fields = {}, []
        for horizon in ("1d", "2h"):
            results[horizon] = run_evaluate(counts, horizon)
        ok = True
        for (horizon, measure), limit in TARGETS.items():
            block = results[horizon]["targets"][measure]
            methods = block["methods"]
            best = min(BASELINES, key=lambda name: methods[name]["wape"])
            ratio = methods["model"]["wape"] / methods[best]["wape"]
            reference = block["reference_in_sample_slot_mean"]["wape"] / methods[best]["wape"]
            passed = ratio <= limit
            ok &= passed
            print(
                f"{horizon} {measure:<9} model WAPE {methods['model']['wape']:.4f}, best baseline {best} "
                f"{methods[best]['wape']:.4f}: ratio {ratio:.3f} (target <= {limit}) {'PASS' if passed else 'FAIL'}; "
                f"peeking reference ratio {reference:.3f}"
            )
            fields.append(f"{horizon}_{measure}_ratio={ratio:.3f}")
        print("RESULT " + " ".join(fields) + f" all_targets_met={ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
