"""The one registry of discrepancy checks: name, rule, severity, parameters, function.

`run_checks` runs every check on one or several sites' counts and returns one flag per row.
Raw counts are never changed: duplicates are flagged from the rows as given, then the other checks
read the last version of each interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from . import balance, timing, volume
from .context import Prepared, SiteContext, prepare
from .flags import FLAG_COLUMNS, empty_flags

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    severity: str  # default; a check may raise it per flag (imbalance beyond imbalance_high is high)
    rule: str
    params: tuple[str, ...]
    run: Callable[[Prepared], pd.DataFrame]


CHECKS: tuple[Check, ...] = (
    Check(
        "imbalance",
        "medium",
        "per complete site-day, |entries - exits| / max(entries, exits) > imbalance_tolerance "
        "(high above imbalance_high), when the larger is >= imbalance_min_count",
        ("imbalance_tolerance", "imbalance_high", "imbalance_min_count"),
        balance.imbalance,
    ),
    Check(
        "negative_occupancy",
        "medium",
        "site net occupancy (entries - exits summed over doors, from the reset time) "
        "below -negative_occupancy_tolerance",
        ("negative_occupancy_tolerance", "reset_time"),
        balance.negative_occupancy,
    ),
    Check(
        "over_capacity",
        "medium",
        "net (or vendor) occupancy above capacity * (1 + capacity_tolerance)",
        ("capacity_tolerance",),
        balance.over_capacity,
    ),
    Check(
        "counts_while_closed",
        "low",
        "people counted in intervals outside opening hours widened by "
        "closed_grace_minutes (exceptions, closed days and public holidays apply); >= closed_min_count per day",
        ("closed_grace_minutes", "closed_min_count", "closed_on_public_holidays"),
        timing.counts_while_closed,
    ),
    Check(
        "missing_intervals",
        "medium",
        "intervals expected while open, between the site's first and last data, that no row covers",
        (),
        timing.missing_intervals,
    ),
    Check(
        "stale_feed",
        "high",
        "a counter's newest interval ended more than stale_minutes of opening time before the run's end",
        ("stale_minutes",),
        timing.stale_feed,
    ),
    Check(
        "stuck_counter",
        "high",
        "a run of zeros (or an unchanged occupancy) while open lasting >= stuck_min_minutes "
        "where the slot history expects >= stuck_min_expected people",
        ("stuck_min_minutes", "stuck_min_expected"),
        volume.stuck_counter,
    ),
    Check(
        "spike",
        "low",
        "robust score (x - median) / (1.4826 MAD + sqrt(median) + 1) over the same counter, weekday "
        "and time of day > spike_score, and x - median >= spike_min_excess",
        ("spike_score", "spike_min_excess", "spike_min_history"),
        volume.spike,
    ),
    Check(
        "future_timestamp",
        "medium",
        "intervals ending after now + future_tolerance_minutes",
        ("future_tolerance_minutes",),
        timing.future_timestamps,
    ),
    Check(
        "clock_shift",
        "medium",
        "a day's profile matches the usual profile moved by a whole number of hours "
        "(up to clock_max_shift_hours) with at least clock_min_gain less error",
        ("clock_max_shift_hours", "clock_min_gain"),
        timing.clock_shift,
    ),
    Check(
        "unexpected_reset",
        "medium",
        "occupancy falls to <= 1 by >= reset_min_drop more than exits explain, "
        "further than reset_window_minutes from reset_time",
        ("reset_min_drop", "reset_window_minutes"),
        volume.unexpected_reset,
    ),
    Check(
        "door_disagreement",
        "medium",
        "a door's daily exit share differs from the other doors' by > door_tolerance "
        "and from its own usual share by > door_tolerance",
        ("door_tolerance", "door_min_count"),
        balance.door_disagreement,
    ),
)
DUPLICATE = Check(
    "duplicate_interval",
    "low",
    "the same counter and interval start more than once (medium when the values differ: a revision)",
    (),
    lambda p: empty_flags(),
)
REGISTRY: dict[str, Check] = {c.name: c for c in (*CHECKS, DUPLICATE)}


def _finish(frame: pd.DataFrame, check: Check, site_id: str) -> pd.DataFrame:
    if frame.empty:
        return empty_flags()
    frame = frame.copy()
    if "severity" not in frame:
        frame["severity"] = check.severity
    frame["check"] = check.name
    frame["site_id"] = site_id
    return frame[FLAG_COLUMNS]


def check_site(
    counts: pd.DataFrame,
    ctx: SiteContext,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    only: set[str] | None = None,
    errors: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Every check on one site's counts (batch plus the history the checks need).

    With `errors` (a dict), a check that raises is logged at ERROR (site and check), recorded there
    as {check: "Type: message"} and skipped, so one broken check never hides the others' flags;
    without it the exception propagates.
    """

    def guarded(check: Check, run: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        if errors is None:
            return _finish(run(), check, ctx.site_id)
        try:
            return _finish(run(), check, ctx.site_id)
        except Exception as exc:
            log.error("site %s: quality check %s failed", ctx.site_id, check.name, exc_info=True)
            errors[check.name] = f"{type(exc).__name__}: {exc}"
            return empty_flags()

    parts = []
    if only is None or DUPLICATE.name in only:
        parts.append(guarded(DUPLICATE, lambda: timing.duplicate_intervals(counts)))
    prepared = prepare(counts, ctx, as_of=as_of, now=now)
    for check in CHECKS:
        if only is None or check.name in only:
            parts.append(guarded(check, lambda check=check: check.run(prepared)))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return empty_flags()
    return pd.concat(parts, ignore_index=True)
