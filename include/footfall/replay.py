"""Replay: re-parse the payloads already landed for a site and range with the CURRENT site file, and reload.

Nothing calls the source: a fixed counter mapping, a swapped door or a corrected option is applied
to what the source said at the time. A pulled body is reloaded over the window it was fetched for
(windows in order, so a later fetch of an overlapping range wins, as it did live); within a window
the latest body per device wins. A file site re-merges the bodies received in the range; a push
site too, plus the in-range intervals of bodies received after it (footfall.sources.push).
Changed intervals leave a row in interval_revision (the write records them), identical ones do not.
Every window goes through footfall.lifecycle.run_window, as a live run does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from footfall.config import Site, SourceKind
from footfall.lifecycle import run_window
from footfall.normalize import Payload
from footfall.sources import source_for
from footfall.sources.base import Batch, Landed, SyncResult, source_label
from footfall.timewindow import Window
from footfall.warehouse.engine import get_engine
from footfall.warehouse.landing import clear_payload_errors, pulled_bodies, read_body


def landed_windows(engine: Engine, site: Site, window: Window) -> list[tuple[Window, list[Payload]]]:
    """Stored bodies of this site's current source whose fetch window overlaps `window`, by fetch window.

    HTTP error answers are left out (they never held counts); the latest body per device wins.
    """
    groups: dict[tuple[datetime, datetime], dict[str | None, Payload]] = {}
    for r in pulled_bodies(engine, site.id, source_label(site), window):  # a later body replaces an earlier one
        groups.setdefault((r.window_start, r.window_end), {})[r.counter_ref] = Payload(
            r.payload_id, read_body(r.body), r.counter_ref
        )
    return [(Window(start, end), list(bodies.values())) for (start, end), bodies in groups.items()]


def replay_files(site: Site, window: Window, *, engine: Engine, run_id: str) -> SyncResult:
    """A file site: merge again, each on its own, the files landed in the range (oldest first)."""
    from footfall.sources.files import landed_file_batches
    from footfall.sources.push import received_payloads

    payloads = received_payloads(engine, site, window, source_label(site))
    source = Landed(source_for(site), landed_file_batches(payloads))
    result = run_window(source, site, window, engine=engine, run_id=run_id)
    clear_payload_errors(engine, result.payload_ids)
    return result


def replay(site: Site, window: Window, *, engine: Engine | None = None, run_id: str = "replay") -> list[SyncResult]:
    """Reload `site` over `window` from landed payloads only; raises the first window's SiteDataError."""
    engine = engine or get_engine()
    if site.source.kind == SourceKind.PUSH:  # a push run reads landed bodies only: the same run replays
        return [run_window(source_for(site), site, window, engine=engine, run_id=run_id)]
    if site.source.kind == SourceKind.FILE:
        return [replay_files(site, window, engine=engine, run_id=run_id)]
    results = []
    source = source_for(site)
    for fetched, payloads in landed_windows(engine, site, window):
        landed = Landed(source, [Batch(payloads, window=fetched, body_bytes=sum(len(p.body) for p in payloads))])
        results.append(run_window(landed, site, fetched, engine=engine, run_id=run_id))
        clear_payload_errors(engine, [p.payload_id for p in payloads])
    return results
