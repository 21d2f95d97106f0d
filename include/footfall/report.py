"""Per-site summaries of what the warehouse holds, for the demo, the CLI and the data team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, func, select

from footfall import db


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


def site_summaries(engine: Engine, start: datetime, end: datetime) -> list[SiteSummary]:
    """Totals per site over [start, end); occupancy is the running net (entries - exits) from `start`,
    summed over doors from raw counts (never from per-door values clamped at zero)."""
    ci = db.count_interval
    query = select(ci.c.site_id, ci.c.interval_start, ci.c.entries, ci.c.exits).where(
        ci.c.interval_start >= start, ci.c.interval_start < end
    )
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(query).all(), columns=["site_id", "interval_start", "entries", "exits"])
        failed: dict[str, int] = dict(
            conn.execute(
                select(db.sync_run.c.site_id, func.count())
                .where(db.sync_run.c.outcome == "failed", db.sync_run.c.window_end > start)
                .group_by(db.sync_run.c.site_id)
            ).all()
        )
        sites = dict(conn.execute(select(db.site.c.site_id, db.site.c.source_kind).order_by(db.site.c.site_id)).all())
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
            )
        )
    return out


def format_table(summaries: list[SiteSummary], failed_runs: dict[str, int] | None = None) -> str:
    """One line per site; `failed_runs` (Airflow's count) replaces the failed windows sync_run holds."""
    header = (
        f"{'site':<18} {'source':<9} {'intervals':>9} {'entries':>8} {'exits':>8} {'peak occ.':>9} {'failed runs':>11}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        failed = (failed_runs or {}).get(s.site_id, s.failed_windows)
        lines.append(
            f"{s.site_id:<18} {s.source_kind:<9} {s.intervals:>9} {s.entries:>8} {s.exits:>8} "
            f"{s.peak_net_occupancy:>9} {failed:>11}"
        )
    return "\n".join(lines)
