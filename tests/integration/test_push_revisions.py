"""Revisions on the merge path: a pushed or dropped interval sent again with other counts updates its row
(the latest received wins) and leaves one interval_revision row with the old and the new values."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import test_api
from sqlalchemy import select, update
from test_api import post

from footfall.api.tokens import create_token
from footfall.config import Site
from footfall.pipeline import run_site_window, sync_window
from footfall.replay import replay
from footfall.timewindow import Window, floor_time
from footfall.warehouse import schema

api, tls = test_api.api, test_api.tls  # shared fixtures: the HTTPS service over `push_engine`
SITE = "xovis-site"
PARIS = ZoneInfo("Europe/Paris")


def xovis_site(site_id: str = SITE, direction: str = "normal") -> dict:
    return {
        "id": site_id,
        "name": "Pushing Xovis site",
        "timezone": "Europe/Paris",
        "counters": [{"id": "entrance", "ref": "1", "direction": direction}],
        "source": {"kind": "push", "preset": "xovis_count_push", "lookback_minutes": 30},
    }


def xovis_body(start: datetime, fw: int, bw: int) -> bytes:
    """A Xovis count push of line 1 over one 15-minute interval (Paris offsets, as a sensor sends them)."""
    paris = start.astimezone(PARIS)
    frm, to = paris.isoformat(), (paris + timedelta(minutes=15)).isoformat()
    element = {"element-id": 1, "element-name": "Entrance", "from": frm, "to": to, "resolution": "FIFTEEN_MINUTES",
               "measurement": [{"from": frm, "to": to, "value": [{"value": fw, "label": "fw"},
                                                                 {"value": bw, "label": "bw"}]}]}  # fmt: skip
    doc = {"sensor-time": {"timezone": "Europe/Paris", "time": to}, "status": {"code": "OK"},
           "content": {"element": [element]}, "sensor-info": {"serial-number": "80:1F:12:AA:BB:01"}}  # fmt: skip
    return json.dumps(doc).encode()


@pytest.fixture
def push_engine(db_url, warehouse, registry, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    registry.write(xovis_site())
    return warehouse(db_url)


@pytest.fixture
def token(push_engine) -> str:
    return create_token(push_engine, SITE, "sensor")[1]


def push(api, tls, token: str, body: bytes) -> int:
    answer = post(api, tls, f"/v1/push/xovis_count_push/{SITE}", body, token, **{"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    return answer.json()["payload_id"]


def run_now(run_id: str = "live") -> dict:
    now = datetime.now(UTC)
    return run_site_window(SITE, now - timedelta(minutes=5), now + timedelta(minutes=1), run_id=run_id)


def rows(engine, site_id: str = SITE) -> dict[datetime, tuple]:
    with engine.connect() as conn:
        found = conn.execute(select(schema.count_interval).where(schema.count_interval.c.site_id == site_id)).mappings()
        return {r["interval_start"]: (r["entries"], r["exits"], r["payload_id"]) for r in found}


def revisions(engine, site_id: str = SITE) -> list[dict]:
    table = schema.interval_revision
    with engine.connect() as conn:
        query = select(table).where(table.c.site_id == site_id).order_by(table.c.revision_id)
        return [dict(r) for r in conn.execute(query).mappings()]


def age_payloads(engine, hours: float) -> None:
    """Pretend everything landed so far arrived `hours` ago."""
    with engine.begin() as conn:
        conn.execute(update(schema.raw_payload).values(received_at=datetime.now(UTC) - timedelta(hours=hours)))


def test_a_resent_pushed_interval_updates_its_row_and_records_one_revision(api, tls, token, push_engine):
    start = floor_time(datetime.now(UTC), 15) - timedelta(hours=1)
    first = push(api, tls, token, xovis_body(start, fw=7, bw=3))
    run_now()
    assert rows(push_engine) == {start: (7, 3, first)}
    assert revisions(push_engine) == []

    age_payloads(push_engine, hours=2)  # the sensor re-sends later, with a corrected count
    second = push(api, tls, token, xovis_body(start, fw=9, bw=3))
    run_now()
    run_now()  # the same window again records nothing more

    assert rows(push_engine) == {start: (9, 3, second)}
    (revision,) = revisions(push_engine)
    assert revision["counter_id"] == "entrance" and revision["interval_start"] == start
    assert (revision["old_entries"], revision["old_exits"], revision["old_interval_minutes"]) == (7, 3, 15)
    assert (revision["new_entries"], revision["new_exits"], revision["new_interval_minutes"]) == (9, 3, 15)
    assert (revision["old_payload_id"], revision["new_payload_id"]) == (first, second)

    # A backfill of the window that received the first push cannot put the older count back.
    then = datetime.now(UTC) - timedelta(hours=2)
    run_site_window(SITE, then - timedelta(minutes=5), then + timedelta(minutes=5), run_id="backfill")
    assert rows(push_engine) == {start: (9, 3, second)}
    assert len(revisions(push_engine)) == 1


def test_the_same_body_pushed_twice_is_no_revision(api, tls, token, push_engine):
    start = floor_time(datetime.now(UTC), 15) - timedelta(minutes=30)
    body = xovis_body(start, fw=4, bw=1)
    first = push(api, tls, token, body)
    run_now()
    assert push(api, tls, token, body) == first  # landed once (same sha256)
    run_now()

    assert rows(push_engine) == {start: (4, 1, first)}
    assert revisions(push_engine) == []


def test_replay_with_a_corrected_site_file_records_what_it_changed(api, tls, token, push_engine, registry):
    start = floor_time(datetime.now(UTC), 15) - timedelta(minutes=45)
    payload = push(api, tls, token, xovis_body(start, fw=8, bw=2))
    run_now()
    registry.write(xovis_site(direction="swapped"))  # the line was installed the wrong way round

    now = datetime.now(UTC)
    swapped = Site.model_validate(xovis_site(direction="swapped"))
    replay(swapped, Window(now - timedelta(hours=1), now), engine=push_engine)

    assert rows(push_engine) == {start: (2, 8, payload)}
    (revision,) = revisions(push_engine)
    assert (revision["old_entries"], revision["old_exits"], revision["new_entries"], revision["new_exits"]) == (
        8, 2, 2, 8,
    )  # fmt: skip
    assert revision["old_payload_id"] == revision["new_payload_id"] == payload


def csv_export(folder: Path, name: str, start: datetime, entries: int, exits: int, age_s: int) -> None:
    """An Axis CSV export with one 15-minute interval (camera-local time), written `age_s` seconds ago."""
    local = start.astimezone(PARIS)
    path = folder / name
    path.write_text(f"Interval start,In,Out\n{local:%Y-%m-%d %H:%M},{entries},{exits}\n", encoding="utf-8")
    moment = datetime.now(UTC).timestamp() - age_s
    os.utime(path, (moment, moment))


def test_a_revised_export_file_updates_its_row_and_records_one_revision(db_url, warehouse, tmp_path):
    engine = warehouse(db_url)
    folder = tmp_path / "exports"
    folder.mkdir()
    site = Site.model_validate(
        {"id": "file-site", "name": "File site", "timezone": "Europe/Paris",
         "counters": [{"id": "entrance", "ref": "ACCC8E000901"}],
         "source": {"kind": "file", "preset": "axis_tvpc_export_csv", "options": {"folder": str(folder)}}}
    )  # fmt: skip
    start = floor_time(datetime.now(UTC), 15) - timedelta(hours=1)
    now = datetime.now(UTC)
    window = Window(now - timedelta(minutes=35), now)

    csv_export(folder, "export-1.csv", start, 5, 2, age_s=120)
    first = sync_window(site, window, engine=engine).payload_ids
    csv_export(folder, "export-2.csv", start, 6, 2, age_s=0)  # the camera's corrected export
    second = sync_window(site, window, engine=engine).payload_ids
    sync_window(site, window, engine=engine)  # nothing new: nothing read, nothing recorded

    assert rows(engine, "file-site") == {start: (6, 2, second[0])}
    (revision,) = revisions(engine, "file-site")
    assert (revision["old_entries"], revision["new_entries"]) == (5, 6)
    assert (revision["old_payload_id"], revision["new_payload_id"]) == (first[0], second[0])
