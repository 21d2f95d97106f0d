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
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from footfall.config import Site
from footfall.errors import ExtractError
from footfall.normalize import Payload, normalize_counts
from footfall.sources import site_folder
from footfall.sources.base import Batch, Fetched, WriteMode, source_label
from footfall.sources.push import plausible_range
from footfall.timewindow import Window
from footfall.warehouse.landing import landed_digests

log = logging.getLogger(__name__)


def folder_files(site: Site) -> list[Path]:
    """Files of the site's folder matching its pattern, oldest first (so a later export wins)."""
    options = site.options()
    path = site_folder(site)
    if not path.is_dir():
        raise ExtractError(site.id, source_label(site), f"folder {path} does not exist or is not a folder")
    found = [p for p in path.glob(str(options.get("pattern", "*"))) if p.is_file() and not p.name.startswith(".")]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def counter_of(site: Site, name: str) -> str | None:
    """The device a file belongs to: the only counter, else the counter whose ref the file name contains."""
    if len(site.counters) == 1:
        return site.counters[0].ref
    for counter in sorted(site.counters, key=lambda c: len(c.ref), reverse=True):
        if counter.ref in name:
            return counter.ref
    return None  # the body must then name its devices


class FileSource:
    """Every new file of the site's folder, one batch each, landed together with its merge."""

    kind = "file"
    mode: WriteMode = "merge"

    def label(self, site: Site) -> str:
        return source_label(site)

    def collect(self, site: Site, window: Window, *, engine: Engine) -> Iterable[Batch]:
        """A batch per file not landed before; a file is known by its bytes AND the counter it was read
        for, since two doors' exports can be byte for byte the same (a closed day)."""
        seen = landed_digests(engine, site.id)
        limit = site.preset.max_body_bytes
        batches = []
        for path in folder_files(site):
            size = path.stat().st_size
            if size > limit:  # said, not read (it could be gigabytes); the other files still load
                reason = (
                    f"file {path.name} is {size} bytes, over the {limit}-byte limit: import it with `footfall import`"
                )
                batches.append(Batch(error=ExtractError(site.id, source_label(site), reason)))
                continue
            body = path.read_bytes()
            known = (hashlib.sha256(body).hexdigest(), counter_of(site, path.name))
            if known in seen:
                continue
            seen.add(known)  # two copies of one counter's export in the folder are one file
            answer = Fetched(known[1], f"file {path}", None, mimetypes.guess_type(path.name)[0], body)
            batches.append(Batch([Payload(0, body, known[1])], pending=answer, body_bytes=len(body)))
        return batches

    def normalize(self, site: Site, window: Window, payloads: list[Payload]) -> pd.DataFrame:
        return normalize_counts(site, payloads)

    def expected_range(self, site: Site, window: Window) -> Window:
        return plausible_range(site, window)


def landed_file_batches(payloads: list[Payload]) -> list[Batch]:
    """Files landed before (a replay), each merged on its own again, oldest first."""
    return [Batch([p], body_bytes=len(p.body)) for p in payloads]
