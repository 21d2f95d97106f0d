"""The demo's push site: simulated Xovis sensors POST a backlog through the ingestion API, and the
backfilled runs of past windows load what that later-received backlog holds for each window."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from footfall import db
from footfall.api.app import create_app
from footfall.api.tokens import create_token, list_tokens
from footfall.config import get_site
from footfall.pipeline import run_site_window
from footfall.timewindow import floor_time
from footfall_devtools.api_thread import ApiThread
from footfall_devtools.demo import push_demo_backlogs, start_api
from footfall_devtools.local_airflow import free_port
from footfall_simulator import count_intervals
from footfall_simulator.profiles import profiles_from_sites
from footfall_simulator.pusher import push_backlog

SITE_FILE = Path(__file__).resolve().parents[2] / "include" / "sites" / "halles-centrales.yaml"
SITE = "halles-centrales"
FIVE = timedelta(minutes=5)


@pytest.fixture
def engine(db_url, warehouse, registry, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    registry.write_text(SITE_FILE.name, SITE_FILE.read_text(encoding="utf-8"))  # the demo's own site file
    return warehouse(db_url)


def model_counts(start: datetime, end: datetime) -> dict[tuple[str, datetime], tuple[int, int]]:
    """What the simulated sensors counted, by (counter id, interval start)."""
    site = get_site(SITE)
    ids = {c.ref: c.id for c in site.counters}
    return {
        (ids[ref], i.start_utc): (i.entries, i.exits)
        for ref, profile in profiles_from_sites([site]).items()
        for i in count_intervals(profile, start, end, 15, 0, end)
    }


def loaded(engine) -> dict[tuple[str, datetime], tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.count_interval).where(db.count_interval.c.site_id == SITE)).mappings()
        return {(r["counter_id"], r["interval_start"]): (r["entries"], r["exits"]) for r in rows}


def revision_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(db.interval_revision)).scalar_one()


def push_through_api(engine, start: datetime, end: datetime) -> int:
    """The site's simulated sensors send [start, end) to the ingestion service, with the site's token."""
    with ApiThread(create_app(engine)) as api:
        token = create_token(engine, SITE, "sensors")[1]
        return push_backlog(api.url, SITE, token, profiles_from_sites([get_site(SITE)]).values(), start, end)


def run_window(logical: datetime, run_id: str) -> dict:
    """A scheduled or backfilled run: data interval [logical, logical + 5 min), widened by the 30-min lookback."""
    return run_site_window(SITE, logical, logical + FIVE, run_id=run_id)


def test_backfilled_windows_load_the_intervals_a_later_backlog_holds_for_them(engine):
    end = floor_time(datetime.now(UTC), 15) - timedelta(hours=1)
    start = end - timedelta(hours=2)
    sent = push_through_api(engine, start, end)
    expected = model_counts(start, end)
    assert sent == len(expected) == 2 * 8  # two lines, eight 15-minute intervals, one body each

    # One past window, long before the backlog arrived: exactly the intervals starting in
    # [logical - 30 min, logical + 5 min) are loaded, nothing else of the bodies.
    logical = start + timedelta(minutes=60)
    summary = run_window(logical, "backfill-one")
    in_window = {k: v for k, v in expected.items() if logical - timedelta(minutes=30) <= k[1] < logical + FIVE}
    assert summary["rows_loaded"] == len(in_window) == 6
    assert loaded(engine) == in_window
    with engine.connect() as conn:
        spans = conn.execute(select(db.raw_payload.c.window_start, db.raw_payload.c.window_end)).all()
    assert len(spans) == sent and all(s is not None and e - s == timedelta(minutes=15) for s, e in spans)

    # The whole backfill range, as `make demo` asks Airflow for it: every interval, counted as sent.
    logical = start
    while logical < end:
        run_window(logical, f"backfill-{logical:%H%M}")
        logical += FIVE
    assert loaded(engine) == expected
    assert revision_count(engine) == 0  # the same bodies merged again are no revision

    # The live run that sees the backlog arrive merges every interval of it, as before.
    now = datetime.now(UTC)
    assert run_site_window(SITE, now - FIVE, now + timedelta(minutes=1), run_id="live")["rows_loaded"] == sent
    assert loaded(engine) == expected


def test_a_backfilled_window_without_any_pushed_interval_loads_nothing(engine):
    end = floor_time(datetime.now(UTC), 15) - timedelta(hours=1)
    push_through_api(engine, end - timedelta(hours=1), end)

    summary = run_window(end - timedelta(hours=3), "backfill-before")

    assert summary["rows_loaded"] == 0 and loaded(engine) == {}


def test_the_demo_pushes_through_its_own_api_process_and_revokes_the_token(
    sqlite_url, warehouse, registry, monkeypatch
):
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)  # the API process reads the same settings
    registry.write_text(SITE_FILE.name, SITE_FILE.read_text(encoding="utf-8"))
    registry.add_site("pull-site")  # not a push site: nothing to push for it
    engine = warehouse(sqlite_url)
    end = floor_time(datetime.now(UTC), 15)
    port = free_port()
    api = start_api(port)
    out = io.StringIO()
    try:
        sent = push_demo_backlogs(
            [get_site(SITE), get_site("pull-site")], f"http://127.0.0.1:{port}", end - timedelta(hours=1), end, out
        )
    finally:
        api.terminate()
        api.wait(timeout=30)

    assert sent == 2 * 4
    assert f"{SITE}: 8 Xovis pushes" in out.getvalue() and "pull-site" not in out.getvalue()
    (token,) = list_tokens(engine, SITE)
    assert token.revoked_at is not None  # the sensors' token lived as long as the demo needed it
    with engine.connect() as conn:
        sources = conn.execute(select(db.raw_payload.c.source, func.count()).group_by(db.raw_payload.c.source)).all()
    assert sources == [("push:xovis_count_push", 8)]
