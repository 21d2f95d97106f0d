"""One site, one window: extract -> normalize -> validate -> load, as plain function calls.

This is what a site DAG's task runs, what `footfall sync` runs from the shell and what the
benchmarks time. Each stage raises an error that names the site, the source, the stage and the
reason; whatever the source answered is landed first and stays; a batch that fails any stage
loads nothing; every attempt leaves its outcome in sync_run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import requests
from sqlalchemy import Engine

from footfall import db
from footfall.config import Site
from footfall.endpoints import Endpoint, resolve_endpoint
from footfall.errors import ExtractError, SiteDataError, ValidationFailed
from footfall.extract import ensure_site, fetch_window, land_payloads, mark_payload_error, requested_range, source_label
from footfall.load import load_window, record_sync_run
from footfall.normalize import Payload, normalize_counts
from footfall.timewindow import Window
from footfall.validate import validate_counts

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    """What one window did, for logs, XCom-free summaries and the benchmarks."""

    site_id: str
    window: Window
    payload_ids: list[int]
    rows_read: int = 0
    rows_loaded: int = 0
    rows_written: int = 0
    rows_deleted: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        return {
            "site_id": self.site_id,
            "window_start": self.window.start.isoformat(),
            "window_end": self.window.end.isoformat(),
            "payloads": len(self.payload_ids),
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_written": self.rows_written,
            "rows_deleted": self.rows_deleted,
            **{f"{stage}_s": round(s, 4) for stage, s in self.seconds.items()},
        }


def _record_failure(
    engine: Engine, site: Site, window: Window, run_id: str, started: datetime, exc: SiteDataError, rows_read: int = 0
) -> None:
    mark_payload_error(engine, exc.payload_ids, f"{exc.stage}: {exc.reason}")
    with engine.begin() as conn:
        ensure_site(conn, site)  # a first run that fails before landing anything still records its outcome
        record_sync_run(
            conn,
            site.id,
            window,
            run_id=run_id,
            started_at=started,
            rows_read=rows_read,
            rows_loaded=0,
            outcome="failed",
            stage=exc.stage,
            error=str(exc),
        )


def process_payloads(
    site: Site,
    window: Window,
    payloads: list[Payload],
    *,
    engine: Engine,
    run_id: str,
    started: datetime,
    result: SyncResult | None = None,
    normalize: Callable[[Site, list[Payload]], pd.DataFrame] = normalize_counts,
) -> SyncResult:
    """Normalize, validate and load landed payloads for one window (also used by replay and imports,
    which pass their own `normalize` for formats that are not a vendor preset)."""
    result = result or SyncResult(site.id, window, [p.payload_id for p in payloads])
    ids = [p.payload_id for p in payloads]
    rows_read = 0
    try:
        t0 = time.perf_counter()
        rows = normalize(site, payloads)
        rows_read = len(rows)
        t1 = time.perf_counter()
        report = validate_counts(rows, requested_range(site, window))
        t2 = time.perf_counter()
        result.seconds.update(normalize=t1 - t0, validate=t2 - t1)
        if not report.success:
            raise ValidationFailed(site.id, source_label(site), report.summary(), ids)
        if rows["ambiguous_time"].any():
            log.warning(
                "site %s: %d interval(s) in the repeated autumn hour could not be ordered",
                site.id,
                int(rows["ambiguous_time"].sum()),
            )
        loaded = load_window(engine, site.id, window, rows, run_id=run_id, started_at=started, rows_read=rows_read)
        result.seconds["load"] = time.perf_counter() - t2
    except SiteDataError as exc:
        _record_failure(engine, site, window, run_id, started, exc, rows_read)
        raise
    from footfall.quality.runner import run_after_load  # never raises: a failing check leaves the load standing

    run_after_load(engine, site, window, run_id=run_id, validation=report, loaded=rows)
    result.rows_read = rows_read
    result.rows_loaded = loaded.rows_in_window
    result.rows_written = loaded.rows_written
    result.rows_deleted = loaded.rows_deleted
    return result


def sync_window(
    site: Site,
    window: Window,
    *,
    engine: Engine | None = None,
    run_id: str = "cli",
    resolve: Callable[[str], Endpoint] = resolve_endpoint,
    session: requests.Session | None = None,
) -> SyncResult:
    """Pull a site's source for `window` and load it; raises a SiteDataError naming what went wrong."""
    engine = engine or db.get_engine()
    if site.source.kind == "file":  # a folder of exports: new files are merged, none is read twice
        from footfall.sources.files import sync_file_window

        return sync_file_window(site, window, engine=engine, run_id=run_id)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        answers = fetch_window(site, window, resolve=resolve, session=session)
    except ExtractError as exc:
        _record_failure(engine, site, window, run_id, started, exc)
        raise
    ids = land_payloads(engine, site, window, answers)
    result = SyncResult(site.id, window, ids, seconds={"extract": time.perf_counter() - t0})
    failed = [(a, i) for a, i in zip(answers, ids, strict=True) if a.error]
    if failed:
        error = ExtractError(
            site.id, source_label(site), "; ".join(a.error or "" for a, _ in failed), [i for _, i in failed]
        )
        _record_failure(engine, site, window, run_id, started, error)
        raise error
    payloads = [Payload(i, a.body, a.counter_ref) for a, i in zip(answers, ids, strict=True)]
    process_payloads(site, window, payloads, engine=engine, run_id=run_id, started=started, result=result)
    log.info("synced %s", result.summary())
    return result


def run_site_window(
    site_id: str, interval_start: datetime, interval_end: datetime, *, run_id: str
) -> dict[str, object]:
    """Entry point of a site DAG run: the data interval widened by the site's lookback."""
    from footfall.config import get_site
    from footfall.timewindow import load_window

    site = get_site(site_id)
    window = load_window(interval_start, interval_end, site.source.lookback_minutes)
    if site.source.kind == "push":  # pushed bodies are already landed: merge what they hold for the window
        from footfall.push import process_pushed_window

        return process_pushed_window(site, window, run_id=run_id).summary()
    return sync_window(site, window, run_id=run_id).summary()


def warm_up() -> None:
    """Import and build everything a task needs, in a parent process that forks tasks."""
    import holidays

    from footfall import alerts, validate  # noqa: F401 - imported for the forked tasks
    from footfall.config import load_presets, load_registry
    from footfall.quality import runner  # noqa: F401

    validate.warm_up()
    load_presets()
    sites, _ = load_registry()
    for country in {s.country for s in sites.values() if s.country}:
        holidays.country_holidays(country)
