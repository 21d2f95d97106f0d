"""Vendor-side faults through the real simulator and the real pipeline (SQLite and PostgreSQL).

Each fault is injected with the simulator's control API while a window is pulled; the warehouse
is then checked: a failed pull loads nothing of its window (no half-loaded window), records where
it failed and keeps what the source answered; once the fault is over the same window loads to
exactly what a clean run loads (no gap, no duplicate); a fault the data itself shows raises its flag.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fault_figures import compare, count_rows, record
from sqlalchemy import Engine, select

from footfall.config import Site
from footfall.errors import SiteDataError
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall_simulator import Fault, SimulatorHandle

# Friday 20 November 2026, 13:00-14:00 UTC (14:00-15:00 in Paris, open): before the simulator's now.
WINDOW = Window(datetime(2026, 11, 20, 13, tzinfo=UTC), datetime(2026, 11, 20, 14, tzinfo=UTC))


@pytest.fixture
def engine(db_url, warehouse) -> Engine:
    return warehouse(db_url)


@pytest.fixture
def site(make_site, site_doc) -> Site:
    """The two-door Axis site, with a 1 s timeout so that the slow faults stay quick."""
    source = {**site_doc()["source"], "timeout_seconds": 1.0}
    return make_site(source=source)


@pytest.fixture
def clean(site, simulator, tmp_path, warehouse) -> dict:
    """What one clean run of WINDOW loads (in a warehouse of its own)."""
    reference = warehouse(f"sqlite:///{tmp_path / 'clean.db'}")
    sync_window(site, WINDOW, engine=reference, run_id="clean")
    rows = count_rows(reference)
    assert len(rows) == 2 * 4  # two doors, four 15-minute intervals
    return rows


def sync_runs(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(schema.sync_run)).mappings()]


def payload_errors(engine: Engine) -> list[str | None]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(schema.raw_payload.c.error).order_by(schema.raw_payload.c.payload_id)).scalars()
        )


FAILING = {
    "http_500": (Fault("http_500"), "extract", r"HTTP 500"),
    "timeout": (Fault("timeout", params={"seconds": 5}), "extract", r"ReadTimeout|timed out"),
    "slow_drip": (
        Fault("slow_drip", params={"seconds": 0.4, "chunk_bytes": 8}),
        "extract",
        r"body not received within 1 s \(timeout_seconds\)",
    ),
    "cut": (Fault("cut", params={"fraction": 0.5}), "extract", r"body cut short after \d+ bytes"),
    "html_200": (Fault("malformed", params={"body": "html"}), "normalize", r"not JSON \(looks like an HTML page\)"),
    "truncated_json": (Fault("malformed", params={"body": "truncated"}), "normalize", r"not JSON"),
}


@pytest.mark.parametrize("kind", sorted(FAILING))
def test_a_failing_pull_loads_nothing_and_the_window_loads_whole_once_the_fault_is_over(
    kind, site, simulator: SimulatorHandle, engine, clean
):
    fault, stage, reason = FAILING[kind]
    sync_window(site, WINDOW, engine=engine, run_id="before")  # the window was loaded once already
    before = count_rows(engine)
    # The fault lasts for one device, on a re-run of the same window (an Airflow retry, a backfill).
    simulator.add_fault(Fault(fault.kind, ref="SIM0000002", params=dict(fault.params)))
    started = time.monotonic()
    with pytest.raises(SiteDataError, match=reason):
        sync_window(site, WINDOW, engine=engine, run_id="faulty")
    failed_in = time.monotonic() - started
    assert failed_in < 20, f"{kind}: the failing pull took {failed_in:.1f} s"
    during = count_rows(engine)
    assert during == before, f"{kind}: a failed re-run changed the window"
    (run,) = sync_runs(engine)
    assert (run["run_id"], run["outcome"], run["stage"]) == ("faulty", "failed", stage)
    if stage == "normalize" or kind == "cut":
        assert any(e for e in payload_errors(engine)), "the answer that could not be used is kept, with why"

    # First pull of a fresh window under the fault: nothing of the window is loaded, not one door of two.
    fresh = Window(WINDOW.start - timedelta(hours=1), WINDOW.start)
    with pytest.raises(SiteDataError, match=reason):
        sync_window(site, fresh, engine=engine, run_id="fresh-faulty")
    fresh_rows = [k for k in count_rows(engine) if fresh.start <= k[2] < fresh.end]
    assert fresh_rows == [], f"{kind}: half of a window was loaded"

    simulator.clear_faults()
    sync_window(site, WINDOW, engine=engine, run_id="after")
    after = {k: v for k, v in count_rows(engine).items() if WINDOW.start <= k[2] < WINDOW.end}
    lost, doubled = compare(clean, after)
    assert (lost, doubled) == (0, 0)
    assert after == clean
    record(
        f"vendor {kind} ({engine.dialect.name})",
        faults=2,
        tried=3,
        lost=lost,
        doubled=doubled,
        half_loaded=int(bool(fresh_rows)),  # a failed pull of a fresh window: any row is a part
        seconds_to_fail=round(failed_in, 2),
    )


def test_a_body_that_changes_between_two_pulls_latest_wins_and_the_revision_is_kept(
    site, simulator: SimulatorHandle, engine, clean
):
    simulator.add_fault(Fault("changing", params={"step": 3}))
    sync_window(site, WINDOW, engine=engine, run_id="first")  # pull 0 of the fault: clean counts
    assert count_rows(engine) == clean
    sync_window(site, WINDOW, engine=engine, run_id="second")  # pull 1: every count 3 higher
    second = count_rows(engine)
    assert set(second) == set(clean), "the same intervals, none doubled"
    for key, (minutes, entries, exits, _occupancy) in second.items():
        assert (minutes, entries, exits) == (clean[key][0], clean[key][1] + 3, clean[key][2] + 3)
    with engine.connect() as conn:
        revisions = conn.execute(select(schema.interval_revision)).mappings().all()
    assert len(revisions) == len(clean)  # each changed interval once, with its old and new values
    assert all(r["new_entries"] == r["old_entries"] + 3 for r in revisions)
    simulator.clear_faults()
    sync_window(site, WINDOW, engine=engine, run_id="third")
    assert count_rows(engine) == clean
    record(
        f"vendor body changing between pulls ({engine.dialect.name})",
        faults=1,
        tried=3,
        lost=0,
        doubled=0,
        half_loaded=0,
    )


def test_a_device_clock_back_an_hour_and_forward_again(site, simulator: SimulatorHandle, engine, warehouse, tmp_path):
    """The main door's clock runs an hour behind from 12:00 to 14:00 UTC, then is right again: its
    log then holds 11:00-13:00 twice. A pull is refused whole, naming the repeated records (not one
    door of two, not the first of two values). The export answers whole local days, so while the
    log holds the repeats every window of that day is refused (a failed run each, visible and
    alerted), also those after the clock came right; once the device's log is corrected the day
    loads whole, as one clean run loads it."""
    day = Window(datetime(2026, 11, 19, 23, tzinfo=UTC), datetime(2026, 11, 20, 15, tzinfo=UTC))
    reference = warehouse(f"sqlite:///{tmp_path / 'clean-day.db'}")
    sync_window(site, day, engine=reference, run_id="clean")
    clean_day = count_rows(reference)
    back = datetime(2026, 11, 20, 12, tzinfo=UTC)
    simulator.add_fault(
        Fault("clock_shift", ref="SIM0000001", start_utc=back, end_utc=back + timedelta(hours=2), params={"hours": -1})
    )
    repeated = r"normalize failed: record \d+ and record \d+: device 'SIM0000001' has two records for .* with different"
    with pytest.raises(SiteDataError, match=repeated):
        sync_window(site, day, engine=engine, run_id="shifted")
    assert count_rows(engine) == {}, "nothing of the refused day is loaded"
    assert len(payload_errors(engine)) == 2, "both doors' answers are kept for inspection"
    (run,) = sync_runs(engine)
    assert (run["outcome"], run["stage"]) == ("failed", "normalize")

    # After the clock is right again, a live window of the same day is refused the same way.
    later = Window(datetime(2026, 11, 20, 14, tzinfo=UTC), datetime(2026, 11, 20, 15, tzinfo=UTC))
    with pytest.raises(SiteDataError, match=repeated):
        sync_window(site, later, engine=engine, run_id="later")
    assert count_rows(engine) == {}

    simulator.clear_faults()  # the vendor re-generates the device's log with the right time
    sync_window(site, day, engine=engine, run_id="corrected")
    lost, doubled = compare(clean_day, count_rows(engine))
    assert (lost, doubled) == (0, 0)
    record(
        f"vendor clock back 1 h and forward ({engine.dialect.name})",
        faults=1,
        tried=3,
        lost=lost,
        doubled=doubled,
        half_loaded=0,
    )
