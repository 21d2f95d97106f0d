"""The data team's read model: site health for the Sites page, one site's day for its page.

All the SQL of footfall's UI pages. The Sites page is one statement over every site (plus a cached list
of the registry's time zones, to know when each site's local day began): never one query per site.
A site's page reads its own day in a few statements, each bounded by the site and the day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import overload
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, and_, case, func, literal, select

from footfall.warehouse import schema

SEVERITIES = ("high", "medium", "low")


def local_day_start(zone: str, day: date) -> datetime:
    """The UTC instant a local calendar day begins in `zone` (DST days included)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def today_in(zone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


@dataclass(frozen=True)
class SiteHealth:
    """One row of the Sites page."""

    site_id: str
    name: str
    timezone: str
    capacity: int | None
    source_kind: str
    preset: str
    last_interval_start: datetime | None
    last_run_id: str | None
    last_run_outcome: str | None
    last_run_stage: str | None
    last_run_error: str | None
    last_run_finished_at: datetime | None
    entries_today: int
    exits_today: int
    occupancy_now: float | None
    raw_occupancy_now: float | None
    flags: dict[str, int]
    correction_factor: float | None
    forecast_method: str | None
    forecast_model_version: int | None

    @property
    def dag_id(self) -> str:
        return f"site__{self.site_id}"

    def age_minutes(self, now: datetime) -> float | None:
        if self.last_interval_start is None:
            return None
        return (now - self.last_interval_start).total_seconds() / 60


def site_zones(engine: Engine) -> list[str]:
    """The distinct time zones of the warehouse's sites."""
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.site.c.timezone).distinct()).scalars())


def sites_health(engine: Engine, now: datetime, zones: list[str] | None = None) -> list[SiteHealth]:
    """Every site's health as of `now`, in one statement."""
    query = sites_query(now, zones if zones is not None else site_zones(engine))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        SiteHealth(
            site_id=r.site_id,
            name=r.name,
            timezone=r.timezone,
            capacity=r.capacity,
            source_kind=r.source_kind,
            preset=r.preset,
            last_interval_start=as_utc(r.last_start),
            last_run_id=r.run_id,
            last_run_outcome=r.outcome,
            last_run_stage=r.stage,
            last_run_error=r.error,
            last_run_finished_at=as_utc(r.finished_at),
            entries_today=int(r.entries or 0),
            exits_today=int(r.exits or 0),
            occupancy_now=r.corrected_occupancy,
            raw_occupancy_now=r.raw_net_occupancy,
            flags={sev: int(getattr(r, sev) or 0) for sev in SEVERITIES},
            correction_factor=r.correction_factor,
            forecast_method=r.method,
            forecast_model_version=r.model_version,
        )
        for r in rows
    ]


def sites_query(now: datetime, zones: list[str]) -> Select:
    """The Sites page's statement: one round trip for every site.

    Every "latest row of a site" and "today's rows of a door" is a correlated subquery on a table's
    own primary key (count_interval by site and door, occupancy_corrected, sync_run and forecast by
    site), so the database probes each site's index for today's rows instead of scanning history:
    the cost grows with sites and today's intervals, not with the years a warehouse holds.
    """
    starts = {z: local_day_start(z, today_in(z, now)) for z in zones}
    earliest = min(starts.values(), default=now - timedelta(days=1))
    s, c, ci, sr, qf = schema.site, schema.counter, schema.count_interval, schema.sync_run, schema.quality_flag
    oc, fc = schema.occupancy_corrected, schema.forecast
    day_start = case(starts, value=s.c.timezone, else_=literal(earliest, schema.UTCDateTime())) if starts else earliest

    door = and_(ci.c.site_id == c.c.site_id, ci.c.counter_id == c.c.counter_id)
    today = and_(door, ci.c.interval_start >= day_start, ci.c.interval_start <= now)
    doors = (
        select(
            c.c.site_id,
            select(func.max(ci.c.interval_start))
            .where(door, ci.c.interval_start <= now)
            .scalar_subquery()
            .label("last"),
            select(func.sum(ci.c.entries)).where(today).scalar_subquery().label("entries"),
            select(func.sum(ci.c.exits)).where(today).scalar_subquery().label("exits"),
        )
        .select_from(c.join(s, s.c.site_id == c.c.site_id))
        .subquery("doors")
    )
    counts = (
        select(
            doors.c.site_id,
            func.max(doors.c.last).label("last_start"),
            func.coalesce(func.sum(doors.c.entries), 0).label("entries"),
            func.coalesce(func.sum(doors.c.exits), 0).label("exits"),
        )
        .group_by(doors.c.site_id)
        .subquery("counts")
    )
    keys = select(
        s.c.site_id,
        select(func.max(sr.c.window_start))
        .where(sr.c.site_id == s.c.site_id)
        .correlate(s)
        .scalar_subquery()
        .label("run_start"),
        select(func.max(oc.c.interval_start))
        .where(oc.c.site_id == s.c.site_id, oc.c.interval_start <= now)
        .correlate(s)
        .scalar_subquery()
        .label("occ_at"),
        select(func.max(oc.c.interval_start))
        .where(oc.c.site_id == s.c.site_id, oc.c.interval_start <= now, oc.c.correction_factor.is_not(None))
        .correlate(s)
        .scalar_subquery()
        .label("factor_at"),
        select(func.max(fc.c.slot_start))
        .where(fc.c.site_id == s.c.site_id, fc.c.slot_start <= now, fc.c.slot_start > now - timedelta(hours=2))
        .correlate(s)
        .scalar_subquery()
        .label("slot_at"),
    ).subquery("keys")
    ends = sr.alias("run_end")
    run_end = (
        select(func.max(ends.c.window_end))
        .where(ends.c.site_id == keys.c.site_id, ends.c.window_start == keys.c.run_start)
        .correlate(keys)
        .scalar_subquery()
    )
    occ, factor = oc.alias("occ"), oc.alias("factor")
    flags = (
        select(
            qf.c.site_id,
            *(func.sum(case((qf.c.severity == sev, 1), else_=0)).label(sev) for sev in SEVERITIES),
        )
        .select_from(qf.join(s, s.c.site_id == qf.c.site_id))
        .where(qf.c.period_end > day_start, qf.c.period_start <= now)
        .group_by(qf.c.site_id)
        .subquery("flags")
    )
    return (
        select(
            s.c.site_id,
            s.c.name,
            s.c.timezone,
            s.c.capacity,
            s.c.source_kind,
            s.c.preset,
            counts.c.last_start,
            sr.c.run_id,
            sr.c.outcome,
            sr.c.stage,
            sr.c.error,
            sr.c.finished_at,
            counts.c.entries,
            counts.c.exits,
            occ.c.corrected_occupancy,
            occ.c.raw_net_occupancy,
            *(flags.c[sev] for sev in SEVERITIES),
            factor.c.correction_factor,
            fc.c.method,
            fc.c.model_version,
        )
        .select_from(
            s.join(keys, keys.c.site_id == s.c.site_id)
            .outerjoin(counts, counts.c.site_id == s.c.site_id)
            .outerjoin(
                sr,
                and_(sr.c.site_id == s.c.site_id, sr.c.window_start == keys.c.run_start, sr.c.window_end == run_end),
            )
            .outerjoin(occ, and_(occ.c.site_id == s.c.site_id, occ.c.interval_start == keys.c.occ_at))
            .outerjoin(factor, and_(factor.c.site_id == s.c.site_id, factor.c.interval_start == keys.c.factor_at))
            .outerjoin(fc, and_(fc.c.site_id == s.c.site_id, fc.c.slot_start == keys.c.slot_at))
            .outerjoin(flags, flags.c.site_id == s.c.site_id)
        )
        .order_by(s.c.site_id)
    )


@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | str) -> datetime: ...
def as_utc(value: datetime | str | None) -> datetime | None:
    """Instants from a subquery's max() lose their column type on SQLite (text): read them back as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- one site's day ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteDay:
    """What a site's page shows for one local day."""

    site_id: str
    name: str
    timezone: str
    capacity: int | None
    day: date
    start: datetime
    end: datetime
    intervals: list[dict]  # interval_start, entries, exits (summed over doors)
    occupancy: list[dict]  # interval_start, raw_net_occupancy, corrected_occupancy
    forecast: list[dict]  # slot_start, occupancy_p10/p50/p90, entries_p10/p50/p90, method
    flags: list[dict]
    revisions: list[dict]
    payloads: list[dict]
    runs: list[dict]
    last_validation: dict | None


def site_day(engine: Engine, site_id: str, day: date | None, now: datetime) -> SiteDay | None:
    """A site's counts, occupancy, forecast, flags, revisions, payloads and runs over its local `day`."""
    s = schema.site
    with engine.connect() as conn:
        site = conn.execute(select(s).where(s.c.site_id == site_id)).mappings().first()
        if site is None:
            return None
        day = day or today_in(site["timezone"], now)
        start = local_day_start(site["timezone"], day)
        end = local_day_start(site["timezone"], day + timedelta(days=1))
        ci, oc, fc, qf = schema.count_interval, schema.occupancy_corrected, schema.forecast, schema.quality_flag
        in_day = and_(ci.c.site_id == site_id, ci.c.interval_start >= start, ci.c.interval_start < end)
        intervals = conn.execute(
            select(
                ci.c.interval_start,
                func.sum(ci.c.entries).label("entries"),
                func.sum(ci.c.exits).label("exits"),
            )
            .where(in_day)
            .group_by(ci.c.interval_start)
            .order_by(ci.c.interval_start)
        ).mappings()
        day_intervals = [{**r, "interval_start": as_utc(r["interval_start"])} for r in intervals]
        occupancy = [
            dict(r)
            for r in conn.execute(
                select(oc.c.interval_start, oc.c.raw_net_occupancy, oc.c.corrected_occupancy)
                .where(oc.c.site_id == site_id, oc.c.interval_start >= start, oc.c.interval_start < end)
                .order_by(oc.c.interval_start)
            ).mappings()
        ]
        forecast = [
            dict(r)
            for r in conn.execute(
                select(
                    fc.c.slot_start,
                    fc.c.slot_minutes,
                    fc.c.method,
                    fc.c.occupancy_p10,
                    fc.c.occupancy_p50,
                    fc.c.occupancy_p90,
                    fc.c.entries_p10,
                    fc.c.entries_p50,
                    fc.c.entries_p90,
                )
                .where(fc.c.site_id == site_id, fc.c.slot_start >= start, fc.c.slot_start < end)
                .order_by(fc.c.slot_start)
            ).mappings()
        ]
        flags = [
            {**r, "evidence": _json(r["evidence"])}
            for r in conn.execute(
                select(
                    qf.c.check_name,
                    qf.c.severity,
                    qf.c.counter_id,
                    qf.c.period_start,
                    qf.c.period_end,
                    qf.c.observed,
                    qf.c.expected,
                    qf.c.evidence,
                    qf.c.run_id,
                )
                .where(qf.c.site_id == site_id, qf.c.period_end > start, qf.c.period_start < end)
                .order_by(qf.c.period_start)
            ).mappings()
        ]
        ir = schema.interval_revision
        revisions = [
            dict(r)
            for r in conn.execute(
                select(
                    ir.c.counter_id,
                    ir.c.interval_start,
                    ir.c.old_entries,
                    ir.c.new_entries,
                    ir.c.old_exits,
                    ir.c.new_exits,
                    ir.c.revised_at,
                )
                .where(ir.c.site_id == site_id, ir.c.interval_start >= start, ir.c.interval_start < end)
                .order_by(ir.c.revised_at.desc())
                .limit(50)
            ).mappings()
        ]
        rp = schema.raw_payload
        payloads = [
            dict(r)
            for r in conn.execute(
                select(
                    rp.c.payload_id,
                    rp.c.source,
                    rp.c.counter_ref,
                    rp.c.window_start,
                    rp.c.window_end,
                    rp.c.received_at,
                    rp.c.http_status,
                    rp.c.content_type,
                    rp.c.body_bytes,
                    rp.c.error,
                )
                .where(rp.c.site_id == site_id)
                .order_by(rp.c.payload_id.desc())
                .limit(10)
            ).mappings()
        ]
        sr = schema.sync_run
        runs = [
            dict(r)
            for r in conn.execute(
                select(sr.c.run_id, sr.c.window_start, sr.c.window_end, sr.c.outcome, sr.c.stage, sr.c.error)
                .where(sr.c.site_id == site_id)
                .order_by(sr.c.started_at.desc())
                .limit(10)
            ).mappings()
        ]
        qr = schema.quality_run
        validation = (
            conn.execute(
                select(qr.c.run_id, qr.c.gx_success, qr.c.flags, qr.c.finished_at)
                .where(qr.c.site_id == site_id)
                .order_by(qr.c.finished_at.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return SiteDay(
        site_id=site_id,
        name=site["name"],
        timezone=site["timezone"],
        capacity=site["capacity"],
        day=day,
        start=start,
        end=end,
        intervals=day_intervals,
        occupancy=occupancy,
        forecast=forecast,
        flags=flags,
        revisions=revisions,
        payloads=payloads,
        runs=runs,
        last_validation=dict(validation) if validation else None,
    )


def _json(text: str | None) -> object:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def raw_body(engine: Engine, site_id: str, payload_id: int) -> tuple[bytes, str | None] | None:
    """A landed body, still gzip-compressed as stored, and its content type; None if not this site's."""
    rp = schema.raw_payload
    with engine.connect() as conn:
        row = conn.execute(
            select(rp.c.body, rp.c.content_type).where(rp.c.payload_id == payload_id, rp.c.site_id == site_id)
        ).first()
    return (bytes(row.body), row.content_type) if row else None
