"""The waiting-time model's error: against the discrete-event simulation, and against reported queue data.

Usage: nice .venv/bin/python bench/waiting.py [--runs 20] [--shared DIR]

1. Simulation (known truth): `footfall.forecast.waiting.validation_mae_minutes` for three doors
   (capacity, mean stay, slot): MAE of the model's wait per slot against the simulated mean wait.
2. Calibration on reported waits: a door whose staff admit only 90 % of the declared capacity (what
   a one-in-one-out rule does). The simulation gives the waits its devices would report. The model,
   which only knows the declared capacity, is calibrated on a first set of simulated days (the
   factor the retrain computes from queue_measure) and scored on other days: MAE uncalibrated and
   calibrated, against the reported waits.
3. The captured real queue payloads (`../shared/realworld/payloads`: Xovis queue statistics, Irisys
   wait histograms), read through their presets' `queue` sections: each observation, the model's
   wait for it and the error. These payloads carry no occupancy or capacity of a building (a Xovis
   queue zone at a desk, an Irisys test zone): the model is run for a door of the declared capacity
   below (an assumption, printed), so this row says how the model meets real queue data, not how
   accurate it is; the payloads are one minute each.

The floor for the timing column is one bare `predict_waits` on the same day, in the same run. Prints a
table and, last, `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from _common import peak_rss_mb, result_line

REAL = {
    "xovis__v5-logics-data-queue-statistics-json__2.json": ("xovis_logics_push", "Europe/Zurich"),
    "irisys__vector4d-httppush-countlogs-histograms-json__4.json": ("irisys_vector_countlogs", "Asia/Riyadh"),
}
ASSUMED_CAPACITY = 40  # a desk's waiting area: only for the real rows (the payloads give no capacity)
ASSUMED_STAY_MINUTES = 10.0


def rate(minute: float, scale: float) -> float:
    t = minute / 60
    return scale * (1.2 + 2.5 * math.exp(-(((t - 3) / 1.2) ** 2)) + 5.0 * math.exp(-(((t - 7.5) / 1.5) ** 2)))


def simulated_day(capacity: int, admit: int, dwell: float, slot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(admitted entries per slot, mean reported wait per slot) of a day at a door admitting `admit` at once."""
    from footfall.forecast.waiting import simulate_door

    hours, scale = 12.0, capacity / (dwell * 3.3)
    arrivals, waits = simulate_door(
        lambda m: rate(m, scale), 9.0 * scale, hours, admit, lambda g: g.exponential(dwell), seed
    )
    slots = int(hours * 60 // slot)
    index = (arrivals // slot).astype(int)
    counts = np.bincount(index, minlength=slots)[:slots].astype(float)
    total = np.bincount(index, weights=waits, minlength=slots)[:slots]
    return counts, np.where(counts > 0, total / np.maximum(counts, 1), 0.0)


def calibration_scenario(days: int) -> dict[str, float]:
    from footfall.forecast.waiting import calibration_factor, predict_waits

    capacity, admit, dwell, slot = 150, 135, 45.0, 15
    history = [simulated_day(capacity, admit, dwell, slot, seed) for seed in range(days)]
    test = [simulated_day(capacity, admit, dwell, slot, 1000 + seed) for seed in range(days)]
    modelled = np.concatenate([predict_waits(demand, capacity, dwell, slot) for demand, _ in history])
    factor = calibration_factor(np.concatenate([w for _, w in history]), modelled)
    plain = np.concatenate([predict_waits(demand, capacity, dwell, slot) for demand, _ in test])
    truth = np.concatenate([w for _, w in test])
    return {
        "factor": factor,
        "mae_uncalibrated": float(np.mean(np.abs(plain - truth))),
        "mae_calibrated": float(np.mean(np.abs(plain * factor - truth))),
        "mean_reported": float(truth.mean()),
    }


def real_rows(shared: Path) -> list[dict[str, object]]:
    from footfall.forecast.waiting import predict_waits
    from footfall.normalize import Payload, adhoc_site
    from footfall.normalize.queues import read_queue_measures

    out = []
    for name, (preset, zone) in REAL.items():
        path = shared / "realworld" / "payloads" / name
        if not path.exists():
            continue
        rows = read_queue_measures(adhoc_site(preset, "bench", zone, {}, []), [Payload(1, path.read_bytes())])
        for r in rows.to_dict("records"):
            minutes = int(r["interval_minutes"])
            served = 0.0 if np.isnan(r["served"]) else float(r["served"])
            model = float(predict_waits(np.array([served]), ASSUMED_CAPACITY, ASSUMED_STAY_MINUTES, minutes)[0])
            reported = r["wait_seconds"] / 60 if not np.isnan(r["wait_seconds"]) else None
            out.append({"file": name.split("__")[0], "queue": r["queue_ref"], "served": served, "reported": reported,
                        "queue_length": r["queue_length"], "model": model,
                        "error": None if reported is None else abs(model - reported)})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="simulated days per door (default 20)")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("FOOTFALL_SHARED_DIR", "../shared")))
    args = parser.parse_args(argv)
    from footfall.forecast.waiting import predict_waits, validation_mae_minutes

    print(f"{'simulated door':32} {'MAE min':>8} {'max wait':>9} {'mean wait':>10}")
    sims = {}
    for capacity, dwell, slot in ((150, 45.0, 15), (60, 30.0, 15), (400, 60.0, 30)):
        result = validation_mae_minutes(capacity, dwell, slot, runs=args.runs)
        sims[capacity] = result["mae_minutes"]
        label = f"capacity {capacity}, stay {dwell:g} min, {slot} min"
        print(f"{label:32} {result['mae_minutes']:8.2f} {result['max_true_wait_minutes']:9.1f} "
              f"{result['mean_true_wait_minutes']:10.2f}")  # fmt: skip
    cal = calibration_scenario(max(2, args.runs // 2))
    print(
        f"\nstaff admit 90 % of capacity: factor {cal['factor']:.2f}, mean reported wait {cal['mean_reported']:.2f} min"
    )
    print(
        f"  MAE uncalibrated {cal['mae_uncalibrated']:.2f} min,"
        f" calibrated on reported waits {cal['mae_calibrated']:.2f} min"
    )
    real = real_rows(args.shared)
    print(
        f"\nreal queue payloads (model for a door of capacity {ASSUMED_CAPACITY},"
        f" stay {ASSUMED_STAY_MINUTES:g} min: assumed)"
    )
    print(f"{'file':8} {'queue':26} {'served':>6} {'queue len':>9} {'reported':>9} {'model':>7} {'error':>7}")
    for r in real:
        reported = "-" if r["reported"] is None else f"{r['reported']:.2f}"
        error = "-" if r["error"] is None else f"{r['error']:.2f}"
        length = "-" if r["queue_length"] is None or np.isnan(r["queue_length"]) else f"{r['queue_length']:g}"
        print(
            f"{r['file']:8} {r['queue']!s:26} {r['served']:6g} {length:>9} {reported:>9} {r['model']:7.2f} {error:>7}"
        )
    errors = [float(r["error"]) for r in real if r["error"] is not None]
    demand = simulated_day(150, 150, 45.0, 15, 0)[0]
    t0 = time.perf_counter()
    predict_waits(demand, 150, 45.0, 15)
    floor_ms = 1000 * (time.perf_counter() - t0)
    print(f"\none day's predict_waits (the floor): {floor_ms:.2f} ms")
    print(
        result_line(
            {
                "sim_mae_min_150": sims[150],
                "sim_mae_min_60": sims[60],
                "sim_mae_min_400": sims[400],
                "staffed_factor": cal["factor"],
                "staffed_mae_uncalibrated_min": cal["mae_uncalibrated"],
                "staffed_mae_calibrated_min": cal["mae_calibrated"],
                "calibration_gain": cal["mae_uncalibrated"] / max(cal["mae_calibrated"], 1e-9),
                "real_observations": len(real),
                "real_with_wait": len(errors),
                "real_mae_min": float(np.mean(errors)) if errors else None,
                "predict_floor_ms": floor_ms,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
