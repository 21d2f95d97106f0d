"""The UCI CalIt2 building counts (main door, half-hour in/out flows, local time) as footfall counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ZONE = "America/Los_Angeles"
FLOWS = {7: "exits", 9: "entries"}


def load_calit2(data_path: Path | str, site_id: str = "calit2", counter_id: str = "main-door") -> pd.DataFrame:
    """Rows `flow,MM/DD/YY,HH:MM:SS,count` (the count of the previous half hour) to counts rows.

    A row stamped t counts [t - 30 min, t); local times are read in America/Los_Angeles (the
    repeated autumn hour takes its first pass, a skipped spring time moves forward).
    """
    raw = pd.read_csv(data_path, header=None, names=["flow", "date", "time", "count"])
    stamp = pd.to_datetime(raw["date"] + " " + raw["time"], format="%m/%d/%y %H:%M:%S") - pd.Timedelta(minutes=30)
    raw["measure"] = raw["flow"].map(FLOWS)
    wide = raw.assign(stamp=stamp).pivot_table(index="stamp", columns="measure", values="count", aggfunc="sum")
    first_pass = np.ones(len(wide), dtype=bool)
    starts = (
        pd.DatetimeIndex(wide.index)
        .tz_localize(ZONE, ambiguous=first_pass, nonexistent="shift_forward")
        .tz_convert("UTC")
    )
    return pd.DataFrame(
        {
            "site_id": site_id,
            "counter_id": counter_id,
            "interval_start": starts,
            "interval_minutes": 30,
            "entries": wide["entries"].to_numpy(),
            "exits": wide["exits"].to_numpy(),
            "occupancy": float("nan"),
        }
    )


def load_events(events_path: Path | str) -> pd.DataFrame:
    """Known events `MM/DD/YY,HH:MM:SS,HH:MM:SS,...` as local start and end instants (UTC)."""
    rows = []
    for line in Path(events_path).read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            continue
        rows.append((parts[0], parts[1], parts[2]))
    ev = pd.DataFrame(rows, columns=["date", "start", "end"])
    start = pd.to_datetime(ev["date"] + " " + ev["start"], format="%m/%d/%y %H:%M:%S")
    end = pd.to_datetime(ev["date"] + " " + ev["end"], format="%m/%d/%y %H:%M:%S")
    return pd.DataFrame(
        {
            "start": start.dt.tz_localize(ZONE).dt.tz_convert("UTC"),
            "end": end.dt.tz_localize(ZONE).dt.tz_convert("UTC"),
        }
    )
