"""The 2-hour nowcast: the published day-ahead forecast, rescaled by what the site shows right now.

It runs inside the site's live run (footfall.lifecycle, after the discrepancy checks), not as a task of
its own: one task per site-run is what lets one machine serve a thousand sites. Its cost is one read
of the published forecast around now (a primary key range of at most ~3 hours of slots), a few numpy
operations on today's corrected occupancy that the checks already hold in memory, and one replace of
the site's `nowcast` rows inside the checks' own transaction (no commit of its own): a few
milliseconds (bench/nowcast.py).

The method (same-day rescaling of the typical profile, decaying back to it):

* r = (mean corrected occupancy over the last LOOKBACK_MINUTES + k) / (mean day-ahead median at the
  same instants + k), bounded to RATIO_BOUNDS (1/3 to 3); k (SHRINK_SHARE of the capacity, at least
  SHRINK_MIN_PEOPLE) keeps a quiet hour's few people from making a huge ratio.
* For a slot ending h minutes after the last observation, the weight of today's level is
  w = 0.5 ** (h / HALF_LIFE_MINUTES), and each of the forecast's 10/50/90 % becomes
  forecast * (1 + (r - 1) * w): today's level carries over the two hours, fading (a four-hour
  half-life: two hours out it still weighs 0.71), and a slot the profile says is closed stays empty.
  The constants were chosen on CalIt2 (bench/nowcast_eval.py): a level that differs from the
  profile mostly still differs two hours later, and a faster fade or tighter bounds did worse.
* The wait per slot is the day-ahead forecast's (the queue model is not re-run here).

Only a run whose last corrected interval ended at most the site's `quality.stale_minutes` before the
run started publishes (live data; backfills, imports and replays of past windows do not), and only
where a forecast is published. The share API's `today` shows the nowcast for its slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from footfall.config import Site

HORIZON = timedelta(hours=2)
LOOKBACK_MINUTES = 60
HALF_LIFE_MINUTES = 240.0  # measured on CalIt2: bench/nowcast_eval.py
RATIO_BOUNDS = (1 / 3, 3.0)
SHRINK_SHARE = 0.02
SHRINK_MIN_PEOPLE = 5.0
METHOD = "rescaled_forecast"


@dataclass(frozen=True)
class Observed:
    """Today's corrected occupancy: interval starts (UTC ns) and values, and when the last interval ended."""

    starts: np.ndarray  # int64 ns
    occupancy: np.ndarray
    as_of: pd.Timestamp

    @classmethod
    def from_corrected(cls, rows: pd.DataFrame) -> Observed | None:
        """From the checks' corrected occupancy frame (interval_start, corrected_occupancy); None when empty."""
        if rows is None or rows.empty or "corrected_occupancy" not in rows:
            return None
        # numpy on the columns, not frame operations: this runs in every live site-run.
        values = rows["corrected_occupancy"].to_numpy(dtype=float, na_value=np.nan)
        index = pd.DatetimeIndex(rows["interval_start"])
        index = index.tz_localize("UTC") if index.tz is None else index
        known = ~np.isnan(values)
        if not known.any():
            return None
        starts, values = index.as_unit("ns").asi8[known], values[known]
        order = np.argsort(starts, kind="stable")
        starts, values = starts[order], values[order]
        steps = np.diff(starts)
        step = int(steps[steps > 0].min()) if (steps > 0).any() else 5 * 60 * 10**9
        return cls(starts, values, pd.Timestamp(int(starts[-1]) + step, tz="UTC"))


def fresh(site: Site, observed: Observed, now: datetime) -> bool:
    """Whether the data is live enough to nowcast from (the share API's own freshness rule)."""
    age_ns = int(now.timestamp() * 10**9) - observed.as_of.value
    return -5 * 60 * 10**9 <= age_ns <= site.quality.stale_minutes * 60 * 10**9


def read_window(observed: Observed) -> tuple[datetime, datetime]:
    """The forecast slots the nowcast needs: from the lookback's start to the horizon's end."""
    start = observed.as_of - pd.Timedelta(minutes=LOOKBACK_MINUTES) - pd.Timedelta(hours=1)
    return start.to_pydatetime(), (observed.as_of + pd.Timedelta(HORIZON)).to_pydatetime()


def _column(slots: list[Any], name: str) -> np.ndarray:
    return np.array([np.nan if getattr(s, name) is None else float(getattr(s, name)) for s in slots])


def shrink_people(capacity: float | None) -> float:
    """k of the ratio: SHRINK_SHARE of the capacity, at least SHRINK_MIN_PEOPLE."""
    return max(SHRINK_MIN_PEOPLE, SHRINK_SHARE * (capacity or 0))


def bounded_ratio(observed_mean: Any, expected_mean: Any, shrink: float) -> Any:
    """(observed + k) / (expected + k), bounded to RATIO_BOUNDS; element-wise on arrays."""
    return np.clip((observed_mean + shrink) / (expected_mean + shrink), *RATIO_BOUNDS)


def rescaled(forecast: Any, ratio: Any, minutes_ahead: Any, half_life: float = HALF_LIFE_MINUTES) -> Any:
    """The forecast times 1 + (r - 1) * 0.5 ** (h / half_life): today's level, fading; element-wise.
    The live nowcast and bench/nowcast_real.py (the nowcast on real datasets) both compute this."""
    weight = 0.5 ** (np.clip(minutes_ahead, 0, None) / half_life)
    return forecast * (1 + (ratio - 1) * weight)


def level_ratio(site: Site, observed: Observed, slot_ends: np.ndarray, median: np.ndarray) -> float | None:
    """Today's level against the forecast over the last LOOKBACK_MINUTES (bounded); None without both."""
    since = observed.as_of.value - LOOKBACK_MINUTES * 60 * 10**9
    recent = observed.starts >= since
    known = ~np.isnan(median)
    if not recent.any() or known.sum() == 0:
        return None
    # Occupancy is read at the end of each interval (and of each forecast slot): compare at those instants.
    step = observed.as_of.value - int(observed.starts[-1])
    instants = observed.starts[recent] + step
    expected = np.interp(instants, slot_ends[known], median[known])
    shrink = shrink_people(site.capacity)
    return float(bounded_ratio(float(observed.occupancy[recent].mean()), float(expected.mean()), shrink))


def nowcast_rows(site: Site, observed: Observed, slots: list[Any], now: datetime) -> list[dict[str, Any]]:
    """The slots from the one holding the last observation to two hours after it, rescaled (see the module).

    `slots`: the published forecast rows around now (slot_start, slot_minutes, occupancy_p10/p50/p90,
    wait_minutes), as footfall.warehouse.forecasts.forecast_slots reads them.
    """
    if not slots:
        return []
    starts = np.array([pd.Timestamp(s.slot_start).value for s in slots], dtype=np.int64)
    ends = starts + np.array([s.slot_minutes for s in slots], dtype=np.int64) * 60 * 10**9
    median = _column(slots, "occupancy_p50")
    ratio = level_ratio(site, observed, ends, median)
    if ratio is None:
        return []
    as_of = observed.as_of.value
    ahead = (ends > as_of) & (starts < as_of + int(HORIZON.total_seconds()) * 10**9)
    minutes_ahead = (ends - as_of) / 60e9
    bands = {
        name: rescaled(_column(slots, name), ratio, minutes_ahead)
        for name in ("occupancy_p10", "occupancy_p50", "occupancy_p90")
    }
    rows = []
    for i in np.flatnonzero(ahead):
        row: dict[str, Any] = {
            "site_id": site.id,
            "slot_start": slots[i].slot_start,
            "slot_minutes": int(slots[i].slot_minutes),
            "issued_at": now,
            "as_of": observed.as_of.to_pydatetime(),
            "method": METHOD,
            "wait_minutes": slots[i].wait_minutes,
        }
        row.update({name: None if np.isnan(v[i]) else round(float(v[i]), 3) for name, v in bands.items()})
        rows.append(row)
    return rows


def publish_nowcast(conn: Connection, site: Site, corrected: pd.DataFrame | None, now: datetime) -> int | None:
    """Compute and store the site's nowcast from the run's corrected occupancy, in the caller's transaction;
    the number of slots written, or None when the data is not fresh (nothing is written then)."""
    from footfall.warehouse.forecasts import forecast_slots, replace_site_nowcast

    observed = Observed.from_corrected(corrected) if corrected is not None else None
    if observed is None or not fresh(site, observed, now):
        return None
    rows = nowcast_rows(site, observed, forecast_slots(conn, site.id, *read_window(observed)), now)
    replace_site_nowcast(conn, site.id, rows)
    return len(rows)
