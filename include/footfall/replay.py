"""Replay: re-parse the payloads already landed for a site and range with the CURRENT site file, and reload.

Nothing calls the source: a fixed counter mapping, a swapped door or a corrected option is applied
to what the source said at the time. A pulled body is reloaded over the window it was fetched for
(windows in order, so a later fetch of an overlapping range wins, as it did live); within a window
the latest body per device wins. A file site re-merges the bodies received in the range; a push
site too, plus the in-range intervals of bodies received after it (footfall.push).
Changed intervals leave a row in interval_revision (the load or merge records them), identical ones do not.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from footfall import db
from footfall.config import Site, SourceKind
from footfall.extract import read_body, source_label
from footfall.normalize import Payload
from footfall.pipeline import SyncResult, process_payloads
from footfall.timewindow import Window

log = logging.getLogger(__name__)


def landed_windows(engine: Engine, site: Site, window: Window) -> list[tuple[Window, list[Payload]]]:
    """Stored bodies of this site's current source whose fetch window overlaps `window`, by fetch window.

    HTTP error answers are left out (they never held counts); the latest body per device wins.
    """
    table = db.raw_payload
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.payload_id, table.c.window_start, table.c.window_end, table.c.counter_ref, table.c.body)
            .where(
                table.c.site_id == site.id,
                table.c.source == source_label(site),
                table.c.window_start < window.end,
                table.c.window_end > window.start,
                (table.c.http_status.is_(None)) | (table.c.http_status < 400),
            )
            .order_by(table.c.window_start, table.c.window_end, table.c.payload_id)
        ).all()
    groups: dict[tuple[datetime, datetime], dict[str | None, Payload]] = {}
    for r in rows:  # ordered by payload_id within a window: a later body replaces an earlier one
        groups.setdefault((r.window_start, r.window_end), {})[r.counter_ref] = Payload(
            r.payload_id, read_body(r.body), r.counter_ref
        )
    return [(Window(start, end), list(bodies.values())) for (start, end), bodies in groups.items()]


def clear_payload_errors(engine: Engine, payload_ids: list[int]) -> None:
    """A body that loads now is no longer 'unusable': drop the error an earlier attempt left on it."""
    if payload_ids:
        with engine.begin() as conn:
            conn.execute(db.raw_payload.update().where(db.raw_payload.c.payload_id.in_(payload_ids)).values(error=None))


def replay_files(site: Site, window: Window, *, engine: Engine, run_id: str) -> SyncResult:
    """A file site: merge again, each on its own, the files landed in the range (oldest first)."""
    from footfall.push import received_payloads
    from footfall.sources.files import load_files

    payloads = received_payloads(engine, site, window, source_label(site))
    result = load_files(engine, site, window, payloads, run_id=run_id, result=SyncResult(site.id, window, []))
    result.payload_ids = [p.payload_id for p in payloads]
    clear_payload_errors(engine, result.payload_ids)
    return result


def replay(site: Site, window: Window, *, engine: Engine | None = None, run_id: str = "replay") -> list[SyncResult]:
    """Reload `site` over `window` from landed payloads only; raises the first window's SiteDataError."""
    engine = engine or db.get_engine()
    if site.source.kind == SourceKind.PUSH:
        from footfall.push import process_pushed_window

        return [process_pushed_window(site, window, engine=engine, run_id=run_id)]
    if site.source.kind == SourceKind.FILE:
        return [replay_files(site, window, engine=engine, run_id=run_id)]
    results = []
    for fetched, payloads in landed_windows(engine, site, window):
        result = process_payloads(site, fetched, payloads, engine=engine, run_id=run_id, started=datetime.now(UTC))
        clear_payload_errors(engine, [p.payload_id for p in payloads])
        log.info("replayed %s", result.summary())
        results.append(result)
    return results
