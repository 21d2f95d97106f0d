"""Data quality in the pipeline, on SQLite and PostgreSQL: a week synced from the simulator with
injected faults stores the expected flags and corrected occupancy; a rerun replaces them; a broken
check is visible (ERROR log, quality_run) and never undoes the load."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from table_rows import comparable_rows

from footfall.pipeline import sync_window
from footfall.quality import registry, runner
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall_simulator import Fault

# The simulator's default devices open 08:00-20:00 on weekdays and 09:00-18:00 on Saturdays (Paris).
HOURS = {"regular": {**{d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri")}, "sat": "09:00-18:00"}}
# Seven site-days, Friday 13 to Thursday 19 November 2026 (Paris is UTC+1).
WEEK = Window(datetime(2026, 11, 12, 23, tzinfo=UTC), datetime(2026, 11, 19, 23, tzinfo=UTC))
WEDNESDAY = (datetime(2026, 11, 17, 23, tzinfo=UTC), datetime(2026, 11, 18, 23, tzinfo=UTC))
STUCK = (datetime(2026, 11, 19, 9, tzinfo=UTC), datetime(2026, 11, 19, 12, tzinfo=UTC))
TABLES = (schema.quality_flag, schema.occupancy_corrected, schema.quality_run)
VOLATILE = {"flag_id", "created_at", "finished_at", "run_id", "gx_result"}  # GX stamps its load time


@pytest.fixture
def engine(db_url, warehouse):
    return warehouse(db_url)


@pytest.fixture
def site(make_site):
    return make_site(capacity=None, opening_hours=HOURS)


@pytest.fixture
def faulty(simulator):
    """Wednesday's exits halved on both doors; the main door stuck at zero 10:00-13:00 on Thursday."""
    simulator.add_fault(Fault("imbalance", start_utc=WEDNESDAY[0], end_utc=WEDNESDAY[1], params={"exit_factor": 0.5}))
    simulator.add_fault(Fault("stuck", ref="SIM0000001", start_utc=STUCK[0], end_utc=STUCK[1]))
    return simulator


def rows(engine, table) -> list[dict]:
    return comparable_rows(engine, table, VOLATILE)


def high_flags(engine) -> set[tuple]:
    return {
        (r["check_name"], r["counter_id"], r["period_start"], r["period_end"])
        for r in rows(engine, schema.quality_flag)
        if r["severity"] == "high"
    }


def test_injected_faults_store_flags_and_corrected_occupancy(faulty, site, engine):
    sync_window(site, WEEK, engine=engine, run_id="week")

    assert high_flags(engine) == {
        ("imbalance", None, *WEDNESDAY),
        ("stuck_counter", "main-door", *STUCK),
    }
    flags = rows(engine, schema.quality_flag)
    assert {r["run_id"] for r in db_rows(engine, schema.quality_flag)} == {"week"}
    stuck = next(r for r in flags if r["check_name"] == "stuck_counter")
    assert stuck["observed"] == 0 and stuck["expected"] >= 20
    imbalance = next(r for r in flags if r["check_name"] == "imbalance")
    assert json.loads(imbalance["evidence"])  # the numbers behind the flag

    occupancy = rows(engine, schema.occupancy_corrected)
    assert len(occupancy) == 7 * 96  # every 15-minute interval of the week, once
    wednesday = [r for r in occupancy if r["local_date"].isoformat() == "2026-11-18"]
    factor = wednesday[0]["correction_factor"]
    assert factor == pytest.approx(2.0, rel=0.05)  # entries / halved exits
    assert all(r["correction_factor"] == factor for r in wednesday)
    # The corrected occupancy of the imbalanced day comes back to about zero at closing, the raw one does not.
    last = max(wednesday, key=lambda r: r["interval_start"])
    assert abs(last["corrected_occupancy"]) < 0.1 * abs(last["raw_net_occupancy"])

    (run,) = rows(engine, schema.quality_run)
    assert (run["checked_start"], run["checked_end"], run["gx_success"], run["flags"]) == (
        WEEK.start,
        WEEK.end,
        True,
        len(flags),
    )
    assert "check_errors" not in json.loads(run["gx_statistics"])
    # Raw counts are never changed by the checks: what was loaded is what the devices reported.
    with engine.connect() as conn:
        zeros = conn.execute(
            select(func.count()).where(
                schema.count_interval.c.counter_id == "main-door",
                schema.count_interval.c.interval_start >= STUCK[0],
                schema.count_interval.c.interval_start < STUCK[1],
                schema.count_interval.c.entries == 0,
            )
        ).scalar_one()
    assert zeros == 12


def db_rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings().all()]


def test_the_same_window_twice_leaves_identical_quality_tables(faulty, site, engine):
    sync_window(site, WEEK, engine=engine, run_id="first")
    first = {t.name: rows(engine, t) for t in TABLES}
    sync_window(site, WEEK, engine=engine, run_id="second")
    assert {t.name: rows(engine, t) for t in TABLES} == first
    assert {r["run_id"] for r in db_rows(engine, schema.quality_flag)} == {"second"}  # replaced, not appended
    assert len(db_rows(engine, schema.quality_run)) == 1


def test_a_shorter_rerun_replaces_only_its_own_days(faulty, site, engine):
    sync_window(site, WEEK, engine=engine, run_id="week")
    before = high_flags(engine)
    thursday = Window(datetime(2026, 11, 19, 10, tzinfo=UTC), datetime(2026, 11, 19, 11, tzinfo=UTC))
    sync_window(site, thursday, engine=engine, run_id="thursday")
    assert high_flags(engine) == before  # Wednesday's flag is kept, Thursday's is recomputed once
    stuck = [r for r in db_rows(engine, schema.quality_flag) if r["check_name"] == "stuck_counter"]
    assert [r["run_id"] for r in stuck] == ["thursday"]


def broken(prepared):
    raise RuntimeError("boom")


def test_a_broken_check_is_visible_and_never_undoes_the_load(faulty, site, engine, monkeypatch, caplog):
    checks = tuple(dataclasses.replace(c, run=broken) if c.name == "imbalance" else c for c in registry.CHECKS)
    monkeypatch.setattr(registry, "CHECKS", checks)
    with caplog.at_level(logging.ERROR):
        result = sync_window(site, WEEK, engine=engine, run_id="broken")

    assert result.rows_loaded == 7 * 96 * 2  # the load stands
    assert len(db_rows(engine, schema.count_interval)) == 7 * 96 * 2
    # The other checks still ran and stored their flags.
    assert high_flags(engine) == {("stuck_counter", "main-door", *STUCK)}
    assert len(rows(engine, schema.occupancy_corrected)) == 7 * 96
    (run,) = rows(engine, schema.quality_run)
    assert json.loads(run["gx_statistics"])["check_errors"] == {"imbalance": "RuntimeError: boom"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(site.id in r.getMessage() and "imbalance" in r.getMessage() for r in errors)


def test_a_failing_quality_run_is_recorded_and_the_load_stands(faulty, site, engine, monkeypatch, caplog):
    def fail(*args, **kwargs):
        raise RuntimeError("history unreadable")

    monkeypatch.setattr(runner, "read_count_ranges", fail)
    with caplog.at_level(logging.ERROR):
        result = sync_window(site, WEEK, engine=engine, run_id="failed")

    assert result.rows_loaded == 7 * 96 * 2
    assert rows(engine, schema.quality_flag) == []
    (run,) = db_rows(engine, schema.quality_run)
    assert run["run_id"] == "failed" and run["flags"] == 0
    assert json.loads(run["gx_statistics"])["check_errors"] == {"quality_run": "RuntimeError: history unreadable"}
    assert any(r.levelno >= logging.ERROR and site.id in r.getMessage() for r in caplog.records)
