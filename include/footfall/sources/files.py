"""The `file` source kind: vendor export files dropped in a folder, each landed verbatim and merged once.

A file says what it contains, not which window it answers, so (as for pushes) its intervals are
merged into count_interval (upsert, the latest landed file wins) instead of replacing a window.
A file whose bytes were landed before for the same counter (same sha256 and counter_ref) is not
parsed again, whatever its name or age; the same bytes for another counter are that counter's file.
A new file is landed and merged in one transaction (a landed file is a processed file; a crash lands
nothing and the next run reads it again); a file that cannot be used is landed with its reason and
reported, and never holds back the others. Options: `folder`, `pattern` (glob, default `*`).

At the end of a run the discrepancy checks cover its window and every day the merged files touched
(once, over the span of all of them), as a pulled window is checked after its load. A run whose
every new file failed merged nothing and is not checked, as a failed pull is not.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from footfall import db
from footfall.config import Site
from footfall.errors import ExtractError, SiteDataError, ValidationFailed
from footfall.extract import Fetched, ensure_site, land_in, land_payloads, mark_payload_error, source_label
from footfall.load import record_sync_run
from footfall.normalize import Payload, normalize_counts
from footfall.pipeline import SyncResult
from footfall.sources import site_folder
from footfall.timewindow import Window
from footfall.validate import ValidationReport, validate_counts

log = logging.getLogger(__name__)


def folder_files(site: Site) -> list[Path]:
    """Files of the site's folder matching its pattern, oldest first (so a later export wins)."""
    options = site.options()
    path = site_folder(site)
    if not path.is_dir():
        raise ExtractError(site.id, source_label(site), f"folder {path} does not exist or is not a folder")
    found = [p for p in path.glob(str(options.get("pattern", "*"))) if p.is_file() and not p.name.startswith(".")]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def landed_files(engine: Engine, site: Site) -> set[tuple[str, str | None]]:
    """(sha256, counter ref) of every body landed for the site: a file is known by its bytes AND the
    counter it was read for, since two doors' exports can be byte for byte the same (a closed day)."""
    with engine.connect() as conn:
        t = db.raw_payload.c
        return {
            (r.sha256, r.counter_ref) for r in conn.execute(select(t.sha256, t.counter_ref).where(t.site_id == site.id))
        }


def counter_of(site: Site, name: str) -> str | None:
    """The device a file belongs to: the only counter, else the counter whose ref the file name contains."""
    if len(site.counters) == 1:
        return site.counters[0].ref
    for counter in sorted(site.counters, key=lambda c: len(c.ref), reverse=True):
        if counter.ref in name:
            return counter.ref
    return None  # the body must then name its devices


def checked_rows(
    site: Site, window: Window, body: bytes, counter_ref: str | None, payload_id: int = 0
) -> tuple[pd.DataFrame, ValidationReport]:
    """Normalized and validated rows of one file, and their validation; raises the SiteDataError that
    names what is wrong."""
    from footfall.push import plausible_range

    rows = normalize_counts(site, [Payload(payload_id, body, counter_ref)])
    report = validate_counts(rows, plausible_range(site, window))
    if not report.success:
        raise ValidationFailed(site.id, source_label(site), report.summary(), [payload_id])
    return rows, report


def ingest_file(
    engine: Engine, site: Site, window: Window, answer: Fetched
) -> tuple[int, pd.DataFrame, ValidationReport]:
    """Land one new file and merge its rows in ONE transaction, so a landed file is a processed file;
    returns its payload id, the rows merged and their validation.

    A file that cannot be used is landed on its own with the reason (kept for replay) and the error
    raised; a failure of anything else (the database, a bug) lands nothing, so the next run retries it.
    """
    from footfall.push import merge_counts

    try:
        rows, report = checked_rows(site, window, answer.body, answer.counter_ref)
    except SiteDataError as exc:
        ids = land_payloads(engine, site, window, [answer])
        mark_payload_error(engine, ids, f"{exc.stage}: {exc.reason}")
        raise type(exc)(exc.site_id, exc.source, exc.reason, ids) from None
    with engine.begin() as conn:
        (payload_id,) = land_in(conn, site, window, [answer])
        merge_counts(conn, site.id, rows.assign(payload_id=payload_id))
    return payload_id, rows, report


@dataclass
class MergedFiles:
    """What a run merged so far: how many files, the span they touched (from the run's window on) and
    the last one's validation (files are validated one by one; quality_run keeps the last report)."""

    span: Window
    files: int = 0
    validation: ValidationReport | None = None

    def add(self, rows: pd.DataFrame, report: ValidationReport) -> None:
        from footfall.push import touched_span

        self.span = touched_span(self.span, rows)
        self.files += 1
        self.validation = report


def finish_run(
    engine: Engine, site: Site, window: Window, run_id: str, started: datetime, result: SyncResult,
    failures: list[SiteDataError], merged: MergedFiles,
) -> SyncResult:  # fmt: skip
    """Record the run (failed when any file failed), check what it merged, and raise the first failure,
    after the others loaded and were checked."""
    from footfall.push import check_merged

    first = failures[0] if failures else None
    with engine.begin() as conn:
        ensure_site(conn, site)
        record_sync_run(
            conn, site.id, window, run_id=run_id, started_at=started, rows_read=result.rows_read,
            rows_loaded=result.rows_loaded, outcome="failed" if first else "success",
            stage=first.stage if first else None, error="; ".join(map(str, failures)) or None,
        )  # fmt: skip
    if merged.files or not failures:  # no file at all: the window is still checked (missing intervals)
        check_merged(engine, site, merged.span, run_id=run_id, validation=merged.validation)
    if first is not None:
        raise first
    return result


def load_files(
    engine: Engine, site: Site, window: Window, payloads: list[Payload], *, run_id: str, result: SyncResult
) -> SyncResult:
    """Merge payloads landed before (replay), each on its own; record the run; raise the first failure."""
    from footfall.push import merge_counts

    started, failures, t0 = datetime.now(UTC), [], time.perf_counter()
    merged = MergedFiles(window)
    for payload in payloads:
        try:
            rows, report = checked_rows(site, window, payload.body, payload.counter_ref, payload.payload_id)
        except SiteDataError as exc:
            mark_payload_error(engine, exc.payload_ids, f"{exc.stage}: {exc.reason}")
            failures.append(exc)
            continue
        with engine.begin() as conn:
            written = merge_counts(conn, site.id, rows)
        merged.add(rows, report)
        result.rows_read, result.rows_loaded, result.rows_written = (
            result.rows_read + len(rows), result.rows_loaded + len(rows), result.rows_written + written,
        )  # fmt: skip
    result.seconds["load"] = time.perf_counter() - t0
    return finish_run(engine, site, window, run_id, started, result, failures, merged)


def sync_file_window(site: Site, window: Window, *, engine: Engine, run_id: str = "cli") -> SyncResult:
    """Land and merge every new file of the site's folder; a file landed before is not read again."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    seen = landed_files(engine, site)
    limit = site.preset.max_body_bytes
    result = SyncResult(site.id, window, [])
    failures: list[SiteDataError] = []
    merged = MergedFiles(window)
    for path in folder_files(site):
        size = path.stat().st_size
        if size > limit:  # said, not read (it could be gigabytes); the other files still load
            reason = f"file {path.name} is {size} bytes, over the {limit}-byte limit: import it with `footfall import`"
            failures.append(ExtractError(site.id, source_label(site), reason))
            continue
        body = path.read_bytes()
        known = (hashlib.sha256(body).hexdigest(), counter_of(site, path.name))
        if known in seen:
            continue
        seen.add(known)  # two copies of one counter's export in the folder are one file
        answer = Fetched(known[1], f"file {path}", None, mimetypes.guess_type(path.name)[0], body)
        try:
            payload_id, rows, report = ingest_file(engine, site, window, answer)
        except SiteDataError as exc:
            result.payload_ids.extend(exc.payload_ids)
            failures.append(exc)
            continue
        merged.add(rows, report)
        written = len(rows)
        result.payload_ids.append(payload_id)
        result.rows_read += written
        result.rows_loaded += written
        result.rows_written += written
    result.seconds["load"] = time.perf_counter() - t0
    log.info("loaded %d new file(s) %s", len(result.payload_ids), result.summary())
    return finish_run(engine, site, window, run_id, started, result, failures, merged)
