"""The bulk quality run (runner.check_windows, for history imports and backfills over many sites) leaves
exactly the tables that check_window site by site leaves, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete
from table_rows import comparable_rows

from footfall.pipeline import sync_window
from footfall.quality import runner
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall_simulator import Fault

HOURS = {"regular": {**{d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri")}, "sat": "09:00-18:00"}}
WEEK = Window(datetime(2026, 11, 12, 23, tzinfo=UTC), datetime(2026, 11, 19, 23, tzinfo=UTC))
THURSDAY = Window(datetime(2026, 11, 18, 23, tzinfo=UTC), datetime(2026, 11, 19, 23, tzinfo=UTC))
TABLES = (schema.quality_flag, schema.occupancy_corrected, schema.quality_run)
VOLATILE = {"flag_id", "created_at", "finished_at"}
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def engine(db_url, warehouse):
    return warehouse(db_url)


@pytest.fixture
def sites(make_site, simulator):
    """Three sites on the simulator: unbalanced Wednesday everywhere; hours, capacity and zone differ."""
    simulator.add_fault(
        Fault(
            "imbalance",
            start_utc=datetime(2026, 11, 17, 23, tzinfo=UTC),
            end_utc=datetime(2026, 11, 18, 23, tzinfo=UTC),
            params={"exit_factor": 0.5},
        )
    )
    simulator.add_fault(
        Fault("stuck", ref="SIM0000001", start_utc=datetime(2026, 11, 19, 9, tzinfo=UTC), end_utc=THURSDAY.end)
    )
    return [
        make_site("bulk-a", capacity=None, opening_hours=HOURS),
        make_site("bulk-b", capacity=40, opening_hours=HOURS),
        make_site("bulk-c", capacity=None, timezone="America/New_York"),
    ]


def tables(engine) -> dict[str, list[dict]]:
    return {t.name: comparable_rows(engine, t, VOLATILE) for t in TABLES}


def clear(engine) -> None:
    with engine.begin() as conn:
        for t in TABLES:
            conn.execute(delete(t))


@pytest.mark.parametrize("window", [WEEK, THURSDAY, "per site"], ids=["week", "thursday", "per-site"])
def test_check_windows_stores_what_check_window_stores_site_by_site(sites, engine, window):
    for site in sites:
        sync_window(site, WEEK, engine=engine, run_id="load")
    clear(engine)
    windows = {s.id: w for s, w in zip(sites, [WEEK, THURSDAY, WEEK], strict=True)} if window == "per site" else None
    own = windows or dict.fromkeys((s.id for s in sites), window)
    one_by_one = {s.id: runner.check_window(engine, s, own[s.id], run_id="r", now=NOW) for s in sites}
    expected = tables(engine)
    clear(engine)
    together = runner.check_windows(engine, sites, windows or window, run_id="r", now=NOW)
    assert tables(engine) == expected
    assert len(expected["quality_flag"]) > 0 and len(expected["occupancy_corrected"]) > 0
    assert {r["site_id"] for r in expected["quality_run"]} == {s.id for s in sites}
    for site in sites:
        assert together[site.id].checked == one_by_one[site.id].checked
        assert len(together[site.id].flags) == len(one_by_one[site.id].flags)


def test_run_after_load_sites_records_a_failed_run_for_every_site(sites, engine, monkeypatch, caplog):
    for site in sites:
        sync_window(site, THURSDAY, engine=engine, run_id="load")
    clear(engine)

    def fail(*args, **kwargs):
        raise RuntimeError("history unreadable")

    monkeypatch.setattr(runner, "read_counts_sites", fail)
    runner.run_after_load_sites(engine, sites, THURSDAY, run_id="bulk")  # never raises
    runs = tables(engine)["quality_run"]
    assert sorted(r["site_id"] for r in runs) == sorted(s.id for s in sites)
    assert {json.loads(r["gx_statistics"])["check_errors"]["quality_run"] for r in runs} == {
        "RuntimeError: history unreadable"
    }
    assert tables(engine)["quality_flag"] == []


def test_check_window_on_the_rows_just_loaded_stores_what_reading_them_back_stores(sites, engine, monkeypatch):
    """The pipeline hands the checks the rows it loaded (only the history around the window is read):
    same flags and corrected occupancy as a run that reads the whole range back, missing counts included."""
    from footfall import lifecycle

    loaded: dict[str, object] = {}
    real_write = lifecycle.write_counts

    def keep_rows(conn, site_id, rows, **kwargs):
        loaded[site_id] = rows
        return real_write(conn, site_id, rows, **kwargs)

    monkeypatch.setattr(lifecycle, "write_counts", keep_rows)
    for site in sites:
        sync_window(site, WEEK, engine=engine, run_id="load")
    assert any(loaded[s.id]["occupancy"].isna().all() for s in sites)  # a column missing throughout: float64
    for site in sites:
        clear(engine)
        read_back = runner.check_window(engine, site, THURSDAY, run_id="r", now=NOW)
        expected = tables(engine)
        clear(engine)
        handed = runner.check_window(engine, site, THURSDAY, run_id="r", now=NOW, loaded=loaded[site.id])
        assert tables(engine) == expected
        assert handed.checked == read_back.checked
        assert handed.flags.equals(read_back.flags)
        assert handed.occupancy.equals(read_back.occupancy)
    assert len(expected["occupancy_corrected"]) > 0
