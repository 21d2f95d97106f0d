"""The simulated devices' push bodies read back, through each vendor push preset's parser, as the model's counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from footfall.normalize import parse_bodies
from footfall_simulator import DeviceProfile, count_intervals
from footfall_simulator.pusher import PUSH_FORMATS, render_bodies, xovis_count_push

ALL_DAY = {day: ("00:00", "24:00") for day in range(7)}


def test_pushed_bodies_parse_to_the_model_counts_across_the_autumn_change():
    profile = DeviceProfile(ref="7", timezone="Europe/Paris", opening_hours=ALL_DAY, peak_entries_per_hour=300)
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST; at 01:00 UTC Paris goes back to 02:00 CET
    intervals = count_intervals(profile, start, start + timedelta(hours=2), 15, 3)
    bodies = [xovis_count_push(profile, i, i.end_utc + timedelta(seconds=5)) for i in intervals]

    rows = parse_bodies("xovis_count_push", bodies, timezone="Europe/Paris")

    assert len(rows) == 8 and rows["entries"].sum() > 0
    got = {(r.interval_start.to_pydatetime(), int(r.entries), int(r.exits)) for r in rows.itertuples()}
    assert got == {(i.start_utc, i.entries, i.exits) for i in intervals}
    first = json.loads(bodies[0])["content"]["element"][0]
    assert (first["element-id"], first["from"], first["resolution"]) == (
        7,
        "2026-10-25T02:00:00+02:00",
        "FIFTEEN_MINUTES",
    )
    assert json.loads(bodies[4])["content"]["element"][0]["from"] == "2026-10-25T02:00:00+01:00"


PRESETS_DIR = Path(__file__).parents[2] / "include" / "footfall" / "presets"
# Interval length each preset reads by default (its `interval` option, or the body's for Brickstream);
# the live push's running total is given to the minute before each frame, so it is read at 5 minutes.
# Counter codes as parse_bodies makes them up from the device ids; Axis pushes per device, without one.
CASES = {
    "xovis_count_push": (15, "7", True),
    "xovis_live_push": (5, "7", False),
    "axis_data_push": (15, "counter", True),
    "irisys_countlogs": (5, "sim-irs-7-1", True),
    "brickstream_xml": (15, "sim-bs-7-0", True),
}


def test_every_vendor_push_preset_has_a_simulated_body():
    push = {
        doc["name"]
        for doc in (yaml.safe_load(path.read_text()) for path in PRESETS_DIR.glob("*.yaml"))
        if doc.get("kind") == "push"
    }
    assert set(PUSH_FORMATS) == push - {"footfall_connector"} == set(CASES)


@pytest.mark.parametrize("preset", sorted(CASES))
def test_rendered_bodies_parse_to_the_model_counts_across_the_autumn_change(preset):
    minutes, counter_id, has_exits = CASES[preset]
    profile = DeviceProfile(ref="7", timezone="Europe/Paris", opening_hours=ALL_DAY, peak_entries_per_hour=300)
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST; at 01:00 UTC Paris goes back to 02:00 CET
    intervals = count_intervals(profile, start, start + timedelta(hours=2), minutes, 3)

    rows = parse_bodies(preset, render_bodies(preset, profile, intervals), timezone="Europe/Paris")

    assert len(rows) == len(intervals) and rows["entries"].sum() > 0 and set(rows["counter_id"]) == {counter_id}
    assert set(rows["interval_minutes"]) == {minutes}
    got = {(r.interval_start.to_pydatetime(), int(r.entries)) for r in rows.itertuples()}
    assert got == {(i.start_utc, i.entries) for i in intervals}
    if has_exits:
        got_exits = {(r.interval_start.to_pydatetime(), int(r.exits)) for r in rows.itertuples()}
        assert got_exits == {(i.start_utc, i.exits) for i in intervals}
    else:
        assert rows["exits"].isna().all()


def test_an_unknown_push_preset_is_refused_by_name():
    profile = DeviceProfile(ref="7")
    with pytest.raises(ValueError, match="cannot push preset 'footfall_connector'"):
        render_bodies("footfall_connector", profile, [])
