"""The one run lifecycle: every window of every source goes through `run_window`.

A source (footfall.sources) only says how it collects payloads for a window and whether its rows
replace the window or merge into it. The rest is the same for live runs, backfills, imports, pushes
and replays: time each stage, normalize, validate, write (count_interval, revisions, sync_run),
record failures next to the payloads, then the discrepancy checks.

Each stage raises an error that names the site, the source, the stage and the reason; whatever the
source answered is landed first and stays; a batch that fails any stage loads nothing (the other
batches of the run still load); every attempt leaves its outcome in sync_run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from footfall.config import Site
from footfall.errors import ParseError, SiteDataError, ValidationFailed
from footfall.normalize.queues import read_queue_measures
from footfall.sources.base import Batch, Source, SyncResult
from footfall.timewindow import Window
from footfall.validate import ValidationReport, validate_counts
from footfall.warehouse.counts import WriteResult, write_counts
from footfall.warehouse.landing import ensure_site, land_in, land_payloads, mark_payload_error
from footfall.warehouse.queues import write_queue_measures
from footfall.warehouse.runs import record_sync_run

if TYPE_CHECKING:
    from footfall.quality.runner import QualityOutcome

log = logging.getLogger(__name__)


def touched_span(window: Window, rows: pd.DataFrame) -> Window:
    """`window` widened to every interval of `rows`: what a merge touched (a late batch received in the
    window may hold last week), so the discrepancy checks cover those days too. Folds: a run merging
    several bodies passes the span so far as `window`."""
    if rows.empty:
        return window
    starts = pd.to_datetime(rows["interval_start"], utc=True)
    ends = starts + pd.to_timedelta(pd.to_numeric(rows["interval_minutes"]).astype("float64"), unit="min")
    return Window(min(window.start, starts.min().to_pydatetime()), max(window.end, ends.max().to_pydatetime()))


class _Run:
    """The bookkeeping of one run: what was loaded so far, what failed, what the checks will cover."""

    def __init__(self, source: Source, site: Site, window: Window, run_id: str, started: datetime) -> None:
        self.source, self.site, self.window, self.run_id, self.started = source, site, window, run_id, started
        self.result = SyncResult(site.id, window, [])
        self.failures: list[SiteDataError] = []
        self.span = window
        self.validation: ValidationReport | None = None
        self.loaded: pd.DataFrame | None = None
        self.queue: pd.DataFrame | None = None  # the current batch's queue measures (presets with `queue`)
        self.batches_written = 0

    def add_seconds(self, stage: str, seconds: float) -> None:
        self.result.seconds[stage] = self.result.seconds.get(stage, 0.0) + seconds

    def checked_rows(self, batch: Batch) -> tuple[pd.DataFrame, ValidationReport]:
        """Normalized and validated rows of a batch; raises the SiteDataError that names what is wrong."""
        t0 = time.perf_counter()
        rows = self.source.normalize(self.site, batch.window or self.window, batch.payloads)
        self.queue = self.queue_rows(batch)
        self.result.rows_read += len(rows)
        self.result.rows_skipped += int(rows.attrs.get("rows_skipped", 0))  # set by normalize
        t1 = time.perf_counter()
        report = validate_counts(rows, self.source.expected_range(self.site, batch.window or self.window))
        self.add_seconds("normalize", t1 - t0)
        self.add_seconds("validate", time.perf_counter() - t1)
        if not report.success:
            ids = [p.payload_id for p in batch.payloads]
            raise ValidationFailed(self.site.id, self.source.label(self.site), report.summary(), ids)
        if "ambiguous_time" in rows and rows["ambiguous_time"].any():
            log.warning(
                "site %s: %d interval(s) in the repeated autumn hour could not be ordered",
                self.site.id,
                int(rows["ambiguous_time"].sum()),
            )
        return rows, report

    def queue_rows(self, batch: Batch) -> pd.DataFrame | None:
        """The batch's queue measures when the preset reads them (its `queue` section); ParseError names
        the site, source and payload of a shape it does not know."""
        if self.site.preset.queue is None:
            return None
        try:
            return read_queue_measures(self.site, batch.payloads)
        except ValueError as exc:
            ids = [p.payload_id for p in batch.payloads]
            raise ParseError(self.site.id, self.source.label(self.site), f"queue measures: {exc}", ids) from None

    def failed(self, batch: Batch, engine: Engine, exc: SiteDataError) -> None:
        """A batch that cannot be used: its bodies keep the reason (a pending one is landed with it)."""
        if batch.pending is not None:  # a file: its name leads the reason (a run reads many)
            ids = land_payloads(engine, self.site, self.window, [batch.pending], source=self.source.label(self.site))
            exc = type(exc)(exc.site_id, exc.source, f"{batch.pending.request}: {exc.reason}", ids)
        mark_payload_error(engine, exc.payload_ids, f"{exc.stage}: {exc.reason}")
        self.result.payload_ids.extend(i for i in exc.payload_ids if i not in self.result.payload_ids)
        self.failures.append(exc)

    def write(self, engine: Engine, batch: Batch, rows: pd.DataFrame, last: bool) -> WriteResult:
        """The batch's write in one transaction (a pending body landed with it); the last batch of a run
        without failures records the run in the same transaction, so both land or neither."""
        mode = self.source.mode
        with engine.begin() as conn:
            if batch.pending is not None:
                (payload_id,) = land_in(
                    conn, self.site, self.window, [batch.pending], source=self.source.label(self.site)
                )
                rows = rows.assign(payload_id=payload_id)
                if self.queue is not None:
                    self.queue = self.queue.assign(payload_id=payload_id)
                self.result.payload_ids.append(payload_id)
            elif not batch.site_known:
                ensure_site(conn, self.site)  # a push run may come before the first push; a replay after an edit
            written = write_counts(conn, self.site.id, rows, mode=mode, window=batch.window or self.window)
            if self.queue is not None:
                write_queue_measures(conn, self.site.id, self.queue)  # merged: the latest received wins
            self.tally(written)
            if last and not self.failures:
                self.record(conn, None)
        return written

    def tally(self, written: WriteResult) -> None:
        r = self.result
        r.rows_loaded += written.rows_in_window
        r.rows_written += written.rows_written
        r.rows_deleted += written.rows_deleted
        r.rows_revised += written.rows_revised
        self.batches_written += 1

    def record(self, conn: Connection, first: SiteDataError | None) -> None:
        record_sync_run(
            conn,
            self.site.id,
            self.window,
            run_id=self.run_id,
            started_at=self.started,
            rows_read=self.result.rows_read,
            rows_loaded=self.result.rows_loaded,
            rows_skipped=self.result.rows_skipped,
            outcome="failed" if first else "success",
            stage=first.stage if first else None,
            error="; ".join(map(str, self.failures)) or None,
        )


def run_window(
    source: Source,
    site: Site,
    window: Window,
    *,
    engine: Engine,
    run_id: str,
    started: datetime | None = None,
    full_checks: bool = True,
) -> SyncResult:
    """Collect, normalize, validate and write every batch `source` has for `window`, record the run, run
    the discrepancy checks; raises the first batch's SiteDataError after the others loaded and were checked.

    The checks cover the window (replace) or every day the merged rows touched (merge); a run whose
    every batch failed wrote nothing and is not checked. `full_checks=False` (a live run between its
    site's full checks, footfall.cadence) refreshes only the window's part, unless merged rows reach
    beyond the window.
    """
    run = _Run(source, site, window, run_id, started or datetime.now(UTC))
    t0 = time.perf_counter()
    try:
        batches = list(source.collect(site, window, engine=engine))
    except SiteDataError as exc:
        run.failures.append(exc)
        mark_payload_error(engine, exc.payload_ids, f"{exc.stage}: {exc.reason}")
        with engine.begin() as conn:
            ensure_site(conn, site)  # a first run that fails before landing anything still records its outcome
            run.record(conn, exc)
        raise
    run.add_seconds("extract", time.perf_counter() - t0)
    for batch in batches:
        run.result.body_bytes += batch.body_bytes
        run.result.payload_ids.extend(p.payload_id for p in batch.payloads if p.payload_id)
    t_load = 0.0
    for n, batch in enumerate(batches):
        if batch.error is not None:
            run.failures.append(batch.error)
            continue
        try:
            rows, report = run.checked_rows(batch)
        except SiteDataError as exc:
            run.failed(batch, engine, exc)
            continue
        t1 = time.perf_counter()
        run.write(engine, batch, rows, last=n == len(batches) - 1)
        t_load += time.perf_counter() - t1
        run.validation = report
        if source.mode == "replace":
            run.span, run.loaded = batch.window or window, rows
        else:
            run.span = touched_span(run.span, rows)
    run.result.seconds["load"] = t_load
    first = run.failures[0] if run.failures else None
    if first is not None or not batches:
        with engine.begin() as conn:
            ensure_site(conn, site)
            run.record(conn, first)
    if run.batches_written or first is None:  # nothing at all to load: the window is still checked
        t2 = time.perf_counter()
        full = full_checks or run.span != window  # a late batch's days are checked at once
        outcome = _check(engine, site, run, run_id) if full else _refresh(engine, site, run, run_id)
        run.result.flags = _flag_counts(outcome)
        run.result.seconds["checks"] = time.perf_counter() - t2
    log.info("%s", run.result.report(source.mode))
    if first is not None:
        raise first
    return run.result


def _check(engine: Engine, site: Site, run: _Run, run_id: str) -> QualityOutcome | None:
    """The discrepancy checks after the write, and in their transaction the nowcast. Never raises: a failing
    check leaves the load standing. Merged rows are not handed over as the range's content (a merge does
    not replace the range, which may hold other rows): the checks read it back."""
    from footfall.quality.runner import run_after_load

    return run_after_load(
        engine, site, run.span, run_id=run_id, validation=run.validation, loaded=run.loaded, then=_nowcast_step(run)
    )


def _nowcast_step(run: _Run) -> Callable[[Connection, QualityOutcome], None]:
    """The nowcast as the step the checks (full or the window's part) run in their transaction, timed."""

    def nowcast(conn: Connection, outcome: QualityOutcome) -> None:
        t0 = time.perf_counter()
        _nowcast(conn, run.site, outcome.occupancy, run.started)
        run.result.seconds["nowcast"] = time.perf_counter() - t0

    return nowcast


def _flag_counts(outcome: QualityOutcome | None) -> dict[str, int]:
    """The checks' flags counted by check and severity."""
    if outcome is None or outcome.flags.empty:
        return {}
    counted = outcome.flags.groupby(["check", "severity"]).size()
    return {f"{check}/{severity}": int(n) for (check, severity), n in zip(counted.index, counted.tolist(), strict=True)}


def _nowcast(conn: Connection, site: Site, corrected: pd.DataFrame, now: datetime) -> None:
    """The 2-hour nowcast from the corrected occupancy the checks just computed (live data only), written in
    the checks' transaction: no commit nor savepoint of its own (round trips are most of such a small
    write's cost). A failing computation is logged and the share API shows the day-ahead forecast; a
    failing statement (its two cannot conflict with another run) fails the checks' transaction, as theirs do."""
    from footfall.forecast.nowcast import publish_nowcast

    try:
        publish_nowcast(conn, site, corrected, now)
    except SQLAlchemyError:
        raise
    except Exception:
        log.exception("site %s: the nowcast failed; the day-ahead forecast stays what is shown", site.id)


def _refresh(engine: Engine, site: Site, run: _Run, run_id: str) -> QualityOutcome | None:
    """The per-window part between full checks (footfall.cadence): corrected occupancy, the run's GX
    result, and in their transaction the nowcast; flags stay as the last full check left them. Never
    raises, like `_check`."""
    from footfall.quality.runner import refresh_window

    try:
        return refresh_window(
            engine, site, run.span, run_id=run_id, validation=run.validation, loaded=run.loaded, then=_nowcast_step(run)
        )
    except Exception:
        log.error("site %s: occupancy refresh failed for %s (the load stands)", site.id, run.span, exc_info=True)
        return None
