"""Queue measures through the real run lifecycle, on SQLite and PostgreSQL: a pushed Xovis queue statistics
body (the captured real one) lands in queue_measure with what the file says; re-running changes nothing; a
bad measure fails the run naming the site and source, and nothing of the batch loads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from footfall.config import get_site
from footfall.errors import ParseError
from footfall.pipeline import sync_window
from footfall.sources import source_for
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.landing import ensure_site, land_body

NAME = "xovis__v5-logics-data-queue-statistics-json__2.json"


@pytest.fixture
def desk(db_url, warehouse, registry):
    registry.write({
        "id": "desk", "name": "Help desk", "timezone": "Europe/Zurich", "capacity": 40,
        "counters": [{"id": "door", "ref": "00:6E:02:00:6D:BC:1001"}],
        "source": {"kind": "push", "preset": "xovis_logics_push", "options": {"max_late_days": 4000}},
    })  # fmt: skip
    engine = warehouse(db_url)
    site = get_site("desk")
    with engine.begin() as conn:
        ensure_site(conn, site)
    return engine, site


def push(engine, site, body: bytes, at: datetime) -> None:
    with engine.begin() as conn:
        land_body(conn, site_id=site.id, source=source_for(site).label(site), body=body, received_at=at)


def queue_rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(schema.queue_measure).order_by(schema.queue_measure.c.interval_start)).all()


def test_pushed_queue_statistics_land_as_the_file_says(desk, shared_dir):
    engine, site = desk
    body = (shared_dir / "realworld" / "payloads" / NAME).read_bytes()
    record = json.loads(body)["logics_data"]["logics"][0]["records"][0]
    values = {c["name"]: c["value"] for c in record["counts"]}
    now = datetime.now(UTC).replace(microsecond=0)
    push(engine, site, body, now)
    window = Window(now - timedelta(minutes=4), now + timedelta(minutes=1))
    for run in ("first", "again"):  # a re-run leaves the table as one run did
        sync_window(site, window, engine=engine, run_id=run)
        (row,) = queue_rows(engine)
        assert (row.site_id, row.queue_ref) == ("desk", "00:6E:02:00:6D:BC:1000")
        assert row.interval_start == datetime.fromtimestamp(record["from"] / 1000, UTC)
        assert row.interval_minutes == (record["to"] - record["from"]) // 60_000
        assert (row.queue_length, row.served) == (values["queue-length"], values["outflow"])
        assert row.wait_seconds == pytest.approx(values["queueing-time"])
        assert row.payload_id is not None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.count_interval)).scalar() == 0


def test_a_bad_queue_measure_fails_the_run_and_loads_nothing(desk, shared_dir):
    engine, site = desk
    body = (shared_dir / "realworld" / "payloads" / NAME).read_bytes().replace(b"124.426003", b"-124.4")
    assert b"-124.4" in body
    now = datetime.now(UTC).replace(microsecond=0)
    push(engine, site, body, now)
    with pytest.raises(ParseError) as info:
        sync_window(site, Window(now - timedelta(minutes=4), now + timedelta(minutes=1)), engine=engine, run_id="r")
    assert info.value.site_id == "desk" and "xovis_logics_push" in info.value.source
    assert "queueing-time -124.4 is not a non-negative number" in info.value.reason
    assert queue_rows(engine) == []
    with engine.connect() as conn:
        (error,) = conn.execute(select(schema.raw_payload.c.error)).scalars()
    assert "queueing-time" in error  # the raw body stays, with the reason
