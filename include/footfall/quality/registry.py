"""The one registry of discrepancy checks: name, rule, severity, parameters, function.

`check_site` runs every check on one site's counts (the live path, after each load); `check_sites`
runs them on many sites' counts at once (history imports, backfills) and returns the same flags,
site by site: each check runs once over all sites that share a time zone and parameters, grouping
by site inside, so its fixed cost is paid once, not once per site. Raw counts are never changed:
duplicates are flagged from the rows as given, then the other checks read the last version of each
interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from . import balance, timing, volume
from .context import Prepared, SiteContext, prepare, prepare_sites
from .flags import FLAG_COLUMNS, empty_flags

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """A check; `run` takes a Prepared of one or several sites, groups by `site_code` where a site
    matters and names each flag's site (`flag_frame(..., site_id=...)`). A check that does not is
    still correct on one site, and on several sites with `errors` (it is retried site by site)."""

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


def _finish(frame: pd.DataFrame, check: Check, site_id: str | None) -> pd.DataFrame:
    if frame.empty:
        return empty_flags()
    frame = frame.copy()
    if "severity" not in frame:
        frame["severity"] = check.severity
    frame["check"] = check.name
    if "site_id" not in frame:
        if site_id is None:
            raise RuntimeError(f"check {check.name} returned flags without site_id for several sites")
        frame["site_id"] = site_id
    return frame[FLAG_COLUMNS]


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else empty_flags()


class _Guard:
    """Runs checks; with `errors` (site -> {check: "Type: message"}) a check that raises is logged at
    ERROR (site and check), recorded and skipped, so one broken check never hides the others' flags.
    On several sites a failing check is retried site by site, so only the sites it fails on lose it."""

    def __init__(self, errors: dict[str, dict[str, str]] | None):
        self.errors = errors

    def run(self, check: Check, p: Prepared) -> pd.DataFrame:
        single = p.ctx.site_id if len(p.sites) == 1 else None
        if self.errors is None:
            return _finish(check.run(p), check, single)
        try:
            return _finish(check.run(p), check, single)
        except Exception as exc:
            if single is None:
                return _concat([self.run(check, p.one(site_id)) for site_id in p.sites])
            log.error("site %s: quality check %s failed", single, check.name, exc_info=True)
            self.errors.setdefault(single, {})[check.name] = f"{type(exc).__name__}: {exc}"
            return empty_flags()

    def duplicates(self, raw: pd.DataFrame, site_ids: list[str]) -> pd.DataFrame:
        try:
            return _finish(timing.duplicate_intervals(raw), DUPLICATE, None)
        except Exception as exc:
            if self.errors is None:
                raise
            if len(site_ids) > 1:
                return _concat([self.duplicates(raw[raw["site_id"] == s], [s]) for s in site_ids])
            log.error("site %s: quality check %s failed", site_ids[0], DUPLICATE.name, exc_info=True)
            self.errors.setdefault(site_ids[0], {})[DUPLICATE.name] = f"{type(exc).__name__}: {exc}"
            return empty_flags()


def _run_all(
    raw: pd.DataFrame, prepared: list[Prepared], site_ids: list[str], only: set[str] | None, guard: _Guard
) -> pd.DataFrame:
    parts = []
    if only is None or DUPLICATE.name in only:
        parts.append(guard.duplicates(raw, site_ids))
    for p in prepared:
        for check in CHECKS:
            if only is None or check.name in only:
                parts.append(guard.run(check, p))
    flags = _concat(parts)
    if len(site_ids) > 1 and len(flags):
        order = {site_id: i for i, site_id in enumerate(site_ids)}
        position = flags["site_id"].map(order).to_numpy()
        flags = flags.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
    return flags


def check_site(
    counts: pd.DataFrame,
    ctx: SiteContext,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    only: set[str] | None = None,
    errors: dict[str, str] | None = None,
    prepared: Prepared | None = None,
) -> pd.DataFrame:
    """Every check on one site's counts (batch plus the history the checks need).

    With `errors` (a dict), a check that raises is logged at ERROR (site and check), recorded there
    as {check: "Type: message"} and skipped, so one broken check never hides the others' flags;
    without it the exception propagates. `prepared` is prepare(counts, ctx, as_of, now) when the
    caller has it already (the corrected occupancy reads it too).
    """
    found: dict[str, dict[str, str]] | None = None if errors is None else {}
    raw = counts.assign(site_id=ctx.site_id)
    prepared = prepared if prepared is not None else prepare(counts, ctx, as_of=as_of, now=now)
    flags = _run_all(raw, [prepared], [ctx.site_id], only, _Guard(found))
    if errors is not None and found:
        errors.update(found.get(ctx.site_id, {}))
    return flags


def check_sites(
    counts: pd.DataFrame,
    contexts: Mapping[str, SiteContext],
    *,
    as_of: datetime | Mapping[str, datetime] | None = None,
    now: datetime | None = None,
    only: set[str] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    prepared: list[Prepared] | None = None,
) -> pd.DataFrame:
    """Every check on several sites' counts at once (the bulk path: history imports, backfills).

    `counts` holds the rows of the sites in `contexts` (site_id says which); the flags are exactly
    those of check_site on each site's rows, concatenated in the order of `contexts`. `errors`
    collects {site_id: {check: "Type: message"}} as check_site's does per site. `as_of` is one
    instant or one per site id; without it each site is judged at the end of its own data, as
    check_site would. `prepared` is prepare_sites(counts, contexts, as_of, now) when the caller has
    it already (the corrected occupancy reads it too).
    """
    present = set(counts["site_id"].unique())
    sites = {site_id: ctx for site_id, ctx in contexts.items() if site_id in present}
    unknown = sorted(map(str, present - set(contexts)))
    if unknown:
        raise ValueError(f"counts of site(s) {', '.join(unknown)} but no site context for them")
    if not sites:
        return empty_flags()
    if prepared is None:
        prepared = prepare_sites(counts, sites, as_of=as_of, now=now)
    return _run_all(counts, prepared, list(sites), only, _Guard(errors))
