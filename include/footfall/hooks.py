"""Named format hooks: the only place code enters a preset, for a shape the generic mapping cannot express.

A preset names one with `hook: <name>`; the function receives the decoded document and returns a
document the generic interpreter can walk. Keep each hook small and tested with its preset's sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def xovis_live_frames(doc: Any) -> Any:
    """Xovis live push: keep COUNT events and lift each frame's time onto its events.

    A frame's events mix categories whose attributes differ (COUNT, ZONE, OCCUPANCY...), and a
    counter appears in many frames; flattening here gives one reading per (time, counter). A zone's
    `balance` counter goes down as well as up (COUNT_DECREMENT): it is the zone's occupancy, not a running
    total of crossings, so it is left out (its line's fw/bw counters carry the crossings).
    """
    frames = doc.get("live_data", {}).get("frames") if isinstance(doc, dict) else None
    if not isinstance(frames, list):
        raise ValueError("wrong shape: no 'live_data.frames' list")
    readings = []
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict) or "time" not in frame:
            raise ValueError(f"wrong shape: frame {i} has no 'time'")
        for event in frame.get("events") or []:
            if isinstance(event, dict) and event.get("category") == "COUNT":
                attrs = event.get("attributes") or {}
                if attrs.get("counter_name") == "balance":
                    continue
                readings.append(
                    {"time": frame["time"], "counter_id": attrs.get("counter_id"), "value": attrs.get("counter_value")}
                )
    serial = (doc["live_data"].get("sensor_info") or {}).get("serial_number")
    return {"serial_number": serial, "readings": readings}


HOOKS: dict[str, Callable[[Any], Any]] = {"xovis_live_frames": xovis_live_frames}
