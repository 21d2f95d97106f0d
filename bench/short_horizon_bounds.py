"""How far the 2 h occupancy target is from a dataset's reach: the model against bounds that peek at the answers.

Usage: python bench/short_horizon_bounds.py [SHARED_DIR] [--only NAME ...]

On the 2 h pairs of `footfall evaluate` (same frames, pairs and rolling-origin model as
bench/forecast_eval.py), per dataset:

* the model's WAPE and its ratio to the best baseline (the floor, same pairs, same run);
* the latest reading alone, by lead;
* a hindsight bound: per cell (lead, age of the latest reading 0/1/2+, typical value > 0, latest > 0)
  the blend of model and latest reading whose weight is chosen on the scored pairs themselves;
* between the raw readings (not the slot grid), while open at both ends: the earlier reading's WAPE
  as a forecast of one a slot, two slots and 120 minutes later (what sampling noise alone costs);
* an in-sample bound: per lead, the least-absolute-deviation linear combination of the statistical
  features (latest, typical, anchor, profile, rescaled and now-ratio forms), fitted on the scored pairs.

Both bounds see the answers, so no forecast of that family can do better: a target below them is out
of reach with these inputs. The last line is `RESULT <dataset>_model=<ratio> <dataset>_hindsight=<ratio>
<dataset>_lad_in_sample=<ratio> ...`, all ratios to the best baseline.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, hstack, identity

sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast_eval import BASELINES, DATASETS, dataset_arguments, shared_folder

from footfall.forecast import model as forecast_model
from footfall.forecast.backtest import backtest_model, build_pairs
from footfall.forecast.baselines import predict_baseline
from footfall.forecast.evaluate import SiteCalendar, site_frames
from footfall.forecast.metrics import wape
from footfall.forecast.series import parse_resolution
from footfall.imports.exports import write_counts_csv

MEASURE = "occupancy"
LAD_FEATURES = (
    "latest",
    "previous",
    "typical_4_weeks",
    "typical_now_ratio",
    "rescaled",
    "profile_day_type",
    "same_slot_yesterday",
    "profile_smooth",
)


def least_absolute_deviation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients b minimising sum |y - x b| (a linear programme)."""
    n, k = x.shape
    cost = np.r_[np.zeros(k), np.ones(2 * n)]
    constraints = hstack([csr_matrix(x), identity(n), -identity(n)])
    bounds = [(None, None)] * k + [(0, None)] * (2 * n)
    return linprog(cost, A_eq=constraints, b_eq=y, bounds=bounds, method="highs").x[:k]


def raw_persistence(counts: Path, minutes: int) -> None:
    """Between the raw readings themselves (not the slot grid), while open at both ends: the WAPE of
    the earlier reading as a forecast of the one `minutes` (+-5) later. What sampling noise alone costs."""
    rows = pd.read_csv(counts, usecols=["site_id", "interval_start", "occupancy"]).dropna()
    rows["instant"] = pd.to_datetime(rows["interval_start"], utc=True, format="ISO8601")
    parts = []
    for ahead in sorted({minutes, 2 * minutes, 120}):
        errors = totals = pairs = 0.0
        for _, site in rows.groupby("site_id"):
            site = site.sort_values("instant")
            at = ((site["instant"] - site["instant"].iloc[0]).dt.total_seconds() / 60).to_numpy()
            value = site["occupancy"].to_numpy(dtype=float)
            later = np.searchsorted(at, at + ahead - 5)
            found = later < len(at)
            later = np.where(found, later, 0)
            both = found & (np.abs(at[later] - at - ahead) <= 5) & (value > 0) & (value[later] > 0)
            errors += float(np.abs(value[later][both] - value[both]).sum())
            totals += float(value[later][both].sum())
            pairs += int(both.sum())
        parts.append(f"+{ahead} min {errors / totals:.3f} ({int(pairs)} pairs)" if totals else f"+{ahead} min -")
    print("  raw readings, open at both ends, earlier reading as the forecast: " + ", ".join(parts))


def bounds_for(frames: list, minutes: int) -> dict[str, float]:
    pairs = build_pairs(frames, "2h", minutes, MEASURE)
    actual, scale, features = pairs.actual, pairs.scale, pairs.features
    scored = pairs.test & ~np.isnan(actual)
    model = backtest_model(pairs, MEASURE)["predicted"]
    baselines = {}
    for name in BASELINES:
        predicted = np.empty(len(actual))
        for number, frame in enumerate(frames):
            rows = pairs.site_of == number
            predicted[rows] = predict_baseline(name, frame, pairs.origins[rows], pairs.targets[rows], MEASURE)
        baselines[name] = wape(actual[scored], predicted[scored])
    floor = min(baselines.values())
    latest = np.nan_to_num(features["latest"].to_numpy(dtype=float)) * scale
    age = np.nan_to_num(features["latest_age"].to_numpy(dtype=float), nan=99)
    lead = features["lead_steps"].to_numpy()
    typical = np.nan_to_num(features["typical_4_weeks"].to_numpy(dtype=float))
    cell = lead * 1000 + np.minimum(age, 2) * 100 + (typical > 0) * 10 + (latest > 0)
    weights = np.linspace(0, 1, 21)
    hindsight = 0.0
    for code in np.unique(cell[scored]):
        rows = scored & (cell == code)
        hindsight += min(np.abs(actual[rows] - (w * latest[rows] + (1 - w) * model[rows])).sum() for w in weights)
    columns = [np.nan_to_num(features[c].to_numpy(dtype=float)) for c in LAD_FEATURES if c in features]
    columns.append(forecast_model.anchor(features))
    stacked = np.column_stack(columns)
    lad = 0.0
    for step in np.unique(lead[scored]):
        rows = scored & (lead == step)
        coefficients = least_absolute_deviation(stacked[rows], actual[rows] / scale[rows])
        lad += float(np.abs(actual[rows] - stacked[rows] @ coefficients * scale[rows]).sum())
    total = float(actual[scored].sum())
    best = min(baselines, key=lambda n: baselines[n])
    print(f"  best baseline {best} {floor:.4f}; model {wape(actual[scored], model[scored]):.4f}")
    for step in np.unique(lead[scored]):
        rows = scored & (lead == step)
        print(
            f"  +{step * minutes} min: latest reading {wape(actual[rows], latest[rows]):.4f}, "
            f"model {wape(actual[rows], model[rows]):.4f} ({int(rows.sum())} pairs)"
        )
    print(f"  hindsight model/latest blend per cell {hindsight / total:.4f}; in-sample LAD per lead {lad / total:.4f}")
    return {
        "model": wape(actual[scored], model[scored]) / floor,
        "hindsight": hindsight / total / floor,
        "lad_in_sample": lad / total / floor,
    }


def main() -> int:
    args = dataset_arguments(__doc__.splitlines()[0]).parse_args()
    shared = shared_folder(args.shared_dir)
    fields, began = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in DATASETS:
            if args.only and dataset.name not in args.only:
                continue
            counts = Path(tmp) / f"{dataset.name}.csv"
            write_counts_csv(dataset.read(shared / dataset.path), counts)
            minutes = parse_resolution(dataset.resolution)
            frames = site_frames(counts, minutes, {}, SiteCalendar(dataset.timezone, dataset.country, dataset.region))
            print(f"{dataset.name} (2 h occupancy, {dataset.resolution})", flush=True)
            ratios = bounds_for(frames, minutes)
            raw_persistence(counts, minutes)
            fields += [f"{dataset.name}_{key}={value:.3f}" for key, value in ratios.items()]
    print(f"\nwall {time.perf_counter() - began:.0f} s")
    print("RESULT " + " ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
