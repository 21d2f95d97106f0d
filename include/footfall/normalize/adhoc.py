"""One payload file outside any registry (`footfall parse`, the preset conformance suite, the bench).

A site is made up from the bodies themselves: a probe with one counter finds the device ids, and the
site gets one counter per id found, so a sample can be parsed with nothing but its preset's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from footfall.config import Site

from .batch import read_payloads
from .common import Payload
from .counts import _counts
from .interpretation import Columns

CSV_HEADER = ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy"]


def _counter_id(ref: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", ref.lower()).strip("-_")[:63]
    return slug or "counter"


def adhoc_site(preset: str, site_id: str, timezone: str, options: dict[str, Any], refs: Iterable[str]) -> Site:
    """A site made up for one payload file: one counter per device id found (id = slug of the ref)."""
    from footfall.config import load_presets

    kind = load_presets()[preset].kind if preset in load_presets() else "file"
    counters: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ref in refs:
        cid = _counter_id(ref)
        while cid in seen:
            cid = f"{cid[:60]}-{len(seen)}"
        seen.add(cid)
        counters.append({"id": cid, "ref": ref})
    return Site.model_validate(
        {
            "id": site_id,
            "name": site_id,
            "timezone": timezone,
            "counters": counters or [{"id": "counter", "ref": "counter"}],
            "source": {"kind": kind, "preset": preset, "connection_id": "adhoc", "options": options},
        }
    )


def _adhoc_read(
    preset: str, payloads: list[Payload], site_id: str, timezone: str, options: dict[str, Any]
) -> tuple[Site, Columns]:
    """Read bodies for a made-up site: a probe with one counter finds the device ids, the site gets those."""
    probe = adhoc_site(preset, site_id, timezone, options, ["counter"])
    cols = read_payloads(probe, payloads, probe.options(), check_devices=False)
    refs = [cols.refs[code] for code in pd.unique(cols.ref)]
    site = adhoc_site(preset, site_id, timezone, options, refs or ["counter"])
    # The probe's readings are the site's own unless a record fell back to the probe's single counter
    # while the real site has several (then reading again raises, as it should).
    if len(refs) > 1 and "counter" in refs:
        cols = read_payloads(site, payloads, site.options())
    return site, cols


def site_of_bodies(
    preset: str,
    bodies: list[bytes],
    *,
    site_id: str = "site",
    timezone: str = "UTC",
    options: dict[str, Any] | None = None,
    received_at: datetime | None = None,
) -> Site:
    """The made-up site `parse_bodies` normalizes into: one counter per device id the bodies carry."""
    payloads = [Payload(i + 1, body, received_at=received_at) for i, body in enumerate(bodies)]
    return _adhoc_read(preset, payloads, site_id, timezone, options or {})[0]


def parse_bodies(
    preset: str,
    bodies: list[bytes],
    *,
    site_id: str = "site",
    timezone: str = "UTC",
    options: dict[str, Any] | None = None,
    received_at: datetime | None = None,
) -> pd.DataFrame:
    """Normalized rows of bodies in order (later wins), with counters made up from the device ids found."""
    payloads = [Payload(i + 1, body, received_at=received_at) for i, body in enumerate(bodies)]
    site, cols = _adhoc_read(preset, payloads, site_id, timezone, options or {})
    return _counts(site, site.options(), cols)


def counts_csv(rows: pd.DataFrame) -> str:
    """Rows as a counts CSV (interval_start in UTC ISO 8601, empty cells for absent measures)."""
    out = rows[CSV_HEADER].copy()
    out["interval_start"] = out["interval_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.to_csv(index=False, lineterminator="\n", na_rep="")
