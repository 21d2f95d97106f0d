"""sync_window end to end against the simulator on SQLite: loads what the devices counted, refuses bad bodies."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from footfall.errors import ParseError, SiteDataError, ValidationFailed
from footfall.pipeline import run_site_window, sync_window
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.engine import upgrade
from footfall.warehouse.landing import read_body
from footfall_simulator import DeviceProfile, Fault, count_intervals

SOURCE = "http_json:axis_tvpc_export_json"
REFS = {"main-door": "SIM0000001", "side-door": "SIM0000002"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# 11:00-11:35 in Paris on Friday 2026-11-20; the simulator's clock is at 16:07 that day.
WINDOW = Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 10, 35))


def expected_counts(simulator, window: Window, resolution: int = 15) -> dict[tuple[str, datetime], tuple[int, int]]:
    """What the simulated devices counted for intervals starting in the window (the oracle)."""
    now = simulator.state.now()
    return {
        (counter_id, i.start_utc): (i.entries, i.exits)
        for counter_id, ref in REFS.items()
        for i in count_intervals(
            simulator.state.profile(ref), window.start, window.end, resolution, simulator.state.seed, now
        )
    }


def loaded_counts(engine) -> dict[tuple[str, datetime], tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.count_interval)).mappings().all()
    return {(r["counter_id"], r["interval_start"]): (r["entries"], r["exits"]) for r in rows}


def all_rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings().all()]


@pytest.fixture
def engine(sqlite_url, warehouse):
    return warehouse(sqlite_url)


def test_sync_window_loads_what_the_devices_counted(simulator, make_site, engine):
    result = sync_window(make_site(), WINDOW, engine=engine, run_id="test-run")

    expected = expected_counts(simulator, WINDOW)
    assert len(expected) == 6  # 10:00, 10:15, 10:30 for two counters
    assert sum(e for e, _ in expected.values()) > 0  # open hours: real traffic
    assert loaded_counts(engine) == expected
    assert (result.rows_loaded, result.rows_written, result.rows_deleted) == (6, 6, 0)
    assert result.rows_read == 2 * (16 * 4 + 1)  # the local day so far: 00:00 .. 16:00 local, every 15 minutes
    assert len(result.payload_ids) == 2
    (run,) = all_rows(engine, schema.sync_run)
    assert (run["run_id"], run["outcome"], run["stage"], run["rows_loaded"]) == ("test-run", "success", None, 6)
    assert (run["window_start"], run["window_end"]) == (WINDOW.start, WINDOW.end)
    assert {r["interval_minutes"] for r in all_rows(engine, schema.count_interval)} == {15}


def test_second_sync_of_the_same_window_changes_nothing(simulator, make_site, engine):
    site = make_site()
    sync_window(site, WINDOW, engine=engine)
    before = all_rows(engine, schema.count_interval), all_rows(engine, schema.raw_payload)
    result = sync_window(site, WINDOW, engine=engine)
    assert (result.rows_written, result.rows_deleted) == (0, 0)
    assert (all_rows(engine, schema.count_interval), all_rows(engine, schema.raw_payload)) == before


def test_interval_a_device_no_longer_reports_is_deleted(simulator, make_site, engine):
    site = make_site()
    sync_window(site, WINDOW, engine=engine)
    simulator.add_fault(
        Fault("gap", ref="SIM0000001", start_utc=utc(2026, 11, 20, 10, 15), end_utc=utc(2026, 11, 20, 10, 30))
    )
    result = sync_window(site, WINDOW, engine=engine)
    assert (result.rows_loaded, result.rows_deleted) == (5, 1)
    assert ("main-door", utc(2026, 11, 20, 10, 15)) not in loaded_counts(engine)
    assert loaded_counts(engine) == {
        k: v for k, v in expected_counts(simulator, WINDOW).items() if k != ("main-door", utc(2026, 11, 20, 10, 15))
    }


@pytest.mark.parametrize(
    ("day_start", "day_end", "intervals"),
    [
        (utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0), 92),  # 23-hour day: 02:00-02:59 never happens
        (utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0), 100),  # 25-hour day: 02:00-02:59 twice
    ],
    ids=["spring-2026-03-29", "autumn-2026-10-25"],
)
def test_dst_day_end_to_end(simulator, make_site, engine, day_start, day_end, intervals):
    always_open = {day: ("00:00", "24:00") for day in range(7)}
    for ref in REFS.values():
        simulator.set_profile(DeviceProfile(ref, opening_hours=always_open, peak_entries_per_hour=240))
    window = Window(day_start, day_end)

    result = sync_window(make_site(), window, engine=engine)

    expected = expected_counts(simulator, window)
    assert len(expected) == 2 * intervals
    loaded = loaded_counts(engine)
    assert loaded == expected
    assert result.rows_loaded == 2 * intervals
    starts = sorted({start for _, start in loaded})
    assert starts[0] == day_start and starts[-1] == day_end - timedelta(minutes=15)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(starts))  # no hole, no overlap


def test_run_site_window_widens_the_interval_by_the_lookback(simulator, registry, site_doc, sqlite_url, monkeypatch):
    registry.write(site_doc("lookback-site", source={**site_doc()["source"], "lookback_minutes": 45}))
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)
    upgrade(sqlite_url)

    summary = run_site_window("lookback-site", utc(2026, 11, 20, 10, 30), utc(2026, 11, 20, 10, 35), run_id="r1")

    assert summary["window_start"] == "2026-11-20T09:45:00+00:00"
    assert summary["window_end"] == "2026-11-20T10:35:00+00:00"
    assert summary["rows_loaded"] == 2 * 4  # 09:45, 10:00, 10:15, 10:30
    assert summary["payloads"] == 2


# --- bad input end to end -------------------------------------------------------------------------------

BAD_INPUTS = {
    "html": (Fault("malformed", params={"body": "html"}), ParseError, "not JSON (looks like an HTML page)"),
    "truncated": (Fault("malformed", params={"body": "truncated"}), ParseError, "not JSON"),
    "wrong_shape": (Fault("malformed", params={"body": "wrong_shape"}), ParseError, "wrong shape: no 'data'"),
    "negative": (
        Fault("malformed", params={"body": "negative"}),
        ParseError,
        "is negative",
    ),
    # Device clock 10 hours fast from 14:00 local: those intervals claim to be tomorrow, outside the day asked for.
    "outside_window": (
        Fault(
            "clock_shift", start_utc=utc(2026, 11, 20, 13, 0), end_utc=utc(2026, 11, 20, 15, 0), params={"hours": 10}
        ),
        ValidationFailed,
        "interval_start: column_values_to_be_between failed",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_kept(simulator, make_site, engine, case):
    fault, error_type, reason = BAD_INPUTS[case]
    site = make_site()
    sync_window(site, WINDOW, engine=engine, run_id="good-run")
    loaded_before = all_rows(engine, schema.count_interval)
    assert len(loaded_before) == 6

    simulator.add_fault(fault)
    with pytest.raises(SiteDataError) as info:
        sync_window(site, WINDOW, engine=engine, run_id="bad-run")

    err = info.value
    assert type(err) is error_type
    message = str(err)
    assert message.startswith(f"site test-site, source {SOURCE}: {err.stage} failed: ")
    assert reason in err.reason, err.reason
    assert err.payload_ids, "the failing body is named"
    assert message.endswith(f"(raw payload {', '.join(map(str, err.payload_ids))} kept)")

    # The raw answer is kept, with why it could not be used.
    payloads = {p["payload_id"]: p for p in all_rows(engine, schema.raw_payload)}
    for payload_id in err.payload_ids:
        kept = payloads[payload_id]
        assert kept["error"] == f"{err.stage}: {err.reason}"[:4000]
        assert read_body(kept["body"]), "the body is stored"
        assert kept["http_status"] == 200
    # Nothing from that batch is loaded; what earlier runs loaded is untouched.
    assert all_rows(engine, schema.count_interval) == loaded_before
    assert not {r["payload_id"] for r in loaded_before} & set(err.payload_ids)
    # The window's run record says it failed, where and why.
    (run,) = all_rows(engine, schema.sync_run)
    assert (run["run_id"], run["outcome"], run["stage"], run["rows_loaded"]) == ("bad-run", "failed", err.stage, 0)
    assert run["error"] == message

    # Once the device answers properly again, the same window loads and the record is replaced.
    simulator.clear_faults()
    sync_window(site, WINDOW, engine=engine, run_id="fixed-run")
    (run,) = all_rows(engine, schema.sync_run)
    assert (run["run_id"], run["outcome"], run["stage"], run["error"]) == ("fixed-run", "success", None, None)
    assert all_rows(engine, schema.count_interval) == loaded_before


def test_bad_input_on_a_first_sync_loads_nothing(simulator, make_site, engine):
    simulator.add_fault(Fault("malformed", ref="SIM0000002", params={"body": "truncated"}))
    with pytest.raises(ParseError) as info:
        sync_window(make_site(), WINDOW, engine=engine)
    assert all_rows(engine, schema.count_interval) == []
    payloads = sorted(all_rows(engine, schema.raw_payload), key=lambda p: p["payload_id"])
    assert [p["counter_ref"] for p in payloads] == ["SIM0000001", "SIM0000002"]
    assert payloads[0]["error"] is None
    assert payloads[1]["error"].startswith("normalize: not JSON")
    assert info.value.payload_ids == [payloads[1]["payload_id"]]


class Reports(logging.Handler):
    """The messages footfall.lifecycle logs (Airflow's logging setup may keep them from the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def run_log():
    logger, handler = logging.getLogger("footfall.lifecycle"), Reports()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_the_run_log_says_per_stage_what_happened_in_words(simulator, make_site, engine, run_log):
    """The task log a data team reads in the Airflow UI: a few lines, one per stage, no Python dict."""
    result = sync_window(make_site(), WINDOW, engine=engine, run_id="test-run")
    (report,) = run_log
    lines = report.splitlines()
    assert lines[0].startswith(f"site {result.site_id}, window 2026-11-20 10:00-2026-11-20 10:35 UTC")
    assert lines[1].startswith(f"  landed: 2 payload(s), {result.body_bytes:,} bytes")
    assert result.body_bytes > 0
    assert lines[2].startswith(
        f"  parsed: {2 * (16 * 4 + 1)} row(s), {2 * (16 * 4 + 1) - 6} outside the window left out,"
        " 0 record(s) without counts or repeated skipped"
    )
    assert lines[3].startswith("  replaced: 6 row(s): 6 written, 0 unchanged, 0 revised, 0 deleted")
    assert lines[4].startswith("  flags: ")
    assert lines[5].startswith("  took ")
    assert "{" not in report

    run_log.clear()
    sync_window(make_site(), WINDOW, engine=engine, run_id="again")
    (again,) = run_log
    assert "  replaced: 6 row(s): 0 written, 6 unchanged, 0 revised, 0 deleted" in again
