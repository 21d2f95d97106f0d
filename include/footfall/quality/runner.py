"""After a load, in the same task: run every check on the window's site-days plus their history, store
the flags and the corrected occupancy, and raise or clear alerts.

Idempotent: a run replaces exactly the flags and corrected rows of the site-days it checked, so a
rerun or a backfill leaves the same tables. A failing check is logged and never undoes the load.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, delete, insert, select

from footfall import db
from footfall.config import Site
from footfall.timewindow import Window

from .context import SiteContext, prepare
from .flags import FLAG_COLUMNS
from .io import _plain
from .occupancy import corrected_occupancy
from .registry import check_site

log = logging.getLogger(__name__)


@dataclass
class QualityOutcome:
    checked: Window
    flags: pd.DataFrame
    occupancy: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)  # check -> "Type: message" for checks that raised


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
    t = db.count_interval
    rows = conn.execute(
        select(*(t.c[c] for c in db.COUNT_COLUMNS)).where(
            and_(t.c.site_id == site_id, t.c.interval_start >= start, t.c.interval_start < end)
        )
    ).all()
    frame = pd.DataFrame(rows, columns=list(db.COUNT_COLUMNS))
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True)
    return frame


def _flag_rows(flags: pd.DataFrame, run_id: str, created: datetime) -> list[dict[str, Any]]:
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


def run_statistics(validation: Any, errors: dict[str, str]) -> str | None:
    """quality_run.gx_statistics: the GX suite's statistics, plus `check_errors` when checks raised."""
    stats: dict[str, Any] = {} if validation is None else dict(validation.statistics or {})
    if errors:
        stats["check_errors"] = dict(sorted(errors.items()))
    return json.dumps(stats, default=str) if (validation is not None or errors) else None


def record_run(
    conn: Connection,
    site_id: str,
    checked: Window,
    *,
    run_id: str,
    validation: Any,
    flags: int,
    errors: dict[str, str],
) -> None:
    """One quality_run row per site and checked range (replaced by a rerun)."""
    q = db.quality_run
    conn.execute(
        delete(q).where(q.c.site_id == site_id, q.c.checked_start == checked.start, q.c.checked_end == checked.end)
    )
    conn.execute(
        insert(q).values(
            site_id=site_id,
            checked_start=checked.start,
            checked_end=checked.end,
            run_id=run_id,
            gx_success=None if validation is None else bool(validation.success),
            gx_statistics=run_statistics(validation, errors),
            flags=flags,
            finished_at=datetime.now(UTC),
        )
    )


def check_window(
    engine: Engine,
    site: Site,
    window: Window,
    *,
    run_id: str,
    validation: Any = None,
    now: datetime | None = None,
) -> QualityOutcome:
    """Check the site-days the window touches (with `history_days` before them) and store the results."""
    ctx = SiteContext.from_site(site)
    first_day = site_day_start(ctx, window.start)
    history_start = first_day - timedelta(days=ctx.params.history_days)
    with engine.connect() as conn:
        counts = read_counts(conn, site.id, history_start, site_day_end(ctx, window.end))
    checked = checked_range(first_day, window, counts)
    counts = counts[counts["interval_start"] < pd.Timestamp(checked.end)]
    now = now or datetime.now(UTC)
    errors: dict[str, str] = {}
    flags = check_site(counts, ctx, as_of=checked.end, now=now, errors=errors)
    start, end = pd.Timestamp(checked.start), pd.Timestamp(checked.end)
    flags = flags[(pd.to_datetime(flags["end"], utc=True) > start) & (pd.to_datetime(flags["start"], utc=True) < end)]
    occupancy: pd.DataFrame | None
    try:
        occupancy = corrected_occupancy(prepare(counts, ctx, as_of=checked.end, now=now))
        occupancy = occupancy[(occupancy["interval_start"] >= start) & (occupancy["interval_start"] < end)]
    except Exception as exc:  # keep the previous corrected rows; say so
        log.error("site %s: corrected occupancy failed for %s", site.id, checked, exc_info=True)
        errors["corrected_occupancy"] = f"{type(exc).__name__}: {exc}"
        occupancy = None
    created = datetime.now(UTC)
    with engine.begin() as conn:
        f, o = db.quality_flag, db.occupancy_corrected
        conn.execute(
            delete(f).where(f.c.site_id == site.id, f.c.period_start < checked.end, f.c.period_end > checked.start)
        )
        if len(flags):
            conn.execute(insert(f), _flag_rows(flags, run_id, created))
        if occupancy is not None:
            conn.execute(
                delete(o).where(
                    o.c.site_id == site.id, o.c.interval_start >= checked.start, o.c.interval_start < checked.end
                )
            )
        if occupancy is not None and len(occupancy):
            rows = occupancy.assign(interval_start=occupancy["interval_start"].dt.to_pydatetime())
            records = [{k: _plain(v) for k, v in r.items()} for r in rows.to_dict("records")]
            for r, when in zip(records, rows["interval_start"], strict=True):
                r["interval_start"] = when
            conn.execute(insert(o), records)
        record_run(conn, site.id, checked, run_id=run_id, validation=validation, flags=len(flags), errors=errors)
    return QualityOutcome(checked, flags, pd.DataFrame() if occupancy is None else occupancy, errors)


def run_after_load(engine: Engine, site: Site, window: Window, *, run_id: str, validation: Any = None) -> None:
    """The pipeline's hook: checks, storage, alerts. Nothing here raises: a broken check is logged at
    ERROR (site and check) and recorded in quality_run (`check_errors`), and the load stands."""
    try:
        outcome = check_window(engine, site, window, run_id=run_id, validation=validation)
    except Exception as exc:
        log.error("site %s: quality checks failed for %s (the load stands)", site.id, window, exc_info=True)
        try:
            ctx = SiteContext.from_site(site)
            checked = Window(site_day_start(ctx, window.start), window.end)  # at least this range
            with engine.begin() as conn:
                record_run(
                    conn,
                    site.id,
                    checked,
                    run_id=run_id,
                    validation=validation,
                    flags=0,
                    errors={"quality_run": f"{type(exc).__name__}: {exc}"},
                )
        except Exception:
            log.error("site %s: could not record the failed quality run", site.id, exc_info=True)
        return
    if outcome.errors:
        log.error("site %s: %d quality check(s) failed: %s", site.id, len(outcome.errors), sorted(outcome.errors))
    try:
        from footfall.alerts import notify_changes

        notify_changes(engine, site, outcome.flags, now=datetime.now(UTC), failed_checks=outcome.errors)
    except Exception:
        log.error("site %s: alerts failed", site.id, exc_info=True)
    log.info("site %s: %d quality flag(s) in %s", site.id, len(outcome.flags), outcome.checked)
