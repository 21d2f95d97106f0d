"""Every real dataset through `footfall evaluate`: day-ahead and two-hours-ahead WAPE of the model vs each baseline.

Usage: python bench/forecast_eval.py [SHARED_DIR] [--only NAME ...] [--keep DIR]

SHARED_DIR is the shared reference folder (default: FOOTFALL_SHARED_DIR, else `../shared` beside the
repo); for compatibility, a CalIt2 folder itself is also accepted. The data stay where they are: each
dataset is read by its footfall reader (CalIt2 by footfall_devtools.calit2; the others by the export
readers of `footfall.imports.exports`), written as a counts CSV in a temporary folder, then the real CLI
runs for each horizon. One table per dataset, then the issue's targets:
day-ahead occupancy <= 0.95x the best baseline, 2 h occupancy <= 0.70x, day-ahead entries <= 0.97x
where a dataset has entries. The last line is `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from footfall.imports.exports import EXPORT_READERS, write_counts_csv
from footfall_devtools.calit2 import load_calit2

TARGETS = {("1d", "occupancy"): 0.95, ("1d", "entries"): 0.97, ("2h", "occupancy"): 0.70}
BASELINES = ("persistence", "same_slot_yesterday", "same_slot_last_week", "median_4_weeks")
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Dataset:
    name: str
    path: str  # inside the shared folder
    read: Callable[[Path], pd.DataFrame]
    resolution: str
    timezone: str
    country: str
    region: str | None = None


DATASETS = (
    Dataset(
        "calit2",
        "data/calit2-building-people-counts",
        lambda p: load_calit2(p / "CalIt2.data"),
        "30min",
        "America/Los_Angeles",
        "US",
        "CA",
    ),
    Dataset(
        "lorrainebad_sauna",
        "realworld/data/bern-lorrainebad-sauna-occupancy/occupancy_log.csv",
        EXPORT_READERS["sauna_occupancy_log"],
        "30min",  # scraped every ~15 min: a 30-minute slot nearly always holds a reading
        "Europe/Zurich",
        "CH",
        "BE",
    ),
    Dataset(
        "tulsa_cc_libraries",
        "realworld/data/tulsa-cc-library-patron-counts",
        EXPORT_READERS["library_headcounts"],
        "1h",
        "America/Chicago",
        "US",
        "OK",
    ),
    Dataset(
        "byui_mckay_gates",
        "realworld/data/byui-mckay-library-hourly-gate-counts",
        EXPORT_READERS["gate_counts_hourly"],
        "1h",
        "America/Denver",
        "US",
        "ID",
    ),
)


def shared_folder(given: Path | None) -> Path:
    if given is not None and (given / "CalIt2.data").exists():  # the old usage: the CalIt2 folder itself
        return given.parent.parent
    return given or Path(os.environ.get("FOOTFALL_SHARED_DIR") or REPO.parent / "shared")


def dataset_arguments(description: str) -> argparse.ArgumentParser:
    """The real-dataset benches' common command line: the shared folder, and --only to pick datasets."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("shared_dir", type=Path, nargs="?")
    parser.add_argument("--only", action="append", choices=[d.name for d in DATASETS], help="datasets to run")
    return parser


def run_evaluate(dataset: Dataset, counts: Path, horizon: str) -> dict:
    command = [
        str(Path(sys.executable).with_name("footfall")),
        "evaluate",
        "--counts",
        str(counts),
        "--resolution",
        dataset.resolution,
        "--horizon",
        horizon,
        "--timezone",
        dataset.timezone,
        "--country",
        dataset.country,
        *(["--region", dataset.region] if dataset.region else []),
    ]
    print("$", " ".join(command[1:]).replace(str(counts), counts.name), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def table(dataset: Dataset, results: dict[str, dict]) -> tuple[list[str], bool]:
    """Print the dataset's table; returns its RESULT fields and whether its targets hold."""
    names = ("model", *BASELINES)
    print(f"\n{dataset.name} ({dataset.resolution}, sites: {', '.join(results['1d']['sites'])})")
    print(f"{'horizon':<8}{'measure':<10}{'pairs':>7}" + "".join(f"{n:>21}" for n in names) + f"{'ratio':>8}  target")
    fields, ok = [], True
    for horizon, result in results.items():
        for measure, block in result["targets"].items():
            methods = block["methods"]
            best = min(BASELINES, key=lambda name: methods[name]["wape"])
            ratio = methods["model"]["wape"] / methods[best]["wape"]
            limit = TARGETS.get((horizon, measure))
            verdict = "-" if limit is None else f"<= {limit} {'PASS' if ratio <= limit else 'FAIL'}"
            if limit is not None:
                ok &= ratio <= limit
                fields.append(f"{dataset.name}_{horizon}_{measure}={ratio:.3f}")
            cells = "".join(f"{methods[n]['wape']:>20.4f}{'*' if n == best else ' '}" for n in names)
            print(f"{horizon:<8}{measure:<10}{block['scored_pairs']:>7}{cells}{ratio:>8.3f}  {verdict}")
    print("(WAPE; * the best baseline; ratio = model / best baseline)")
    return fields, ok


def main() -> int:
    parser = dataset_arguments(__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the counts CSVs here instead of a temporary folder")
    args = parser.parse_args()
    shared = shared_folder(args.shared_dir)
    fields, ok, began = [], True, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        for dataset in DATASETS:
            if args.only and dataset.name not in args.only:
                continue
            counts = folder / f"{dataset.name}_counts.csv"
            rows = write_counts_csv(dataset.read(shared / dataset.path), counts)
            print(f"\n{dataset.name}: {rows} count rows from {dataset.path}", flush=True)
            results = {horizon: run_evaluate(dataset, counts, horizon) for horizon in ("1d", "2h")}
            dataset_fields, dataset_ok = table(dataset, results)
            fields += dataset_fields
            ok &= dataset_ok
    print(f"\nwall {time.perf_counter() - began:.0f} s")
    print("RESULT " + " ".join(fields) + f" all_targets_met={ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
