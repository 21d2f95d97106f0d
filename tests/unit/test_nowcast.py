"""The 2-hour nowcast: the day-ahead forecast rescaled by today's level, decaying back to it; UTC slots
of exactly two hours whatever the local clock does (Europe/Paris DST days); nothing from stale data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from footfall.forecast import nowcast
from footfall.forecast.nowcast import HALF_LIFE_MINUTES, RATIO_BOUNDS, Observed, nowcast_rows
from footfall.warehouse.share import ForecastSlot, with_nowcast

STEP = timedelta(minutes=15)


def slots(start: datetime, count: int, median: float = 100.0, closed_from: datetime | None = None) -> list:
    out = []
    for i in range(count):
        slot = start + i * STEP
        m = 0.0 if closed_from is not None and slot >= closed_from else median
        out.append(
            SimpleNamespace(
                slot_start=slot, slot_minutes=15, occupancy_p10=0.8 * m, occupancy_p50=m, occupancy_p90=1.3 * m,
                wait_minutes=1.5,
            )
        )  # fmt: skip
    return out


def corrected(last_start: datetime, values: list[float], minutes: int = 15) -> pd.DataFrame:
    starts = [last_start - (len(values) - 1 - i) * timedelta(minutes=minutes) for i in range(len(values))]
    return pd.DataFrame({"interval_start": pd.to_datetime(starts, utc=True), "corrected_occupancy": values})


def test_today_busier_than_forecast_lifts_the_next_slots_and_decays(make_site):
    site = make_site(capacity=600)  # shrink k = max(5, 2 % of 600) = 12
    now = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
    observed = Observed.from_corrected(corrected(datetime(2026, 11, 20, 14, 45, tzinfo=UTC), [150.0] * 8))
    assert observed is not None and observed.as_of == pd.Timestamp("2026-11-20T15:00Z")
    rows = nowcast_rows(site, observed, slots(datetime(2026, 11, 20, 12, tzinfo=UTC), 24), now)
    # From the slot after the last observation to two hours after it: 15:00 .. 16:45.
    assert [r["slot_start"] for r in rows] == [datetime(2026, 11, 20, 15, tzinfo=UTC) + i * STEP for i in range(8)]
    ratio = (150 + 12) / (100 + 12)  # the last hour's four readings against the forecast at the same instants
    for i, row in enumerate(rows):
        weight = 0.5 ** ((i + 1) * 15 / HALF_LIFE_MINUTES)
        assert row["occupancy_p50"] == pytest.approx(100 * (1 + (ratio - 1) * weight), abs=1e-3)
        assert row["occupancy_p10"] == pytest.approx(80 * (1 + (ratio - 1) * weight), abs=1e-3)
        assert row["occupancy_p90"] == pytest.approx(130 * (1 + (ratio - 1) * weight), abs=1e-3)
        assert row["wait_minutes"] == 1.5 and row["issued_at"] == now and row["method"] == nowcast.METHOD
    medians = [r["occupancy_p50"] for r in rows]
    assert medians == sorted(medians, reverse=True) and medians[0] > medians[-1] > 100


def test_ratio_is_bounded_and_a_closed_slot_stays_empty(make_site):
    site = make_site(capacity=200)
    last = datetime(2026, 11, 20, 18, 45, tzinfo=UTC)
    observed = Observed.from_corrected(corrected(last, [900.0] * 4))
    assert observed is not None
    closing = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
    rows = nowcast_rows(site, observed, slots(datetime(2026, 11, 20, 17, tzinfo=UTC), 16, closed_from=closing), last)
    first = rows[0]
    assert first["occupancy_p50"] == pytest.approx(
        100 * (1 + (RATIO_BOUNDS[1] - 1) * 0.5 ** (15 / HALF_LIFE_MINUTES)), abs=1e-3
    )  # 900 against 100: the bound
    assert all(r["occupancy_p50"] == 0 for r in rows if r["slot_start"] >= closing)


@pytest.mark.parametrize(
    "last_start",
    [
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # 01:30 CET; at 01:00Z Paris jumps from 02:00 to 03:00
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),  # 02:00 CEST; at 01:00Z Paris goes back from 03:00 to 02:00
    ],
)
def test_dst_days_nowcast_exactly_two_hours_of_utc_slots(make_site, last_start):
    site = make_site(timezone="Europe/Paris")
    observed = Observed.from_corrected(corrected(last_start, [60.0] * 4))
    assert observed is not None
    rows = nowcast_rows(site, observed, slots(last_start - timedelta(hours=2), 20), last_start + STEP)
    starts = [r["slot_start"] for r in rows]
    assert len(rows) == 8 and starts[0] == last_start + STEP
    assert np.all(np.diff([s.timestamp() for s in starts]) == 900)
    assert starts[-1] + STEP - (last_start + STEP) == timedelta(hours=2)
    # 2 h of real time: 3 or 1 hours apart on the local clock across the change.
    local = [s.astimezone(site.zone) for s in (starts[0], starts[-1] + STEP)]
    wall = (local[1].replace(tzinfo=None) - local[0].replace(tzinfo=None)).total_seconds() / 3600
    assert wall == (3 if last_start.month == 3 else 1)


def test_stale_data_publishes_nothing(make_site):
    site = make_site()  # quality.stale_minutes defaults to 60
    observed = Observed.from_corrected(corrected(datetime(2026, 11, 20, 12, tzinfo=UTC), [50.0]))
    assert observed is not None
    assert nowcast.fresh(site, observed, datetime(2026, 11, 20, 13, 5, tzinfo=UTC))  # as_of 12:05 (5-minute step)
    assert not nowcast.fresh(site, observed, datetime(2026, 11, 20, 13, 6, tzinfo=UTC))
    assert nowcast.publish_nowcast(None, site, corrected(datetime(2026, 11, 20, 12, tzinfo=UTC), [50.0]),
                                   datetime(2026, 12, 1, tzinfo=UTC)) is None  # fmt: skip
    assert Observed.from_corrected(pd.DataFrame(columns=["interval_start", "corrected_occupancy"])) is None


def test_without_a_forecast_there_is_no_nowcast(make_site):
    observed = Observed.from_corrected(corrected(datetime(2026, 11, 20, 14, 45, tzinfo=UTC), [50.0]))
    assert observed is not None
    assert nowcast_rows(make_site(), observed, [], datetime(2026, 11, 20, 15, tzinfo=UTC)) == []


def test_share_reads_nowcast_slots_over_the_forecast():
    t0 = datetime(2026, 11, 20, 15, tzinfo=UTC)
    forecast = [ForecastSlot(t0 + i * STEP, 15, 1.0, 2.0, 3.0, None) for i in range(4)]
    now = [ForecastSlot(t0 + i * STEP, 15, 10.0, 20.0, 30.0, 0.5) for i in (1, 2)]
    merged = with_nowcast(forecast, now)
    assert [s.median for s in merged] == [2.0, 20.0, 20.0, 2.0]
    assert with_nowcast(forecast, []) is forecast


def test_replacing_keeps_only_the_latest_runs_slots(sqlite_url, warehouse):
    from sqlalchemy import select

    from footfall.warehouse import schema
    from footfall.warehouse.forecasts import replace_site_nowcast

    engine = warehouse(sqlite_url)
    t0 = datetime(2026, 11, 20, 15, tzinfo=UTC)

    def rows(first: int, count: int, value: float) -> list[dict]:
        return [
            {"site_id": "s", "slot_start": t0 + (first + i) * STEP, "slot_minutes": 15, "issued_at": t0,
             "as_of": t0, "method": "m", "occupancy_p10": value, "occupancy_p50": value, "occupancy_p90": value,
             "wait_minutes": None}
            for i in range(count)
        ]  # fmt: skip

    def stored() -> list[tuple]:
        with engine.connect() as conn:
            n = schema.nowcast.c
            return [(r.slot_start, r.occupancy_p50) for r in conn.execute(select(n.slot_start, n.occupancy_p50))]

    with engine.begin() as conn:
        replace_site_nowcast(conn, "s", rows(0, 8, 1.0))
    with engine.begin() as conn:
        replace_site_nowcast(conn, "s", rows(1, 8, 2.0))  # the next cycle: one slot later
    assert sorted(stored()) == [(t0 + (1 + i) * STEP, 2.0) for i in range(8)]
    with engine.begin() as conn:
        replace_site_nowcast(conn, "s", [])  # no forecast any more: nothing left
    assert stored() == []


def test_the_rescaling_is_element_wise_for_the_bench_on_real_datasets():
    ratio = nowcast.bounded_ratio(np.array([15.0, 1000.0, 0.0]), np.array([5.0, 5.0, 5.0]), 5.0)
    assert ratio.tolist() == [2.0, RATIO_BOUNDS[1], 0.5]
    out = nowcast.rescaled(np.array([10.0, 10.0, 10.0]), ratio, np.array([0.0, HALF_LIFE_MINUTES, -30.0]))
    assert out.tolist() == [20.0, 10.0 * (1 + (RATIO_BOUNDS[1] - 1) * 0.5), 5.0]  # now: all of r; a half-life: half
    assert nowcast.shrink_people(None) == nowcast.SHRINK_MIN_PEOPLE and nowcast.shrink_people(1000) == 20.0
    assert nowcast.rescaled(10.0, 2.0, 60.0, half_life=60.0) == 15.0  # another half-life, for the bench's candidates
