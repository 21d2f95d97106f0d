"""The `file` source kind: vendor export files dropped in a folder, each landed verbatim and merged once.

A file says what it contains, not which window it answers, so (as for pushes) its intervals are
merged into count_interval (upsert, the latest landed file wins) instead of replacing a window.
A file whose bytes were landed before (same sha256) is not parsed again, whatever its name or
age; each new file is loaded in its own transaction, so one bad file never holds back the others
and never leaves half of itself loaded. Options: `folder`, `pattern` (glob, default `*`).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from footfall import db
from footfall.config import Site
from footfall.errors import ExtractError, SiteDataError, ValidationFailed
from footfall.extract import Fetched, ensure_site, land_payloads, mark_payload_error, source_label
from footfall.load import record_sync_run
from footfall.normalize import Payload, normalize_counts
from footfall.pipeline import SyncResult
from footfall.timewindow import Window
from footfall.validate import validate_counts

log = logging.getLogger(__name__)


def folder_files(site: Site) -> list[Path]:
    """Files of the site's folder matching its pattern, oldest first (so a later export wins)."""
    options = site.options()
    folder = options.get("folder")
    if not folder:
        raise ExtractError(site.id, source_label(site), "source.options.folder is missing")
    path = Path(str(folder)).expanduser()
    if not path.is_dir():
        raise ExtractError(site.id, source_label(site), f"folder {path} does not exist or is not a folder")
    found = [p for p in path.glob(str(options.get("pattern", "*"))) if p.is_file() and not p.name.startswith(".")]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def landed_shas(engine: Engine, site: Site) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.raw_payload.c.sha256).where(db.raw_payload.c.site_id == site.id))
        return {r.sha256 for r in rows}


def counter_of(site: Site, name: str) -> str | None:
    """The device a file belongs to: the only counter, else the counter whose ref the file name contains."""
    if len(site.counters) == 1:
        return site.counters[0].ref
    for counter in sorted(site.counters, key=lambda c: len(c.ref), reverse=True):
        if counter.ref in name:
            return counter.ref
    return None  # the body must then name its devices


def load_file(engine: Engine, site: Site, window: Window, payload: Payload) -> int:
    """Parse, validate and merge one landed file, atomically; returns the rows merged."""
    from footfall.push import merge_counts, plausible_range

    rows = normalize_counts(site, [payload])
    report = validate_counts(rows, plausible_range(site, window))
    if not report.success:
        raise ValidationFailed(site.id, source_label(site), report.summary(), [payload.payload_id])
    with engine.begin() as conn:
        return merge_counts(conn, site.id, rows)


def load_files(
    engine: Engine, site: Site, window: Window, payloads: list[Payload], *, run_id: str, result: SyncResult
) -> SyncResult:
    """Load each payload on its own; record the run; raise the first failure after the others are loaded."""
    started = datetime.now(UTC)
    failures: list[SiteDataError] = []
    t0 = time.perf_counter()
    for payload in payloads:
        try:
            written = load_file(engine, site, window, payload)
        except SiteDataError as exc:
            mark_payload_error(engine, exc.payload_ids, f"{exc.stage}: {exc.reason}")
            failures.append(exc)
            continue
        result.rows_loaded += written
        result.rows_written += written
    result.seconds["load"] = time.perf_counter() - t0
    first = failures[0] if failures else None
    with engine.begin() as conn:
        ensure_site(conn, site)
        record_sync_run(
            conn, site.id, window, run_id=run_id, started_at=started, rows_read=result.rows_loaded,
            rows_loaded=result.rows_loaded, outcome="failed" if first else "success",
            stage=first.stage if first else None, error="; ".join(map(str, failures)) or None,
        )  # fmt: skip
    if first is not None:
        raise first
    return result


def sync_file_window(site: Site, window: Window, *, engine: Engine, run_id: str = "cli") -> SyncResult:
    """Land every new file of the site's folder and merge it; files landed before are skipped."""
    t0 = time.perf_counter()
    seen = landed_shas(engine, site)
    fresh: list[tuple[Path, bytes]] = []
    limit = site.preset.max_body_bytes
    for path in folder_files(site):
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)  # two copies of one export in the folder are one file
        if len(body) > limit:
            raise ExtractError(site.id, source_label(site), f"file {path.name} is over the {limit}-byte limit")
        fresh.append((path, body))
    answers = [
        Fetched(counter_of(site, p.name), f"file {p}", None, mimetypes.guess_type(p.name)[0], body) for p, body in fresh
    ]
    ids = land_payloads(engine, site, window, answers) if answers else []
    result = SyncResult(site.id, window, ids, seconds={"extract": time.perf_counter() - t0})
    payloads = [Payload(i, a.body, a.counter_ref) for a, i in zip(answers, ids, strict=True)]
    load_files(engine, site, window, payloads, run_id=run_id, result=result)
    log.info("loaded %d new file(s) %s", len(payloads), result.summary())
    return result
