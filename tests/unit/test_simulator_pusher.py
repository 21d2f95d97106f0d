"""The simulated Xovis sensor's push bodies read back, through the xovis_count_push preset, as the model's counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from footfall.normalize import parse_bodies
from footfall.simulator import DeviceProfile, count_intervals
from footfall.simulator.pusher import xovis_count_push

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
