"""What each fault scenario tried and found, for `bench/reliability.py`'s table.

A scenario test calls `record(...)` once with its counts; when FOOTFALL_RELIABILITY_LOG names a file
the counts are appended there as a JSON line (the bench runs the tests with it set), otherwise
nothing is written. `scale()` is FOOTFALL_RELIABILITY_SCALE (default 1): the bench raises it for a
longer soak, `make test` keeps every scenario small.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from footfall.warehouse import schema

LOG_ENV = "FOOTFALL_RELIABILITY_LOG"
STARTED: float | None = None  # set when each test starts (conftest), for the seconds column
SCALE_ENV = "FOOTFALL_RELIABILITY_SCALE"


def scale() -> int:
    return max(1, int(os.environ.get(SCALE_ENV, "1")))


def record(
    scenario: str,
    *,
    faults: int,
    tried: int,
    server_errors: int = 0,
    lost: int = 0,
    doubled: int = 0,
    half_loaded: int = 0,
    **extra: Any,
) -> None:
    """Append one scenario's figures (faults injected, requests/inputs tried, 5xx seen, rows lost,
    rows doubled, windows half-loaded) to the log the bench reads."""
    target = os.environ.get(LOG_ENV)
    if not target:
        return
    line = {
        "scenario": scenario,
        "faults": faults,
        "tried": tried,
        "server_errors": server_errors,
        "lost": lost,
        "doubled": doubled,
        "half_loaded": half_loaded,
        **extra,
    }
    if "seconds" not in line and STARTED is not None:
        line["seconds"] = round(time.monotonic() - STARTED, 1)
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, default=str) + "\n")


CountKey = tuple[str, str, datetime]
CountRow = tuple[int, int | None, int | None, int | None]


def count_rows(engine: Engine, site_id: str | None = None) -> dict[CountKey, CountRow]:
    """count_interval as {(site, counter, interval_start): (minutes, entries, exits, occupancy)}."""
    t = schema.count_interval
    query = select(
        t.c.site_id, t.c.counter_id, t.c.interval_start, t.c.interval_minutes, t.c.entries, t.c.exits, t.c.occupancy
    )
    if site_id is not None:
        query = query.where(t.c.site_id == site_id)
    with engine.connect() as conn:
        found = conn.execute(query).all()
    out: dict[CountKey, CountRow] = {}
    for row in found:
        key = (row[0], row[1], row[2])
        assert key not in out, f"count_interval holds {key} twice"
        out[key] = (row[3], row[4], row[5], row[6])
    return out


def compare(expected: dict[CountKey, CountRow], found: dict[CountKey, CountRow]) -> tuple[int, int]:
    """(rows lost, rows doubled or wrong) of `found` against one clean run's `expected`."""
    lost = sum(1 for key in expected if key not in found)
    extra = sum(1 for key, value in found.items() if expected.get(key, value) != value or key not in expected)
    return lost, extra
