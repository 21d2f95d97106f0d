"""What the product publishes for the next two hours on every real dataset, beside what `footfall evaluate` scores.

Usage: python bench/nowcast_real.py [SHARED_DIR] [--only NAME ...]

`footfall evaluate --horizon 2h` (bench/forecast_eval.py) scores the short-horizon model: the boosters
and statistical anchor refit on (origin, target) pairs two hours apart. The live product does not serve
that model: every 5-minute run publishes the nowcast (`footfall.forecast.nowcast`), the published
day-ahead forecast rescaled by how the last hour ran against it. This bench scores that nowcast on the
same 2 h pairs, with the same rolling origin: the day-ahead forecast of each target is the day-ahead
backtest's (made at the local midnight before it, refit weekly like evaluate's); the level ratio uses
the slots of the last LOOKBACK_MINUTES up to the origin against that forecast
(`nowcast.bounded_ratio`, k = SHRINK_MIN_PEOPLE: the datasets give no capacity); each target gets
`nowcast.rescaled` with its minutes ahead. A pair whose day-ahead forecast was issued after its
origin (a target past midnight) is left out of every method, so nothing sees the future. The floor is
the best baseline on the same pairs (the baselines of `footfall.forecast.baselines`).
A third figure is a candidate, not served: the nowcast with its form (ratio, or the last hour's
difference) and half-life chosen per site before each week on that site's pairs already observed.
The last line is `RESULT <dataset>_model=<ratio> <dataset>_nowcast=<ratio>
<dataset>_nowcast_fitted_per_site=<ratio> ...`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast_eval import BASELINES, DATASETS, dataset_arguments, shared_folder

from footfall.forecast import nowcast
from footfall.forecast.backtest import backtest_model, build_pairs
from footfall.forecast.baselines import predict_baseline
from footfall.forecast.evaluate import SiteCalendar, site_frames
from footfall.forecast.metrics import wape
from footfall.forecast.series import parse_resolution
from footfall.imports.exports import write_counts_csv

MEASURE = "occupancy"


def day_ahead_by_slot(frames: list, minutes: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per site and slot: the day-ahead backtest's median forecast and the position of the origin it was made at."""
    pairs = build_pairs(frames, "1d", minutes, MEASURE)
    predicted = backtest_model(pairs, MEASURE)["predicted"]
    forecast = [np.full(len(f.series), np.nan) for f in frames]
    issued = [np.full(len(f.series), np.iinfo(np.int64).max) for f in frames]
    scored = pairs.test
    for number in range(len(frames)):
        rows = scored & (pairs.site_of == number)
        forecast[number][pairs.targets[rows]] = predicted[rows]
        issued[number][pairs.targets[rows]] = pairs.origins[rows]
    return forecast, issued


HALF_LIVES = (120.0, 240.0, 480.0, 960.0)


def nowcast_candidates(frames: list, pairs, minutes: int) -> dict[str, np.ndarray]:
    """Every 2 h pair's nowcast (NaN where no day-ahead forecast issued by its origin exists): "ratio 240"
    is what the product publishes; the other half-lives and the "difference" form (the forecast plus the
    last hour's difference to it, fading) are candidates, not served."""
    forecast, issued = day_ahead_by_slot(frames, minutes)
    out = {
        f"{form} {h:.0f}": np.full(len(pairs.actual), np.nan) for form in ("ratio", "difference") for h in HALF_LIVES
    }
    lookback = max(1, nowcast.LOOKBACK_MINUTES // minutes)
    for number, frame in enumerate(frames):
        rows = np.flatnonzero(pairs.site_of == number)
        origins, targets = pairs.origins[rows], pairs.targets[rows]
        observed, expected = frame.values(MEASURE), forecast[number]
        total_observed, total_expected, count = (np.zeros(len(rows)) for _ in range(3))
        for back in range(lookback):
            at = np.clip(origins - back, 0, None)
            both = ~np.isnan(observed[at]) & ~np.isnan(expected[at])
            total_observed += np.where(both, observed[at], 0.0)
            total_expected += np.where(both, expected[at], 0.0)
            count += both
        mean_observed, mean_expected = total_observed / np.maximum(count, 1), total_expected / np.maximum(count, 1)
        ratio = np.where(count > 0, nowcast.bounded_ratio(mean_observed, mean_expected, nowcast.SHRINK_MIN_PEOPLE), 1.0)
        difference = np.where(count > 0, mean_observed - mean_expected, 0.0)
        ahead = (targets - origins) * minutes
        usable = issued[number][targets] <= origins
        for half_life in HALF_LIVES:
            value = nowcast.rescaled(expected[targets], ratio, ahead, half_life)
            out[f"ratio {half_life:.0f}"][rows] = np.where(usable, np.clip(value, 0, None), np.nan)
            shifted = expected[targets] + difference * 0.5 ** (ahead / half_life)
            out[f"difference {half_life:.0f}"][rows] = np.where(usable, np.clip(shifted, 0, None), np.nan)
    return out


def chosen_per_site(pairs, candidates: dict[str, np.ndarray], default: str, week_days: float = 7.0) -> np.ndarray:
    """Before each week of origins, each site takes the candidate with the least absolute error on its pairs
    whose targets were already observed (out of sample, as a weekly retrain could choose); `default` first."""
    out = np.full(len(pairs.actual), np.nan)
    known = ~np.isnan(pairs.actual) & np.all([~np.isnan(c) for c in candidates.values()], axis=0)
    week = int(week_days * 86400 * 10**9)
    for start in range(int(pairs.origin_end.min()), int(pairs.origin_end.max()) + 1, week):
        block = (pairs.origin_end >= start) & (pairs.origin_end < start + week)
        for number in np.unique(pairs.site_of[block]):
            rows = block & (pairs.site_of == number)
            past = known & (pairs.site_of == number) & (pairs.target_end <= start)
            errors = {n: float(np.abs(pairs.actual[past] - c[past]).sum()) for n, c in candidates.items()}
            name = min(errors, key=lambda n: errors[n]) if past.any() else default
            out[rows] = candidates[name][rows]
    return out


def main() -> int:
    args = dataset_arguments(__doc__.splitlines()[0]).parse_args()
    shared = shared_folder(args.shared_dir)
    fields, began = [], time.perf_counter()
    print(
        f"{'dataset':<22}{'pairs':>7}{'model':>9}{'nowcast':>9}{'best baseline':>28}{'model x':>9}{'nowcast x':>11}"
        f"{'fitted':>9}{'fitted x':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in DATASETS:
            if args.only and dataset.name not in args.only:
                continue
            counts = Path(tmp) / f"{dataset.name}.csv"
            write_counts_csv(dataset.read(shared / dataset.path), counts)
            minutes = parse_resolution(dataset.resolution)
            calendar = SiteCalendar(dataset.timezone, dataset.country, dataset.region)
            frames = site_frames(counts, minutes, {}, calendar)
            pairs = build_pairs(frames, "2h", minutes, MEASURE)
            model = backtest_model(pairs, MEASURE)["predicted"]
            candidates = nowcast_candidates(frames, pairs, minutes)
            published = candidates[f"ratio {nowcast.HALF_LIFE_MINUTES:.0f}"]
            per_site = chosen_per_site(pairs, candidates, f"ratio {nowcast.HALF_LIFE_MINUTES:.0f}")
            scored = pairs.test & ~np.isnan(pairs.actual) & ~np.isnan(published)
            baselines = {}
            for name in BASELINES:
                predicted = np.empty(len(pairs.actual))
                for number, frame in enumerate(frames):
                    rows = pairs.site_of == number
                    predicted[rows] = predict_baseline(name, frame, pairs.origins[rows], pairs.targets[rows], MEASURE)
                baselines[name] = wape(pairs.actual[scored], predicted[scored])
            best = min(baselines, key=lambda name: baselines[name])
            actual = pairs.actual[scored]
            model_wape, nowcast_wape = wape(actual, model[scored]), wape(actual, published[scored])
            fitted_wape = wape(actual, per_site[scored])
            print(
                f"{dataset.name:<22}{int(scored.sum()):>7}{model_wape:>9.4f}{nowcast_wape:>9.4f}"
                f"{best + f' {baselines[best]:.4f}':>28}{model_wape / baselines[best]:>9.3f}"
                f"{nowcast_wape / baselines[best]:>11.3f}{fitted_wape:>9.4f}{fitted_wape / baselines[best]:>10.3f}",
                flush=True,
            )
            fields += [
                f"{dataset.name}_model={model_wape / baselines[best]:.3f}",
                f"{dataset.name}_nowcast={nowcast_wape / baselines[best]:.3f}",
                f"{dataset.name}_nowcast_fitted_per_site={fitted_wape / baselines[best]:.3f}",
            ]
    print("(2 h occupancy WAPE on the pairs with a day-ahead forecast issued by their origin; x = / best baseline)")
    print(f"\nwall {time.perf_counter() - began:.0f} s")
    print("RESULT " + " ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
