"""Live runs between full checks (footfall.cadence), on SQLite and PostgreSQL: every run refreshes the
site-day's corrected occupancy (what /now reads) without touching flags or running a check, and the
hour's full check leaves the tables exactly as checking on every run would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from table_rows import comparable_rows

from footfall.cadence import full_checks_due
from footfall.pipeline import sync_window
from footfall.quality import runner
from footfall.timewindow import Window, load_window
from footfall.warehouse import schema
from footfall_simulator import Fault

STEP = timedelta(minutes=5)
DAY = Window(datetime(2026, 11, 17, 23, tzinfo=UTC), datetime(2026, 11, 18, 9, tzinfo=UTC))  # Wednesday, Paris
HOUR_END = DAY.end + timedelta(hours=1)
VOLATILE = {"flag_id", "created_at", "finished_at", "run_id", "gx_result"}


@pytest.fixture
def engine(db_url, warehouse):
    return warehouse(db_url)


@pytest.fixture
def site(make_site):
    source = {
        "kind": "http_json",
        "preset": "axis_tvpc_export_json",
        "connection_id": "footfall_sim",
        "lookback_minutes": 30,
        "options": {"base_path": "/devices/{counter_ref}", "res": "5m"},
    }
    return make_site("cadence-site", source=source, opening_hours={"regular": {"wed": "10:00-20:00"}})


def rows(engine, table) -> list[dict]:
    return comparable_rows(engine, table, VOLATILE)


def live_runs(site, engine, *, every_run_full: bool) -> list[bool]:
    """The hour after DAY's end as twelve scheduled 5-minute runs; returns which checked in full."""
    done = []
    for i in range(12):
        interval = Window(DAY.end + i * STEP, DAY.end + (i + 1) * STEP)
        run_id = f"scheduled__{interval.start.isoformat()}"
        full = every_run_full or full_checks_due(site, interval, run_id)
        sync_window(site, load_window(interval.start, interval.end, 30), engine=engine, run_id=run_id, full_checks=full)
        done.append(full)
        if not full:
            with engine.connect() as conn:
                newest = conn.execute(
                    select(func.max(schema.occupancy_corrected.c.interval_start)).where(
                        schema.occupancy_corrected.c.site_id == site.id
                    )
                ).scalar_one()
            assert newest == interval.end - STEP  # /now is as fresh as the data
    return done


def test_runs_between_full_checks_refresh_occupancy_and_leave_flags(simulator, site, engine, monkeypatch):
    sync_window(site, DAY, engine=engine, run_id="manual__morning")  # the morning, checked in full
    flags_before = rows(engine, schema.quality_flag)
    assert any(f["check_name"] == "counts_while_closed" for f in flags_before)  # the devices count from 08:00

    calls: list[str] = []
    real = runner.check_sites
    monkeypatch.setattr(runner, "check_sites", lambda *a, **k: calls.append("check") or real(*a, **k))
    seen_flags = []
    for i in range(12):
        interval = Window(DAY.end + i * STEP, DAY.end + (i + 1) * STEP)
        run_id = f"scheduled__{interval.start.isoformat()}"
        if full_checks_due(site, interval, run_id):
            break  # the slot's full check: the second test compares it
        sync_window(
            site, load_window(interval.start, interval.end, 30), engine=engine, run_id=run_id, full_checks=False
        )
        seen_flags.append(rows(engine, schema.quality_flag))
    assert calls == []  # no check ran between full checks
    assert all(f == flags_before for f in seen_flags)  # flags stand as the last full check left them
    with engine.connect() as conn:
        runs = conn.execute(select(schema.quality_run.c.flags, schema.quality_run.c.gx_success)).all()
    assert all(success for _, success in runs) and max(n for n, _ in runs) == len(flags_before)


def test_the_hours_full_check_matches_checking_on_every_run(simulator, site, engine):
    simulator.add_fault(Fault("stuck", ref="SIM0000001", start_utc=DAY.end, end_utc=HOUR_END))
    sync_window(site, DAY, engine=engine, run_id="manual__morning")
    full = live_runs(site, engine, every_run_full=False)
    assert full.count(True) == 1  # one full check in the hour
    last_full = full.index(True)
    cadence = {t.name: rows(engine, t) for t in (schema.quality_flag, schema.occupancy_corrected)}

    live_runs(site, engine, every_run_full=True)  # the same hour, every run checked in full
    every_run = {t.name: rows(engine, t) for t in (schema.quality_flag, schema.occupancy_corrected)}
    assert every_run[schema.occupancy_corrected.name] == cadence[schema.occupancy_corrected.name]
    if last_full == 11:  # the slot was the hour's last run: the flags are those of checking every run
        assert every_run[schema.quality_flag.name] == cadence[schema.quality_flag.name]
    else:  # flags found since the slot's check wait for the next one; those up to it are the same
        cut = DAY.end + (last_full + 1) * STEP
        older = [f for f in cadence[schema.quality_flag.name] if f["period_end"] <= cut - timedelta(hours=1)]
        assert older == [f for f in every_run[schema.quality_flag.name] if f["period_end"] <= cut - timedelta(hours=1)]
