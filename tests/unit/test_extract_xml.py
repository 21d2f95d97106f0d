"""An http_xml site end to end: the simulator's Axis export-xml, parsed by the axis_tvpc_export_xml preset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from footfall import db
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall_simulator import count_intervals

REFS = {"main-door": "SIM0000001", "side-door": "SIM0000002"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "window",
    [
        Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 10, 35)),
        Window(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0)),  # the 23-hour day
        Window(utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0)),  # the 25-hour day
    ],
    ids=["friday", "spring-2026-03-29", "autumn-2026-10-25"],
)
def test_xml_export_site_loads_what_the_devices_counted(simulator, make_site, sqlite_url, warehouse, window):
    site = make_site(
        source={
            "kind": "http_xml",
            "preset": "axis_tvpc_export_xml",
            "connection_id": "footfall_sim",
            "options": {"base_path": "/devices/{counter_ref}", "res": "15m"},
        }
    )
    engine = warehouse(sqlite_url)

    sync_window(site, window, engine=engine)

    state = simulator.state
    expected = {
        (cid, i.start_utc): (i.entries, i.exits)
        for cid, ref in REFS.items()
        for i in count_intervals(state.profile(ref), window.start, window.end, 15, state.seed, state.now())
    }
    with engine.connect() as conn:
        rows = conn.execute(select(db.count_interval)).mappings().all()
        (content_type,) = set(conn.execute(select(db.raw_payload.c.content_type)).scalars())
    assert {(r["counter_id"], r["interval_start"]): (r["entries"], r["exits"]) for r in rows} == expected
    assert expected and content_type == "application/xml"
