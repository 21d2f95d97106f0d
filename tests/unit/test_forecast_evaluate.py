"""`footfall evaluate` and the baselines: shapes, values and refusals, on synthetic counts with known structure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from footfall import cli
from footfall.forecast.baselines import predict_baseline
from footfall.forecast.calendar import calendar_frame
from footfall.forecast.features import SiteFrame, day_ahead_pairs, short_horizon_pairs

PARIS = "Europe/Paris"
METHODS = {"model", "persistence", "same_slot_yesterday", "same_slot_last_week", "median_4_weeks"}


def weekly_counts(days: int, minutes: int = 60, seed: int = 1, start: str = "2026-09-07T00:00Z") -> pd.DataFrame:
    """Two counters with a daily and weekly rhythm plus Poisson noise, over Paris' October DST change."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=days * 1440 // minutes, freq=f"{minutes}min", tz="UTC")
    local = index.tz_convert(PARIS)
    hour = local.hour + local.minute / 60
    shape = np.clip(np.sin((hour - 8) / 12 * np.pi), 0, None) * np.where(local.weekday < 5, 1.0, 0.3)
    frames = []
    for counter, level in (("a", 20.0), ("b", 10.0)):
        entries = rng.poisson(level * shape)
        exits = rng.poisson(
            level * np.clip(np.sin((hour - 9) / 12 * np.pi), 0, None) * np.where(local.weekday < 5, 1, 0.3)
        )
        frames.append(
            pd.DataFrame(
                {
                    "site_id": "lib",
                    "counter_id": counter,
                    "interval_start": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "interval_minutes": minutes,
                    "entries": entries,
                    "exits": exits,
                    "occupancy": "",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_day_ahead_prints_every_method_and_the_reference(tmp_path: Path, capsys):
    path = tmp_path / "counts.csv"
    weekly_counts(42).to_csv(path, index=False)

    code, out, _ = run_cli(
        capsys, "evaluate", "--counts", str(path), "--resolution", "60min", "--horizon", "1d", "--timezone", PARIS
    )

    assert code == 0
    doc = json.loads(out)
    assert set(doc["targets"]) == {"entries", "occupancy"}  # occupancy derived from entries and exits
    for block in doc["targets"].values():
        assert set(block["methods"]) >= METHODS
        for scores in block["methods"].values():
            assert set(scores) == {"mae", "wape", "train_s", "predict_s"}
            assert scores["wape"] > 0
        assert "wape" in block["reference_in_sample_slot_mean"]
        methods = block["methods"]
        # A strong weekly rhythm: persistence (last night's value) is far worse than the model.
        assert methods["model"]["wape"] < 0.5 * methods["persistence"]["wape"]
        assert methods["model"]["wape"] < 1.1 * min(m["wape"] for k, m in methods.items() if k != "model")
        assert methods["model"]["train_s"] > 0


def test_evaluate_two_hours_uses_the_current_level(tmp_path: Path, capsys):
    path = tmp_path / "counts.csv"
    weekly_counts(36, seed=2).to_csv(path, index=False)

    code, out, _ = run_cli(capsys, "evaluate", "--counts", str(path), "--resolution", "1h", "--horizon", "2h")

    assert code == 0
    occupancy = json.loads(out)["targets"]["occupancy"]["methods"]
    assert occupancy["model"]["wape"] < occupancy["persistence"]["wape"]


def test_evaluate_refuses_too_short_input(tmp_path: Path, capsys):
    path = tmp_path / "counts.csv"
    weekly_counts(20).to_csv(path, index=False)
    code, out, err = run_cli(capsys, "evaluate", "--counts", str(path))
    assert code == 2 and out == ""
    assert "too short" in err and len(err.strip().splitlines()) == 1


def test_evaluate_refuses_input_without_measures(tmp_path: Path, capsys):
    counts = weekly_counts(40)
    counts[["entries", "exits"]] = ""
    path = tmp_path / "counts.csv"
    counts.to_csv(path, index=False)
    code, _, err = run_cli(capsys, "evaluate", "--counts", str(path))
    assert code == 2
    assert "no measures" in err and len(err.strip().splitlines()) == 1


def ramp_frame(days: int = 35, minutes: int = 60) -> SiteFrame:
    """A site whose value is its slot number: every baseline's answer can be read off directly."""
    index = pd.date_range("2026-10-01T00:00Z", periods=days * 24, freq=f"{minutes}min", tz="UTC", unit="ns")
    values = np.arange(len(index), dtype=float)
    series = pd.DataFrame({"entries": values, "exits": values, "occupancy": values}, index=index)
    return SiteFrame.build("ramp", series, calendar_frame(index, PARIS, minutes), PARIS, minutes)


def test_baselines_pick_the_documented_slots():
    frame = ramp_frame()
    index = frame.series.index
    target = index.get_loc(pd.Timestamp("2026-11-02T10:00+01:00").tz_convert("UTC"))  # Monday after the change
    origins, targets = np.array([target - 3]), np.array([target])

    def answer(name: str) -> float:
        return float(predict_baseline(name, frame, origins, targets, "entries")[0])

    def position(text: str) -> int:
        return int(index.get_loc(pd.Timestamp(text).tz_convert("UTC")))

    assert answer("persistence") == target - 3
    assert answer("same_slot_yesterday") == position("2026-11-01T10:00+01:00")
    assert answer("same_slot_last_week") == position("2026-10-26T10:00+01:00")
    four = [
        position(f"2026-10-{d:02d}T10:00{off}")
        for d, off in ((26, "+01:00"), (19, "+02:00"), (12, "+02:00"), (5, "+02:00"))
    ]
    assert answer("median_4_weeks") == float(np.median(four))


def test_baseline_without_history_falls_back_to_persistence():
    frame = ramp_frame()
    origins, targets = np.array([30]), np.array([31])  # second day: no last week yet
    assert predict_baseline("same_slot_last_week", frame, origins, targets, "entries")[0] == 30


def test_pairs_day_ahead_start_at_local_midnight_on_dst_day():
    frame = ramp_frame()
    origins, targets = day_ahead_pairs(frame, 1, len(frame.series))
    index = frame.series.index
    day = index[targets].tz_convert(PARIS).date == pd.Timestamp("2026-10-25").date()
    assert day.sum() == 25  # the 25-hour day has 25 hourly targets
    (origin,) = set(origins[day])
    assert index[origin].tz_convert(PARIS) == pd.Timestamp("2026-10-24T23:00+02:00")  # last slot before midnight


def test_pairs_short_horizon_cover_the_next_slots():
    frame = ramp_frame()
    origins, targets = short_horizon_pairs(frame, 1, 10, steps=2)
    assert list(zip(origins[:4], targets[:4], strict=True)) == [(0, 1), (0, 2), (1, 2), (1, 3)]
    assert targets.max() < 10
