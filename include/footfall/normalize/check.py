""" "Would this payload load?": one file through the pipeline's normalize and validation, and what it read.

`footfall parse` and `footfall presets test` use it: with a site file the device ids map to the
site's counter ids and the site's zone is used (its output then feeds `footfall quality check`), without
one a site is made up from the body (footfall.normalize.adhoc). Refusals are the pipeline's own
errors (ParseError, ValidationFailed) naming site, source and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from footfall.config import Site
from footfall.errors import ValidationFailed

from .adhoc import adhoc_read
from .batch import read_payloads
from .common import Payload
from .counts import ROWS_SKIPPED, counts_of_columns
from .interpretation import Columns


@dataclass
class PayloadCheck:
    """What a preset read from one file: readings, skipped rows, intervals, zone, resolution, totals."""

    site: Site
    rows: pd.DataFrame
    readings: int
    rows_skipped: int
    reading_totals: dict[str, float] = field(default_factory=dict)
    resolutions: list[float] = field(default_factory=list)

    def report(self) -> list[str]:
        preset = self.site.preset
        rows = self.rows
        lines = [
            f"preset      {preset.name} ({preset.kind.value}, {preset.format}, measure {preset.measure})",
            f"site        {self.site.id}, zone {self.site.timezone} (times: {preset.time.zone}, {preset.time.format})",
            f"readings    {self.readings} read, {self.rows_skipped} row(s) without counts or repeated skipped",
            f"resolution  {', '.join(f'{m:g} min' for m in self.resolutions) or '-'} as read (stored at >= 5 min)",
            f"counters    {', '.join(f'{c.ref} -> {c.id}' for c in self.site.counters)}",
        ]
        if preset.measure == "cumulative":
            totals = ", ".join(f"{m} {v:g}" for m, v in self.reading_totals.items())
            lines.append(f"last totals {totals or '-'} (running totals; intervals need two readings)")
        if rows.empty:
            lines.append("intervals   0")
            return lines
        first, last = rows["interval_start"].min(), rows["interval_start"].max()
        lines.append(f"intervals   {len(rows)} from {first:%Y-%m-%dT%H:%M}Z to {last:%Y-%m-%dT%H:%M}Z (starts, UTC)")
        sums = [f"{m} {int(rows[m].sum())}" for m in ("entries", "exits") if rows[m].notna().any()]
        if rows["occupancy"].notna().any():
            sums.append(f"occupancy max {int(rows['occupancy'].max())}")
        lines.append(f"totals      {', '.join(sums)}")
        return lines


def _reading_totals(site: Site, cols: Columns) -> dict[str, float]:
    """Sum over counters of each counter's last running total (what a single cumulative reading says)."""
    out = {}
    for m, values in cols.measures.items():
        last = {}
        for code, value in zip(cols.ref.tolist(), values.tolist(), strict=True):
            if not np.isnan(value):
                last[code] = value
        out[m] = float(sum(last.values()))
    return out


def check_payload(
    preset: str,
    body: bytes,
    *,
    site: Site | None = None,
    site_id: str = "site",
    timezone: str = "UTC",
    options: dict[str, Any] | None = None,
) -> PayloadCheck:
    """Normalize and validate one file as the pipeline would (ParseError/ValidationFailed when it would not load).

    With `site`, the site's counters, zone and options are used (its preset must be `preset`)."""
    payloads = [Payload(1, body)]
    if site is None:
        site, cols = adhoc_read(preset, payloads, site_id, timezone, options or {})
        site_options = site.options()
    else:
        if site.source.preset != preset:
            raise ValueError(f"site {site.id} uses preset {site.source.preset!r}, not {preset!r}")
        site_options = {**site.options(), **(options or {})}
        cols = read_payloads(site, payloads, site_options)
    rows = counts_of_columns(site, site_options, cols)
    if not rows.empty:
        from footfall.timewindow import Window
        from footfall.validate import validate_counts

        start = rows["interval_start"].min().to_pydatetime()
        end = (rows["interval_start"] + pd.to_timedelta(rows["interval_minutes"].astype(float), unit="min")).max()
        report = validate_counts(rows, Window(start, max(end.to_pydatetime(), start + timedelta(minutes=5))))
        if not report.success:
            raise ValidationFailed(site.id, site.source_label, report.summary(), [1])
    known = ~np.isnat(cols.start)
    return PayloadCheck(
        site,
        rows,
        readings=int(known.sum()),
        rows_skipped=int(rows.attrs.get(ROWS_SKIPPED, cols.skipped)),
        reading_totals=_reading_totals(site, cols.take(known)),
        resolutions=sorted({float(m) for m in cols.minutes[known] if not np.isnan(m)}),
    )
