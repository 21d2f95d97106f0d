"""Per-site summaries of what the warehouse holds, for the demo, the CLI and the data team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from footfall.warehouse import health
from footfall.warehouse.counts import counts_between
from footfall.warehouse.landing import site_kinds
from footfall.warehouse.runs import failed_windows_by_site


@dataclass(frozen=True)
class SiteSummary:
    site_id: str
    intervals: int
    entries: int
    exits: int
    peak_net_occupancy: int
    first_interval: datetime | None
    last_interval: datetime | None
    failed_windows: int
    source_kind: str = ""
    occupancy_now: float | None = None  # corrected occupancy (from the local day's start) at the last interval


def site_summaries(engine: Engine, start: datetime, end: datetime) -> list[SiteSummary]:
    """Totals per site over [start, end), and its occupancy now: the corrected occupancy, counted from the
    site's local day start (never a running net of [start, end), which starts from 0 at `start`)."""
    with engine.connect() as conn:
        rows = counts_between(conn, start, end)
        failed = failed_windows_by_site(conn, start)
        sites = site_kinds(conn)
    now = {h.site_id: h for h in health.sites_health(engine, end)}
    out = []
    for site_id, source_kind in sites.items():
        part = rows[rows["site_id"] == site_id]
        per_slot = part.groupby("interval_start")[["entries", "exits"]].sum().sort_index()
        net = (per_slot["entries"].fillna(0) - per_slot["exits"].fillna(0)).cumsum()
        out.append(
            SiteSummary(
                site_id=site_id,
                intervals=len(part),
                entries=int(part["entries"].fillna(0).sum()),
                exits=int(part["exits"].fillna(0).sum()),
                peak_net_occupancy=int(net.max()) if len(net) else 0,
                first_interval=part["interval_start"].min() if len(part) else None,
                last_interval=part["interval_start"].max() if len(part) else None,
                failed_windows=int(failed.get(site_id, 0)),
                source_kind=source_kind,
                occupancy_now=_occupancy(now.get(site_id)),
            )
        )
    return out


def _occupancy(h: health.SiteHealth | None) -> float | None:
    if h is None:
        return None
    return h.occupancy_now if h.occupancy_now is not None else h.raw_occupancy_now


def format_table(summaries: list[SiteSummary], failed_runs: dict[str, int] | None = None) -> str:
    """One line per site; `failed_runs` (Airflow's count) replaces the failed windows sync_run holds."""
    header = (
        f"{'site':<18} {'source':<9} {'intervals':>9} {'entries':>8} {'exits':>8} {'occ. now':>9} {'failed runs':>11}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        failed = (failed_runs or {}).get(s.site_id, s.failed_windows)
        lines.append(
            f"{s.site_id:<18} {s.source_kind:<9} {s.intervals:>9} {s.entries:>8} {s.exits:>8} "
            f"{_shown(s.occupancy_now):>9} {failed:>11}"
        )
    return "\n".join(lines)


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
