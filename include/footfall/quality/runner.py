"""After a load, in the same task: run every check on the window's site-days plus their history, store
the flags and the corrected occupancy, and raise or clear alerts.

Idempotent: a run replaces exactly the flags and corrected rows of the site-days it checked, so a
rerun or a backfill leaves the same tables. A failing check is logged and never undoes the load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from footfall.config import Site
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.counts import empty_count_frame, in_window, read_count_ranges
from footfall.warehouse.quality import QualityRows, count_flags, replace_occupancy, replace_quality
from footfall.warehouse.runs import record_quality_run

from .context import Prepared, SiteContext, prepare_sites
from .flags import FLAG_COLUMNS
from .io import _plain
from .occupancy import corrected_occupancy
from .registry import check_sites

log = logging.getLogger(__name__)


@dataclass
class QualityOutcome:
    checked: Window
    flags: pd.DataFrame
    occupancy: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)  # check -> "Type: message" for checks that raised


# A write that joins the checks' transaction for one site's outcome (it must not raise: it would undo the checks').
AfterStore = Callable[[Connection, QualityOutcome], None]


def site_day_start(ctx: SiteContext, instant: datetime) -> datetime:
    """UTC start of the site-day (from the reset time) that contains `instant`."""
    reset = timedelta(hours=ctx.params.reset_time.hour, minutes=ctx.params.reset_time.minute)
    wall = instant.astimezone(ctx.zone).replace(tzinfo=None)
    day = datetime.combine((wall - reset).date(), datetime.min.time()) + reset
    return pd.Timestamp(day).tz_localize(ctx.timezone, ambiguous=True, nonexistent="shift_forward").to_pydatetime()


def site_day_end(ctx: SiteContext, instant: datetime) -> datetime:
    """UTC end of the site-day that contains the instant just before `instant` (23 to 25 hours long)."""
    start = site_day_start(ctx, instant - timedelta(microseconds=1))
    return site_day_start(ctx, start + timedelta(hours=26))


def checked_range(first_day: datetime, window: Window, counts: pd.DataFrame) -> Window:
    """From the first site-day's start to the window's end, or further to the end of the data already
    loaded for the last site-day: a rerun of an earlier part of a day checks what a later run saw, so
    its flags are the same (a flag is never cut at the end of a shorter window)."""
    end = pd.Timestamp(window.end)
    if len(counts):
        ends = counts["interval_start"] + pd.to_timedelta(counts["interval_minutes"], unit="min")
        end = max(end, ends.max())
    return Window(first_day, end.to_pydatetime())


def read_counts(conn: Connection, site_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    return read_count_ranges(conn, [(site_id, start, end)])


def as_read(site_id: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Normalized rows shaped exactly as `read_count_ranges` returns them once stored (int64 counts, float64
    where one is missing), so a run can check the rows it just loaded without reading them back."""
    out = pd.DataFrame(
        {
            "site_id": site_id,
            "counter_id": rows["counter_id"].astype(str).to_numpy(),
            "interval_start": pd.DatetimeIndex(rows["interval_start"]).tz_convert("UTC").as_unit("us"),
        }
    )
    for column in schema.COUNT_COLUMNS[3:]:
        values = rows[column]
        out[column] = values.to_numpy("float64", na_value=np.nan) if values.isna().any() else values.to_numpy("int64")
    return out


def _concat_counts(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]  # an empty read is object-typed: it would turn numbers into objects
    return pd.concat(frames, ignore_index=True) if frames else empty_count_frame()


def read_counts_sites(conn: Connection, parts: list[_Site]) -> dict[str, pd.DataFrame]:
    """Each site's counts from its history start to the end of its last site-day, in one query."""
    frame = read_count_ranges(conn, [(p.ctx.site_id, p.history_start, p.read_end) for p in parts])
    return {str(site_id): rows.reset_index(drop=True) for site_id, rows in frame.groupby("site_id", sort=False)}


def run_statistics(validation: Any, errors: dict[str, str]) -> str | None:
    """quality_run.gx_statistics: the GX suite's statistics, plus `check_errors` when checks raised."""
    stats: dict[str, Any] = {} if validation is None else dict(validation.statistics or {})
    if errors:
        stats["check_errors"] = dict(sorted(errors.items()))
    return json.dumps(stats, default=str) if (validation is not None or errors) else None


def flag_rows(flags: pd.DataFrame, run_id: str, created: datetime) -> list[dict[str, Any]]:
    out = []
    for row in flags[FLAG_COLUMNS].itertuples(index=False):
        r = dict(zip(FLAG_COLUMNS, row, strict=True))
        out.append(
            {
                "site_id": r["site_id"],
                "counter_id": _plain(r["counter_id"]),
                "check_name": r["check"],
                "severity": r["severity"],
                "period_start": pd.Timestamp(r["start"]).to_pydatetime(),
                "period_end": pd.Timestamp(r["end"]).to_pydatetime(),
                "observed": _plain(r["observed"]),
                "expected": _plain(r["expected"]),
                "evidence": json.dumps(r["detail"], default=str),
                "run_id": run_id,
                "created_at": created,
            }
        )
    return out


def quality_run_values(validation: Any, outcome: QualityOutcome, *, run_id: str) -> dict[str, Any]:
    """quality_run's columns for one site's run (GX result and statistics, flags, failed checks)."""
    from .docs import validation_blob

    return {
        "run_id": run_id,
        "gx_success": None if validation is None else bool(validation.success),
        "gx_statistics": run_statistics(validation, outcome.errors),
        "gx_result": validation_blob(validation),
        "flags": len(outcome.flags),
    }


@dataclass
class _Site:
    """One site of a quality run: its context, checked range and counts."""

    site: Site
    ctx: SiteContext
    first_day: datetime
    history_start: datetime
    read_end: datetime
    checked: Window = field(init=False)
    counts: pd.DataFrame = field(init=False)

    @classmethod
    def of(cls, site: Site, window: Window) -> _Site:
        ctx = SiteContext.from_site(site)
        first_day = site_day_start(ctx, window.start)
        return cls(
            site, ctx, first_day, first_day - timedelta(days=ctx.params.history_days), site_day_end(ctx, window.end)
        )

    def take(self, counts: pd.DataFrame, window: Window) -> None:
        self.checked = checked_range(self.first_day, window, counts)
        self.counts = counts[counts["interval_start"] < pd.Timestamp(self.checked.end)]


def _corrected(prepared: list[Prepared], errors: dict[str, dict[str, str]]) -> dict[str, pd.DataFrame | None]:
    """Corrected occupancy per site (None where it failed: the previous rows are kept, and it is said)."""
    out: dict[str, pd.DataFrame | None] = {}
    for p in prepared:
        try:
            frame = corrected_occupancy(p)
            for site_id, rows in frame.groupby("site_id", sort=False):
                out[str(site_id)] = rows
            for site_id in p.sites:
                out.setdefault(site_id, frame.iloc[:0])
        except Exception:
            for site_id in p.sites:
                try:
                    out[site_id] = corrected_occupancy(p.one(site_id))
                except Exception as exc:
                    log.error("site %s: corrected occupancy failed", site_id, exc_info=True)
                    errors.setdefault(site_id, {})["corrected_occupancy"] = f"{type(exc).__name__}: {exc}"
                    out[site_id] = None
    return out


def _check_and_store(
    engine: Engine,
    parts: list[_Site],
    *,
    run_id: str,
    validations: Mapping[str, Any],
    now: datetime,
    then: AfterStore | None = None,
) -> dict[str, QualityOutcome]:
    """Every check and the corrected occupancy of the sites at once, then their tables in one transaction
    (`then` writes more in that transaction, e.g. the lifecycle's nowcast, without a commit of its own)."""
    contexts = {s.ctx.site_id: s.ctx for s in parts}
    counts = pd.concat([s.counts.assign(site_id=s.ctx.site_id) for s in parts], ignore_index=True)
    as_of = {s.ctx.site_id: s.checked.end for s in parts}
    errors: dict[str, dict[str, str]] = {}
    prepared = prepare_sites(counts, contexts, as_of=as_of, now=now)
    flags = check_sites(counts, contexts, as_of=as_of, now=now, errors=errors, prepared=prepared)
    occupancy = _corrected(prepared, errors)
    by_site = dict(iter(flags.groupby("site_id", sort=False))) if len(flags) else {}
    outcomes: dict[str, QualityOutcome] = {}
    for s in parts:
        site_id = s.ctx.site_id
        start, end = pd.Timestamp(s.checked.start), pd.Timestamp(s.checked.end)
        mine = by_site.get(site_id, flags.iloc[:0])
        mine = mine[(pd.to_datetime(mine["end"], utc=True) > start) & (pd.to_datetime(mine["start"], utc=True) < end)]
        occ = occupancy.get(site_id)
        if occ is not None:
            occ = occ[(occ["interval_start"] >= start) & (occ["interval_start"] < end)]
        outcomes[site_id] = QualityOutcome(
            s.checked,
            mine.reset_index(drop=True),
            pd.DataFrame() if occ is None else occ.reset_index(drop=True),
            errors.get(site_id, {}),
        )
    created = datetime.now(UTC)
    with engine.begin() as conn:
        replace_quality(
            conn,
            [
                QualityRows(
                    site_id=s.ctx.site_id,
                    checked=s.checked,
                    flags=flag_rows(outcomes[s.ctx.site_id].flags, run_id, created),
                    occupancy=outcomes[s.ctx.site_id].occupancy if occupancy.get(s.ctx.site_id) is not None else None,
                    run=quality_run_values(validations.get(s.ctx.site_id), outcomes[s.ctx.site_id], run_id=run_id),
                )
                for s in parts
            ],
        )
        if then is not None:
            for s in parts:
                then(conn, outcomes[s.ctx.site_id])
    return outcomes


def _read_part(
    engine: Engine, site: Site, window: Window, loaded: pd.DataFrame | None, *, since_history: bool
) -> _Site:
    """The site's counts from its history start (full checks) or the first checked day's start (the
    refresh) to the end of the checked days; with `loaded`, the window's rows are taken from it and only
    the counts around the window are read."""
    part = _Site.of(site, window)
    since = part.history_start if since_history else part.first_day
    with engine.connect() as conn:
        if loaded is None:
            counts = read_counts(conn, site.id, since, part.read_end)
        else:
            around = [(site.id, since, window.start), (site.id, window.end, part.read_end)]
            counts = _concat_counts([read_count_ranges(conn, around), as_read(site.id, in_window(loaded, window))])
    part.take(counts, window)
    return part


def check_window(
    engine: Engine,
    site: Site,
    window: Window,
    *,
    run_id: str,
    validation: Any = None,
    now: datetime | None = None,
    loaded: pd.DataFrame | None = None,
    then: AfterStore | None = None,
) -> QualityOutcome:
    """Check the site-days the window touches (with `history_days` before them) and store the results.

    `loaded`: the normalized rows the window now holds (what `load_window` just wrote), so only the
    counts around the window are read back (a year's import reads ~100k fewer rows per site).
    """
    part = _read_part(engine, site, window, loaded, since_history=True)
    outcomes = _check_and_store(
        engine, [part], run_id=run_id, validations={site.id: validation}, now=now or datetime.now(UTC), then=then
    )
    return outcomes[site.id]


def check_windows(
    engine: Engine,
    sites: list[Site],
    window: Window | Mapping[str, Window],
    *,
    run_id: str,
    validations: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, QualityOutcome]:
    """check_window for many sites at once (history imports and backfills over many sites): one read,
    every check once over all sites (`check_sites`), one transaction; the tables end up exactly as
    check_window site by site would leave them. `window` is one for all sites or one per site id;
    `validations` maps site id to its GX result."""
    windows = {site.id: window[site.id] if isinstance(window, Mapping) else window for site in sites}
    parts = [_Site.of(site, windows[site.id]) for site in sites]
    with engine.connect() as conn:
        counts = read_counts_sites(conn, parts)
    for part in parts:
        part.take(counts.get(part.ctx.site_id, empty_count_frame()), windows[part.ctx.site_id])
    return _check_and_store(engine, parts, run_id=run_id, validations=validations or {}, now=now or datetime.now(UTC))


def refresh_window(
    engine: Engine,
    site: Site,
    window: Window,
    *,
    run_id: str,
    validation: Any = None,
    loaded: pd.DataFrame | None = None,
    now: datetime | None = None,
    then: AfterStore | None = None,
) -> QualityOutcome:
    """The per-window part of a live run whose full checks are not due (footfall.cadence): the
    corrected occupancy of the site-day(s) the window touches, read from the day's start only (no
    history: the correction of a day depends on that day's counts alone, so the rows are the ones a
    full check would write), and the run's GX result in quality_run. Flags are left as the last full
    check stored them, and no alert changes. `then`: as run_after_load's."""
    part = _read_part(engine, site, window, loaded, since_history=False)
    errors: dict[str, dict[str, str]] = {}
    prepared = prepare_sites(
        part.counts.assign(site_id=site.id),
        {site.id: part.ctx},
        as_of={site.id: part.checked.end},
        now=now or datetime.now(UTC),
    )
    occ = _corrected(prepared, errors).get(site.id)
    start, end = pd.Timestamp(part.checked.start), pd.Timestamp(part.checked.end)
    if occ is not None:
        occ = occ[(occ["interval_start"] >= start) & (occ["interval_start"] < end)].reset_index(drop=True)
    outcome = QualityOutcome(
        part.checked,
        pd.DataFrame(columns=FLAG_COLUMNS),
        pd.DataFrame() if occ is None else occ,
        errors.get(site.id, {}),
    )
    with engine.begin() as conn:
        values = quality_run_values(validation, outcome, run_id=run_id)
        values["flags"] = count_flags(conn, site.id, part.checked)  # the flags standing over the range
        replace_occupancy(conn, site.id, part.checked, occ)
        record_quality_run(conn, site.id, part.checked, values)
        if then is not None:  # the nowcast, in this transaction as after the full checks
            then(conn, outcome)
    if outcome.errors:
        log.error("site %s: corrected occupancy failed: %s", site.id, sorted(outcome.errors))
    return outcome


def run_after_load(
    engine: Engine,
    site: Site,
    window: Window,
    *,
    run_id: str,
    validation: Any = None,
    loaded: pd.DataFrame | None = None,
    then: AfterStore | None = None,
) -> QualityOutcome | None:
    """The run lifecycle's hook: checks, storage, alerts; returns what the checks found (None when they
    could not run). Nothing here raises: a broken check is logged at ERROR (site and check) and
    recorded in quality_run (`check_errors`), and the load stands.
    `loaded`: the rows the window now holds, as check_window takes them; `then`: see _check_and_store."""
    outcomes = run_after_load_sites(
        engine, [site], window, run_id=run_id, validations={site.id: validation}, loaded=loaded, then=then
    )
    return outcomes.get(site.id)


def run_after_load_sites(
    engine: Engine,
    sites: list[Site],
    window: Window | Mapping[str, Window],
    *,
    run_id: str,
    validations: Mapping[str, Any] | None = None,
    loaded: pd.DataFrame | None = None,
    then: AfterStore | None = None,
) -> dict[str, QualityOutcome]:
    """run_after_load for many sites loaded at once (history imports, backfills; `window` is one for
    all or one per site id, which must then name every site): one check_windows call, then each
    site's alerts. Never raises once started: a failure is logged and recorded for every site.
    `loaded` (one site only): the rows its window now holds, as check_window takes them."""
    if loaded is not None and len(sites) != 1:
        raise ValueError("loaded rows are for a run of one site")
    validations = validations or {}
    windows = {site.id: window[site.id] if isinstance(window, Mapping) else window for site in sites}
    try:
        if len(sites) == 1:
            site = sites[0]
            validation = validations.get(site.id)
            outcomes = {
                site.id: check_window(
                    engine, site, windows[site.id], run_id=run_id, validation=validation, loaded=loaded, then=then
                )
            }
        else:
            outcomes = check_windows(engine, sites, window, run_id=run_id, validations=validations)
    except Exception as exc:
        for site in sites:
            _record_failure(engine, site, windows[site.id], exc, run_id=run_id, validation=validations.get(site.id))
        return {}
    for site in sites:
        _announce(engine, site, outcomes[site.id])
    return outcomes


def _record_failure(
    engine: Engine, site: Site, window: Window, exc: Exception, *, run_id: str, validation: Any
) -> None:
    """A quality run that could not run: said in the log and in quality_run, for each site it covered."""
    log.error("site %s: quality checks failed for %s (the load stands)", site.id, window, exc_info=exc)
    try:
        ctx = SiteContext.from_site(site)
        checked = Window(site_day_start(ctx, window.start), window.end)  # at least this range
        failed = QualityOutcome(
            checked, pd.DataFrame(), pd.DataFrame(), {"quality_run": f"{type(exc).__name__}: {exc}"}
        )
        with engine.begin() as conn:
            record_quality_run(conn, site.id, checked, quality_run_values(validation, failed, run_id=run_id))
    except Exception:
        log.error("site %s: could not record the failed quality run", site.id, exc_info=True)


def _announce(engine: Engine, site: Site, outcome: QualityOutcome) -> None:
    if outcome.errors:
        log.error("site %s: %d quality check(s) failed: %s", site.id, len(outcome.errors), sorted(outcome.errors))
    try:
        from footfall.alerts import notify_changes

        notify_changes(engine, site, outcome.flags, now=datetime.now(UTC), failed_checks=outcome.errors)
    except Exception:
        log.error("site %s: alerts failed", site.id, exc_info=True)
    log.info("site %s: %d quality flag(s) in %s", site.id, len(outcome.flags), outcome.checked)
