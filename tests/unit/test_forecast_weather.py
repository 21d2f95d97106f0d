"""Optional weather inputs: aligned to target slots, absent means unchanged, and rain that drives traffic is learnt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footfall import cli
from footfall.config import Site
from footfall.forecast.evaluate import SiteCalendar, site_frames
from footfall.forecast.features import day_ahead_pairs, pair_features
from footfall.forecast.series import UnusableInput
from footfall.forecast.weather import align_weather, read_weather_csv, site_weather

PARIS = "Europe/Paris"
START = "2026-09-07T00:00Z"


def rainy_weather(days: int, seed: int = 3) -> pd.DataFrame:
    """Hourly UTC weather: rain spells of 3-9 hours on about 40 % of days, a temperature that wanders."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(START, periods=days * 24, freq="1h", tz="UTC")
    rain = np.zeros(len(hours))
    for day in range(days):
        if rng.random() < 0.4:
            begin = day * 24 + int(rng.integers(4, 16))
            rain[begin : begin + int(rng.integers(3, 10))] = rng.uniform(0.5, 4.0)
    temperature = 15 + 5 * np.sin(np.arange(len(hours)) / 24 / 7 * 2 * np.pi) + rng.normal(0, 1, len(hours))
    return pd.DataFrame(
        {
            "time": hours.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "temperature_c": temperature.round(1),
            "precipitation_mm": rain.round(2),
        }
    )


def counts_driven_by(weather: pd.DataFrame, days: int, seed: int = 1) -> pd.DataFrame:
    """Hourly entries and exits with a daily and weekly rhythm; rain halves who comes in (and goes out)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=days * 24, freq="1h", tz="UTC")
    local = index.tz_convert(PARIS)
    hour = local.hour.to_numpy()
    rhythm = np.clip(np.sin((hour - 8) / 12 * np.pi), 0, None) * np.where(local.weekday < 5, 1.0, 0.3)
    rain = weather["precipitation_mm"].to_numpy()[: len(index)] > 0
    level = 60.0 * rhythm * np.where(rain, 0.5, 1.0)
    return pd.DataFrame(
        {
            "site_id": "lib",
            "counter_id": "door",
            "interval_start": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "interval_minutes": 60,
            "entries": rng.poisson(level),
            "exits": rng.poisson(np.roll(level, 2)),
            "occupancy": "",
        }
    )


def write_inputs(tmp_path: Path, days: int = 84) -> tuple[Path, Path]:
    weather = rainy_weather(days)
    counts, weather_csv = tmp_path / "counts.csv", tmp_path / "weather.csv"
    counts_driven_by(weather, days).to_csv(counts, index=False)
    weather.to_csv(weather_csv, index=False)
    return counts, weather_csv


def test_weather_is_aligned_to_the_hour_of_each_slot(tmp_path: Path):
    path = tmp_path / "weather.csv"
    pd.DataFrame(
        {"time": ["2026-01-01T10:00Z", "2026-01-01T11:00Z"], "temperature_c": [3.0, 4.0], "precipitation_mm": [0, 2.5]}
    ).to_csv(path, index=False)
    slots = pd.date_range("2026-01-01T10:00Z", periods=6, freq="30min")
    aligned = align_weather(site_weather(read_weather_csv(path), "any"), slots)
    assert aligned["temperature_c"].tolist()[:4] == [3.0, 3.0, 4.0, 4.0]
    assert aligned["precipitation_mm"].tolist()[2:4] == [2.5, 2.5]  # mm in the hour, not split across slots
    assert aligned.iloc[4:].isna().all().all()  # hours the file does not cover are missing, not zero


def test_a_weather_csv_without_its_columns_is_refused(tmp_path: Path):
    path = tmp_path / "weather.csv"
    path.write_text("time,temp\n2026-01-01T00:00Z,3\n")
    with pytest.raises(UnusableInput, match="precipitation_mm"):
        read_weather_csv(path)


def test_without_weather_the_features_are_unchanged(tmp_path: Path):
    counts, weather_csv = write_inputs(tmp_path, days=42)
    default = SiteCalendar(PARIS)
    plain = site_frames(counts, 60, {}, default)[0]
    rainy = site_frames(counts, 60, {}, default, weather=weather_csv)[0]
    assert plain.weather is None
    origins, targets = day_ahead_pairs(plain, 1, len(plain.series))
    without = pair_features(plain, origins, targets, "entries")
    with_weather = pair_features(rainy, origins, targets, "entries")
    assert not {"temperature_c", "precipitation_mm"} & set(without.columns)
    pd.testing.assert_frame_equal(with_weather[without.columns], without)
    # The target slot's weather (for day-ahead, the forecast for that slot), not the origin's.
    expected = rainy.weather["precipitation_mm"].to_numpy()[targets]
    np.testing.assert_array_equal(with_weather["precipitation_mm"].to_numpy(), expected)


def test_site_files_take_an_optional_weather_file():
    fields = Site.model_fields
    assert fields["weather"].default is None
    assert "file" in fields["weather"].annotation.__args__[0].model_fields


def test_rain_that_halves_entries_is_learnt(tmp_path: Path, capsys):
    counts, weather_csv = write_inputs(tmp_path)
    base = ["evaluate", "--counts", str(counts), "--resolution", "60min", "--horizon", "1d", "--timezone", PARIS]
    results = {}
    for name, extra in (("plain", []), ("weather", ["--weather", str(weather_csv)])):
        assert cli.main([*base, *extra]) == 0
        results[name] = json.loads(capsys.readouterr().out)["targets"]["entries"]["methods"]["model"]["wape"]
    # The lags cannot know whether tomorrow rains; the weather forecast can.
    assert results["weather"] < 0.9 * results["plain"], results  # measured: 0.187 vs 0.237


def test_published_forecasts_use_the_weather_forecast_of_the_site_file(tmp_path: Path, make_site):
    from datetime import UTC, datetime

    from footfall.forecast.publish import site_plan

    weather = rainy_weather(21)  # 14 days observed, then the next 7 days' forecast
    path = tmp_path / "weather.csv"
    weather.to_csv(path, index=False)
    index = pd.date_range(START, periods=14 * 24, freq="1h", unit="ns")
    history = pd.DataFrame({"entries": 10.0, "exits": 10.0, "occupancy": 5.0}, index=index)
    site = make_site("rainy", timezone=PARIS, forecast_resolution_minutes=60, weather={"file": str(path)})
    plan = site_plan(site, history, datetime(2026, 9, 21, tzinfo=UTC))
    future = plan.frame.weather.iloc[plan.first_future :]
    assert len(future) == 7 * 24 and future.notna().all().all()
    np.testing.assert_array_equal(future["precipitation_mm"].to_numpy(), weather["precipitation_mm"].to_numpy()[-168:])
    assert site_plan(make_site("dry", timezone=PARIS), history, datetime(2026, 9, 21, tzinfo=UTC)).frame.weather is None
