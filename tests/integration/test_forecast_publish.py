"""Retrain and publish from a real warehouse (SQLite and PostgreSQL): history in, 7-day forecasts and a version out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select

from footfall.forecast.publish import retrain_sites
from footfall.forecast.training import training_series
from footfall.warehouse import schema
from footfall_simulator.traffic import DeviceProfile, count_arrays

NOW = datetime(2026, 3, 25, 9, 7, tzinfo=UTC)  # the 7 days ahead include Paris' spring-forward Sunday
HOURS = {day: "08:00-20:00" for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": "09:00-18:00", "sun": "closed"}


def read_forecast(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(select(schema.forecast).order_by(schema.forecast.c.slot_start), conn)


def load_history(engine, site, start: datetime, end: datetime, seed: int = 5) -> int:
    """Simulated 15-minute counts for each of the site's counters, loaded as the pipeline would."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.site).values(
                site_id=site.id,
                name=site.name,
                timezone=site.timezone,
                capacity=site.capacity,
                source_kind="http_json",
                preset="axis_tvpc_export_json",
                updated_at=now,
            )
        )
        payload = conn.execute(
            insert(schema.raw_payload).values(
                site_id=site.id, source="test", received_at=now, body=b"", body_bytes=0, sha256="0" * 64
            )
        ).inserted_primary_key[0]
        rows = []
        for counter in site.counters:
            conn.execute(
                insert(schema.counter).values(
                    site_id=site.id, counter_id=counter.id, ref=counter.ref, direction="normal"
                )
            )
            arrays = count_arrays(DeviceProfile(ref=counter.ref, timezone=site.timezone), start, end, 15, seed)
            for stamp, entries, exits in zip(arrays.start_epoch, arrays.entries, arrays.exits, strict=True):
                rows.append(
                    {
                        "site_id": site.id,
                        "counter_id": counter.id,
                        "interval_start": datetime.fromtimestamp(int(stamp), UTC),
                        "interval_minutes": 15,
                        "entries": int(entries),
                        "exits": int(exits),
                        "occupancy": None,
                        "payload_id": payload,
                        "loaded_at": now,
                    }
                )
        conn.execute(insert(schema.count_interval), rows)
    return len(rows)


@pytest.fixture
def warehouse_with_history(db_url, warehouse, make_site):
    engine = warehouse(db_url)
    site = make_site("bib-test", opening_hours={"regular": HOURS})
    load_history(engine, site, NOW - timedelta(days=42), NOW)
    return engine, site


def test_retrain_publishes_seven_days_with_quantiles_and_waits(warehouse_with_history):
    engine, site = warehouse_with_history

    result = retrain_sites(engine, [site], run_id="test", now=NOW)

    # Simulated traffic is so regular that the 4-week median may win: either way the rule is applied and logged.
    if result.promoted:
        assert result.method == "model" and "beats best baseline" in result.reason
    else:
        assert result.method in {"persistence", "same_slot_yesterday", "same_slot_last_week", "median_4_weeks"}
        assert f"{result.method} serves" in result.reason
    forecast = read_forecast(engine)
    assert len(forecast) == 7 * 96  # 15-minute slots, 7 days from now
    starts = pd.to_datetime(forecast["slot_start"], utc=True)
    assert starts.min() == pd.Timestamp("2026-03-25T09:00Z") and starts.is_monotonic_increasing
    for measure in ("entries", "occupancy"):
        assert (forecast[f"{measure}_p10"] <= forecast[f"{measure}_p50"] + 1e-9).all()
        assert (forecast[f"{measure}_p50"] <= forecast[f"{measure}_p90"] + 1e-9).all()
    assert forecast["wait_minutes"].notna().all()  # the site has a capacity
    assert (forecast["model_version"] == result.model_version).all()
    assert (forecast["method"] == ("model" if result.promoted else result.method)).all()

    local = starts.dt.tz_convert("Europe/Paris")
    by_time = forecast.set_index(local)["entries_p50"]
    sunday = by_time["2026-03-29"]  # the 23-hour day: closed
    monday_busy = by_time["2026-03-30 10:00":"2026-03-30 17:45"]
    assert len(sunday) == 92
    assert sunday.mean() < 0.1 * monday_busy.mean()
    assert monday_busy.mean() > 1

    with engine.connect() as conn:
        version = conn.execute(select(schema.forecast_model)).mappings().one()
    metrics = json.loads(version["metrics"])
    assert set(metrics) == {"entries", "occupancy"}
    assert set(metrics["occupancy"]) == {
        "model",
        "persistence",
        "same_slot_yesterday",
        "same_slot_last_week",
        "median_4_weeks",
    }
    assert version["promoted"] == result.promoted and version["reason"] == result.reason
    assert version["artifact"] and version["training_rows"] > 10_000


def test_second_run_replaces_the_forecast_and_keeps_versions(warehouse_with_history):
    engine, site = warehouse_with_history
    first = retrain_sites(engine, [site], run_id="one", now=NOW)
    second = retrain_sites(engine, [site], run_id="two", now=NOW + timedelta(hours=2))

    assert second.model_version == first.model_version + 1
    forecast = read_forecast(engine)
    assert forecast["model_version"].unique().tolist() == [second.model_version]
    starts = pd.to_datetime(forecast["slot_start"], utc=True)
    # No counts arrived since 09:15: the forecast covers that gap too, up to 7 days after the run.
    assert starts.min() == pd.Timestamp("2026-03-25T09:15Z")
    assert starts.max() == pd.Timestamp("2026-04-01T10:45Z")
    assert len(forecast) == starts.nunique() == 7 * 96 + 7


def test_high_severity_flags_leave_intervals_out(warehouse_with_history):
    engine, site = warehouse_with_history
    start, end = datetime(2026, 3, 20, 9, tzinfo=UTC), datetime(2026, 3, 20, 12, tzinfo=UTC)
    table = schema.metadata.tables["quality_flag"]
    with engine.begin() as conn:
        for severity, day in (("high", 0), ("medium", 1)):
            conn.execute(
                insert(table).values(
                    site_id=site.id,
                    check_name="stuck",
                    severity=severity,
                    period_start=start + timedelta(days=day),
                    period_end=end + timedelta(days=day),
                    created_at=NOW,
                )
            )
    series = training_series(engine, site)
    flagged = series.loc["2026-03-20T09:00Z":"2026-03-20T11:45Z"]
    assert flagged["entries"].isna().all() and len(flagged) == 12
    assert series.loc["2026-03-21T09:00Z":"2026-03-21T11:45Z", "entries"].notna().all()  # medium stays
    assert np.isfinite(series["occupancy"].dropna()).all()
