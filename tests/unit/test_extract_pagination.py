"""Pagination: a paged API (the simulator's Density counts) walked page by page, each page landed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from footfall import db
from footfall.config import Pagination, load_presets
from footfall.extract import next_page
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall_simulator import count_intervals

SPACES = {"hall": "spc_hall", "lab": "spc_lab"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_next_link_pages_are_followed_and_each_landed(simulator, make_site, sqlite_url, warehouse, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DENSITY", f"{simulator.url}/devices/density-account")
    site = make_site(
        counters=[{"id": cid, "ref": ref} for cid, ref in SPACES.items()],
        source={"kind": "http_json", "preset": "density_counts", "connection_id": "density"},
    )
    window = Window(utc(2026, 11, 16, 23, 0), utc(2026, 11, 20, 11, 0))  # 84 hours: 1008 five-minute intervals
    engine = warehouse(sqlite_url)

    result = sync_window(site, window, engine=engine)

    state = simulator.state
    expected = {
        (cid, i.start_utc): (i.entries, i.exits)
        for cid, ref in SPACES.items()
        for i in count_intervals(state.profile(ref), window.start, window.end, 5, state.seed, state.now())
    }
    with engine.connect() as conn:
        rows = conn.execute(select(db.count_interval)).mappings().all()
        requests = conn.execute(select(db.raw_payload.c.request).order_by(db.raw_payload.c.payload_id)).scalars().all()
    assert len(expected) == 2 * 1008
    assert {(r["counter_id"], r["interval_start"]): (r["entries"], r["exits"]) for r in rows} == expected
    assert all(r["occupancy"] is not None for r in rows)
    assert len(result.payload_ids) == 4  # two pages per space (page_size 1000)
    assert ["page=2" in r for r in requests] == [False, True, False, True]
    assert all("page_size=1000" in r for r in requests)


def paged(strategy: str, size: int):
    preset = load_presets()["density_counts"]
    request = preset.request.model_copy(update={"pagination": Pagination(strategy=strategy, size=size)})
    return preset.model_copy(update={"request": request})


def body(n: int) -> bytes:
    stamp = "2026-11-20T10:00:00+00:00"
    record = {"timestamp": stamp, "interval": {"start": stamp, "analytics": {"entrances": 1, "exits": 0}}}
    return json.dumps({"results": [record] * n}).encode()


@pytest.mark.parametrize(
    ("strategy", "first", "following"), [("page", "1", "2"), ("offset", "0", "3")], ids=["page", "offset"]
)
def test_page_and_offset_strategies_step_until_a_short_page(strategy, first, following):
    preset = paged(strategy, size=3)
    params = {"start_time": "x", "page": first}
    assert next_page(preset, body(3), "http://h/v2/c", params) == ("http://h/v2/c", {**params, "page": following})
    assert next_page(preset, body(2), "http://h/v2/c", params) is None  # a short page is the last
    assert next_page(preset, b"<html>oops</html>", "http://h/v2/c", params) is None  # parsing will say why


def test_next_link_is_resolved_against_the_page_url():
    preset = load_presets()["density_counts"]
    page = json.dumps({"results": [], "next": "/devices/a/v2/spaces/s/counts?page=3"}).encode()
    assert next_page(preset, page, "http://h:9/devices/a/v2/spaces/s/counts", {"page_size": "9"}) == (
        "http://h:9/devices/a/v2/spaces/s/counts?page=3",
        {},
    )
    assert next_page(preset, json.dumps({"results": [], "next": None}).encode(), "http://h/x", {}) is None


def test_next_link_needs_a_path():
    with pytest.raises(ValueError, match="next_link needs next_path"):
        Pagination(strategy="next_link")
