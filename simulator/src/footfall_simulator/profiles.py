"""Device profiles for the simulator: from a profiles file, or from the site registry.

Built from the registry, each counter of each site becomes a device with the site's time zone
and opening hours and a traffic level scaled to the site's capacity, so the demo's simulated
museum is quiet before it opens and the pool is busy at 7 a.m.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .traffic import DeviceProfile

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def load_profiles(path: Path) -> dict[str, DeviceProfile]:
    """Profiles from a JSON or YAML list of DeviceProfile fields."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only needed for YAML profile files

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    items = data.get("devices", data) if isinstance(data, dict) else data
    profiles = [DeviceProfile.from_dict(item) for item in items]
    return {p.ref: p for p in profiles}


def profiles_from_sites(sites: Iterable[Any]) -> dict[str, DeviceProfile]:
    """One profile per counter of each `footfall.config.Site` (duck-typed to keep this package light)."""
    profiles: dict[str, DeviceProfile] = {}
    for site in sites:
        hours: dict[int, tuple[str, str] | None] = {}
        for day, key in enumerate(WEEKDAY_KEYS):
            ranges = site.opening_hours.regular.get(key, ())
            if not ranges:
                hours[day] = None
                continue
            opens, closes = ranges[0][0].strftime("%H:%M"), ranges[-1][1].strftime("%H:%M")
            hours[day] = (opens, "24:00" if closes == "23:59" else closes)
        capacity = site.capacity or 200
        per_counter = capacity * 0.9 / max(1, len(site.counters))
        for counter in site.counters:
            profiles[counter.ref] = DeviceProfile(
                ref=counter.ref,
                timezone=site.timezone,
                opening_hours=hours,
                peak_entries_per_hour=per_counter,
                name=counter.name or f"{site.name} / {counter.id}",
            )
    return profiles
