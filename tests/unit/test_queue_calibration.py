"""Queue measures in the warehouse become the per-slot observations the waiting model calibrates on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from footfall.forecast.training import training_series
from footfall.forecast.waiting import queue_observations
from footfall.warehouse.landing import ensure_site, land_body
from footfall.warehouse.queues import write_queue_measures

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)


def measures(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["queue_ref", "minute", "queue_length", "wait_seconds", "served"])
    frame["interval_start"] = [pd.Timestamp(T0 + timedelta(minutes=m)) for m in frame.pop("minute")]
    frame["interval_minutes"] = 1
    frame["payload_id"] = 1
    return frame


def test_per_slot_queue_is_each_queues_last_reading_summed_and_wait_is_served_weighted():
    rows = measures([
        ("a", 0, 4.0, 60.0, 3.0), ("a", 10, 6.0, 120.0, 1.0),  # slot 09:00: last length 6; waits 60 s x3, 120 s x1
        ("b", 5, 2.0, np.nan, 0.0),  # a second queue: its length adds up, no wait reported
        ("a", 16, 0.0, 30.0, np.nan),  # slot 09:15: no served count, weight 1
    ])  # fmt: skip
    out = queue_observations(rows, 15)
    assert out.index.tolist() == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(minutes=15))]
    assert out["queue_length"].tolist() == [8.0, 0.0]
    assert out["wait_minutes"].iloc[0] == pytest.approx((3 * 1 + 1 * 2) / 4)
    assert out["wait_minutes"].iloc[1] == pytest.approx(0.5)
    assert queue_observations(rows.iloc[:0], 15).empty


def test_training_series_carries_the_sites_queue_observations(sqlite_url, warehouse, make_site):
    engine = warehouse(sqlite_url)
    site = make_site("queue-site", forecast_resolution_minutes=15)
    counts = pd.DataFrame({
        "site_id": "queue-site", "counter_id": "main-door",
        "interval_start": pd.date_range(T0, periods=4, freq="15min"), "interval_minutes": 15,
        "entries": [10, 20, 30, 5], "exits": [1, 5, 20, 30], "occupancy": pd.NA,
    })  # fmt: skip
    from footfall.warehouse.counts import write_counts

    with engine.begin() as conn:
        ensure_site(conn, site)
        payload = land_body(conn, site_id=site.id, source="test", body=b"counts", received_at=T0)
        write_counts(conn, site.id, counts.assign(payload_id=payload), mode="merge", window=None)
        write_queue_measures(conn, site.id, measures([("a", 16, 3.0, 90.0, 2.0), ("a", 31, 1.0, 30.0, 2.0)]))
        write_queue_measures(conn, site.id, measures([("a", 31, 1.0, 45.0, 2.0)]))  # re-sent: the latest wins
    series = training_series(engine, site)
    assert series["wait_minutes"].tolist()[:3] == [pytest.approx(np.nan, nan_ok=True), 1.5, 0.75]
    assert series["queue_length"].iloc[1:3].tolist() == [3.0, 1.0]
