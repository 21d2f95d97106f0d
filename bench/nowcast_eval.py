"""How much the 2-hour nowcast improves on the day-ahead profile it rescales, on CalIt2 (UCI 156).

Usage: nice .venv/bin/python bench/nowcast_eval.py [../shared/data/calit2-building-people-counts]

CalIt2's half-hour door counts (converted as bench/forecast_eval.py does, occupancy derived as
`footfall evaluate` does) stand for a site. The profile is "same slot last week" (a day-ahead
forecast that knows nothing of today), published as 10/50/90 % = 0.8/1/1.3 x it. At every half hour
with a week of history, `footfall.forecast.nowcast.nowcast_rows` (the product's function) is called
with the occupancy observed up to then and the profile around it, exactly as a live run would; each
of the next four half hours is scored. WAPE of the nowcast's median against the profile's (the floor,
same slots, same run), per horizon and over the two hours; the module's half-life against others
for comparison (the constants in footfall.forecast.nowcast were chosen from this table).
Last line `RESULT ...`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from _common import peak_rss_mb, result_line
from forecast_eval import ZONE, convert

HALF_HOUR = pd.Timedelta(minutes=30)


def main(argv: list[str]) -> int:
    from footfall.forecast import nowcast
    from footfall.forecast.series import prepare_sites, read_counts_csv
    from footfall.normalize import adhoc_site

    folder = Path(argv[0]) if argv else Path("../shared/data/calit2-building-people-counts")
    with tempfile.TemporaryDirectory() as tmp:
        counts_csv = Path(tmp) / "calit2_counts.csv"
        convert(folder / "CalIt2.data", counts_csv)
        series = prepare_sites(read_counts_csv(counts_csv), 30, {"calit2": str(ZONE)})["calit2"]
    occupancy = series["occupancy"].to_numpy(float)
    index = pd.DatetimeIndex(series.index)
    week = 7 * 48
    profile = np.full_like(occupancy, np.nan)
    profile[week:] = occupancy[:-week]
    capacity = int(np.nanmax(occupancy))
    # Only the zone and the capacity matter to the nowcast; the preset is any (nothing is read through it).
    site = adhoc_site("xovis_count_push", "calit2", str(ZONE), {}, []).model_copy(update={"capacity": capacity})

    def slots(lo: int, hi: int) -> list:
        return [
            SimpleNamespace(slot_start=index[i].to_pydatetime(), slot_minutes=30, occupancy_p10=0.8 * profile[i],
                            occupancy_p50=profile[i], occupancy_p90=1.3 * profile[i], wait_minutes=None)
            for i in range(lo, min(hi, len(profile))) if not np.isnan(profile[i])
        ]  # fmt: skip

    def run(half_life: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        nowcast.HALF_LIFE_MINUTES = half_life
        errors, floor, truth_sum = np.zeros(4), np.zeros(4), np.zeros(4)
        origins = 0
        for t in range(week + 2, len(occupancy) - 5):
            seen = occupancy[t - 2 : t + 1]
            if np.isnan(seen).any() or np.isnan(profile[t - 1 : t + 5]).any():
                continue
            corrected = pd.DataFrame({"interval_start": index[t - 2 : t + 1], "corrected_occupancy": seen})
            observed = nowcast.Observed.from_corrected(corrected)
            assert observed is not None
            rows = nowcast.nowcast_rows(site, observed, slots(t - 3, t + 6), datetime.now(UTC))
            by_start = {pd.Timestamp(r["slot_start"]): r["occupancy_p50"] for r in rows}
            for h in range(1, 5):
                truth = occupancy[t + h]
                if np.isnan(truth) or index[t + h] not in by_start:
                    continue
                errors[h - 1] += abs(truth - by_start[index[t + h]])
                floor[h - 1] += abs(truth - profile[t + h])
                truth_sum[h - 1] += abs(truth)
            origins += 1
        return errors, floor, truth_sum, origins

    default = nowcast.HALF_LIFE_MINUTES
    began = time.perf_counter()
    results = {hl: run(hl) for hl in sorted({30.0, 60.0, 120.0, default, 480.0})}
    seconds = time.perf_counter() - began
    nowcast.HALF_LIFE_MINUTES = default
    print(f"CalIt2: {len(occupancy)} half hours, capacity taken as the peak occupancy {capacity}")
    print(
        f"{'half-life':>10} {'+30 min':>8} {'+60 min':>8} {'+90 min':>8} {'+120 min':>9} {'2 h':>7}"
        "   (WAPE ratio to the profile)"
    )
    for hl, (errors, floor, _truth, _) in results.items():
        per = errors / floor
        mark = "  <- footfall.forecast.nowcast" if hl == default else ""
        print(f"{hl:>10g} " + " ".join(f"{v:8.3f}" for v in per) + f" {errors.sum() / floor.sum():8.3f}{mark}")
    errors, floor, truth, origins = results[default]
    print(f"profile WAPE over 2 h: {floor.sum() / truth.sum():.4f}; nowcast: {errors.sum() / truth.sum():.4f}")
    print(
        result_line(
            {
                "dataset": "calit2",
                "origins": origins,
                "half_life_min": default,
                "profile_wape_2h": floor.sum() / truth.sum(),
                "nowcast_wape_2h": errors.sum() / truth.sum(),
                "ratio_2h": errors.sum() / floor.sum(),
                "ratio_30min": errors[0] / floor[0],
                "ratio_120min": errors[3] / floor[3],
                "seconds": seconds,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
