"""Discrepancy checks on the merge paths, on SQLite and PostgreSQL: a push site's run and a file-folder
site's run check their window and every day the merged intervals fall on (a late batch may hold last
week), store the same flags a pulled week with the same faults gets, and a rerun leaves the same tables."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import test_api
from conftest import SIM_NOW, SIM_SEED
from sqlalchemy import select, update
from table_rows import comparable_rows
from test_api import post

from footfall.api.tokens import create_token
from footfall.config import Site
from footfall.errors import ParseError
from footfall.lifecycle import touched_span
from footfall.pipeline import sync_window
from footfall.replay import replay
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall_simulator import DeviceProfile, Fault, SimInterval, counts_with_faults

api, tls = test_api.api, test_api.tls  # shared fixtures: the HTTPS service over `push_engine`
PARIS = ZoneInfo("Europe/Paris")
PUSH_SITE, FILE_SITE = "push-site", "file-site"
REFS = {"SIM0000001": "main-door", "SIM0000002": "side-door"}
# The simulator's default devices open 08:00-20:00 on weekdays and 09:00-18:00 on Saturdays (Paris).
HOURS = {"regular": {**{d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri")}, "sat": "09:00-18:00"}}
# Seven site-days, Friday 13 to Thursday 19 November 2026 (Paris is UTC+1), as in test_quality_pipeline.
WEEK = Window(datetime(2026, 11, 12, 23, tzinfo=UTC), datetime(2026, 11, 19, 23, tzinfo=UTC))
DAYS = [WEEK.start + timedelta(days=k) for k in range(7)]
TUESDAY = (datetime(2026, 11, 16, 23, tzinfo=UTC), datetime(2026, 11, 17, 23, tzinfo=UTC))
WEDNESDAY = (datetime(2026, 11, 17, 23, tzinfo=UTC), datetime(2026, 11, 18, 23, tzinfo=UTC))
STUCK = (datetime(2026, 11, 19, 9, tzinfo=UTC), datetime(2026, 11, 19, 12, tzinfo=UTC))
IMBALANCE = Fault("imbalance", start_utc=WEDNESDAY[0], end_utc=WEDNESDAY[1], params={"exit_factor": 0.5})
STUCK_MAIN = Fault("stuck", ref="SIM0000001", start_utc=STUCK[0], end_utc=STUCK[1])
TABLES = (schema.quality_flag, schema.occupancy_corrected, schema.quality_run)
VOLATILE = {"flag_id", "created_at", "finished_at", "run_id", "gx_result"}  # GX stamps its load time


def site_doc(site_id: str, source: dict) -> dict:
    return {
        "id": site_id,
        "name": f"Merging site {site_id}",
        "timezone": "Europe/Paris",
        "opening_hours": HOURS,
        "counters": [{"id": counter, "ref": ref} for ref, counter in REFS.items()],
        "source": source,
    }


def intervals(start: datetime, end: datetime, faults: tuple[Fault, ...] = ()) -> dict[str, list[SimInterval]]:
    """What the simulated devices counted in [start, end) with `faults`, by ref (the pulled week's counts)."""
    return {
        ref: counts_with_faults(DeviceProfile(ref), start, end, 15, SIM_SEED, faults, SIM_NOW).to_intervals()
        for ref in REFS
    }


def rows(engine, table) -> list[dict]:
    return comparable_rows(engine, table, VOLATILE)


def tables(engine) -> dict[str, list[dict]]:
    return {t.name: rows(engine, t) for t in TABLES}


def high_flags(engine, *checks: str) -> set[tuple]:
    return {
        (r["check_name"], r["counter_id"], r["period_start"], r["period_end"])
        for r in rows(engine, schema.quality_flag)
        if r["severity"] == "high" and (not checks or r["check_name"] in checks)
    }


def run_ids(engine, table) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(table.c.run_id)).scalars())


def quality_runs(engine) -> list[tuple]:
    return sorted((r["checked_start"], r["checked_end"], r["gx_success"]) for r in rows(engine, schema.quality_run))


# --- push ------------------------------------------------------------------------------------------


@pytest.fixture
def push_engine(db_url, warehouse, registry, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    registry.write(site_doc(PUSH_SITE, {"kind": "push", "preset": "footfall_connector", "lookback_minutes": 30}))
    return warehouse(db_url)


@pytest.fixture
def push_site(push_engine) -> Site:
    from footfall.config import get_site

    return get_site(PUSH_SITE)


@pytest.fixture
def send(api, tls, push_engine):
    """`send(counted, received_at)`: the site's connector posts one batch, landed as received at that moment."""
    token = create_token(push_engine, PUSH_SITE, "connector")[1]

    def send_batch(counted: dict[str, list[SimInterval]], received_at: datetime) -> int:
        batch = {
            "batch_id": uuid.uuid4().hex,
            "site_id": PUSH_SITE,
            "rows": [
                {"counter_ref": ref, "interval_start": i.start_utc.astimezone(PARIS).isoformat(),
                 "interval_minutes": i.minutes, "entries": i.entries, "exits": i.exits}
                for ref, found in counted.items() for i in found
            ],
        }  # fmt: skip
        answer = post(api, tls, f"/v1/sites/{PUSH_SITE}/batches", json.dumps(batch).encode(), token)
        assert answer.status_code == 200, answer.text
        payload_id = answer.json()["payload_id"]
        with push_engine.begin() as conn:
            conn.execute(
                update(schema.raw_payload)
                .where(schema.raw_payload.c.payload_id == payload_id)
                .values(received_at=received_at)
            )
        return payload_id

    return send_batch


def push_week(send, faults: tuple[Fault, ...]) -> None:
    """One batch per site-day, sent just after the day ended (as a connector syncing nightly does)."""
    for day in DAYS:
        send(intervals(day, day + timedelta(days=1), faults), day + timedelta(days=1, minutes=10))


def test_a_push_run_stores_the_flags_of_the_faults_it_merged_and_a_rerun_changes_nothing(send, push_site, push_engine):
    push_week(send, (IMBALANCE, STUCK_MAIN))
    window = Window(WEEK.start, WEEK.end + timedelta(hours=1))  # every batch was received in it

    sync_window(push_site, window, engine=push_engine, run_id="week")

    # The same flags as the pulled week with the same faults (test_quality_pipeline).
    assert high_flags(push_engine) == {("imbalance", None, *WEDNESDAY), ("stuck_counter", "main-door", *STUCK)}
    assert quality_runs(push_engine) == [(WEEK.start, window.end, True)]
    assert len(rows(push_engine, schema.occupancy_corrected)) == 7 * 96
    assert run_ids(push_engine, schema.quality_flag) == {"week"}

    first = tables(push_engine)
    sync_window(push_site, window, engine=push_engine, run_id="again")
    assert tables(push_engine) == first
    assert run_ids(push_engine, schema.quality_flag) == {"again"}  # replaced, not appended


def test_a_late_batch_gets_the_days_it_holds_checked(send, push_site, push_engine):
    push_week(send, ())
    sync_window(push_site, Window(WEEK.start, WEEK.end + timedelta(hours=1)), engine=push_engine, run_id="w")
    assert high_flags(push_engine, "imbalance") == set()

    # Monday 23rd: the connector re-sends Tuesday and Wednesday of last week, Wednesday's exits half counted.
    late = Window(datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 10, 35, tzinfo=UTC))
    send(intervals(TUESDAY[0], WEDNESDAY[1], (IMBALANCE,)), late.start + timedelta(minutes=20))
    result = sync_window(push_site, late, engine=push_engine, run_id="late")

    assert result.rows_loaded == 2 * 2 * 96
    assert high_flags(push_engine, "imbalance") == {("imbalance", None, *WEDNESDAY)}
    # The late run checked from Tuesday's start (the earliest merged interval's day) to its own end.
    assert (TUESDAY[0], late.end, True) in quality_runs(push_engine)
    with push_engine.connect() as conn:
        flagged_by = conn.execute(
            select(schema.quality_flag.c.run_id).where(schema.quality_flag.c.check_name == "imbalance")
        )
        assert flagged_by.scalars().all() == ["late"]


def test_a_push_run_with_nothing_received_still_checks_its_window(push_site, push_engine):
    window = Window(datetime(2026, 11, 18, 9, tzinfo=UTC), datetime(2026, 11, 18, 9, 35, tzinfo=UTC))
    assert sync_window(push_site, window, engine=push_engine, run_id="empty").rows_loaded == 0
    assert quality_runs(push_engine) == [(WEDNESDAY[0], window.end, True)]


def test_touched_span_widens_the_window_to_every_merged_interval():
    import pandas as pd

    window = Window(datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 10, 35, tzinfo=UTC))
    merged = pd.DataFrame(
        {"interval_start": pd.to_datetime(["2026-11-17T08:00Z", "2026-11-24T09:45Z"], utc=True),
         "interval_minutes": pd.array([15, 60], dtype="Int64")}
    )  # fmt: skip
    assert touched_span(window, merged.iloc[:0]) == window
    assert touched_span(window, merged) == Window(
        datetime(2026, 11, 17, 8, tzinfo=UTC), datetime(2026, 11, 24, 10, 45, tzinfo=UTC)
    )
    assert touched_span(window, merged.iloc[:1]) == Window(datetime(2026, 11, 17, 8, tzinfo=UTC), window.end)


# --- file folder -----------------------------------------------------------------------------------


@pytest.fixture
def engine(db_url, warehouse):
    return warehouse(db_url)


def file_site(folder) -> Site:
    source = {"kind": "file", "preset": "axis_tvpc_export_csv",
              "options": {"folder": str(folder), "pattern": "*.csv", "res": "15m"}}  # fmt: skip
    return Site.model_validate(site_doc(FILE_SITE, source))


def export_week(folder, faults: tuple[Fault, ...]) -> None:
    """One Axis CSV export per counter and site-day (camera-local times), written in day order."""
    folder.mkdir(exist_ok=True)
    moment = datetime.now(UTC).timestamp() - 3600
    for day in DAYS:
        for ref, found in intervals(day, day + timedelta(days=1), faults).items():
            lines = "".join(f"{i.start_utc.astimezone(PARIS):%Y-%m-%d %H:%M},{i.entries},{i.exits}\n" for i in found)
            path = folder / f"{ref}-{day.astimezone(PARIS):%Y%m%d}.csv"
            path.write_text("Interval start,In,Out\n" + lines, encoding="utf-8")
            moment += 1
            os.utime(path, (moment, moment))


THURSDAY_RUN = Window(WEEK.end - timedelta(minutes=35), WEEK.end)  # a run at the end of the week's last day


def test_a_file_site_run_checks_every_day_its_files_touched(tmp_path, engine):
    export_week(tmp_path / "inbox", (IMBALANCE, STUCK_MAIN))
    site = file_site(tmp_path / "inbox")
    before = datetime.now(UTC)

    result = sync_window(site, THURSDAY_RUN, engine=engine, run_id="files")

    assert len(result.payload_ids) == 14  # Sunday's two exports are the same zeros: one file per door still
    assert high_flags(engine) == {("imbalance", None, *WEDNESDAY), ("stuck_counter", "main-door", *STUCK)}
    assert quality_runs(engine) == [(WEEK.start, WEEK.end, True)]  # once, over the span of all the files
    assert len(rows(engine, schema.occupancy_corrected)) == 7 * 96
    first = tables(engine)

    # The same run again finds no new file: it checks its window's day only, to the same flags.
    sync_window(site, THURSDAY_RUN, engine=engine, run_id="again")
    again = tables(engine)
    assert {k: again[k] for k in ("quality_flag", "occupancy_corrected")} == {
        k: first[k] for k in ("quality_flag", "occupancy_corrected")
    }
    assert quality_runs(engine) == [(WEEK.start, WEEK.end, True), (DAYS[-1], WEEK.end, None)]

    # A replay merges every file received in its range again, so it checks up to that range's end;
    # replaying the same range twice leaves the same tables.
    received = Window(before - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
    replay(site, received, engine=engine, run_id="replay")
    replayed = tables(engine)
    assert (WEEK.start, received.end, True) in quality_runs(engine)
    assert high_flags(engine, "imbalance", "stuck_counter") == {
        ("imbalance", None, *WEDNESDAY), ("stuck_counter", "main-door", *STUCK)
    }  # fmt: skip
    replay(site, received, engine=engine, run_id="replay-again")
    assert tables(engine) == replayed


def test_a_failed_file_does_not_keep_the_merged_ones_from_being_checked(tmp_path, engine):
    inbox = tmp_path / "inbox"
    export_week(inbox, (IMBALANCE,))
    bad = inbox / "SIM0000001-broken.csv"
    bad.write_text("Interval start,In,Out\n2026-11-19 10:00,lots,2\n", encoding="utf-8")
    os.utime(bad, (datetime.now(UTC).timestamp(),) * 2)  # the newest: read after the good ones

    with pytest.raises(ParseError, match="'lots' is not a number"):
        sync_window(file_site(inbox), THURSDAY_RUN, engine=engine, run_id="partly")

    assert high_flags(engine, "imbalance") == {("imbalance", None, *WEDNESDAY)}
    assert quality_runs(engine) == [(WEEK.start, WEEK.end, True)]
    with engine.connect() as conn:
        assert conn.execute(select(schema.sync_run.c.outcome)).scalars().all() == ["failed"]


def test_a_file_run_that_merged_nothing_checks_its_window_unless_every_file_failed(tmp_path, engine):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sync_window(file_site(inbox), THURSDAY_RUN, engine=engine, run_id="empty")
    assert quality_runs(engine) == [(DAYS[-1], WEEK.end, None)]  # no file, no validation: still checked

    (inbox / "bad.csv").write_text("Interval start,In,Out\n2026-11-19 10:00,lots,2\n", encoding="utf-8")
    with pytest.raises(ParseError):
        sync_window(file_site(inbox), Window(WEEK.end, WEEK.end + timedelta(minutes=5)), engine=engine)
    assert len(quality_runs(engine)) == 1  # a run that loaded nothing is not checked, as a failed pull
