"""The data team's read model: site health for the Sites page, one site's day for its page.

All the SQL of footfall's UI pages. The Sites page is one statement over every site (plus a cached list
of the registry's time zones, to know when each site's local day began): never one query per site.
A site's page reads its own day in a few statements, each bounded by the site and the day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, case, func, literal, select

from footfall import db

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
    last_loaded_at: datetime | None
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
        return sorted(conn.execute(select(db.site.c.timezone).distinct()).scalars())


def sites_health(engine: Engine, now: datetime, zones: list[str] | None = None) -> list[SiteHealth]:
    """Every site's health as of `now`, in one statement."""
    zones = zones if zones is not None else site_zones(engine)
    starts = {z: local_day_start(z, today_in(z, now)) for z in zones}
    earliest = min(starts.values(), default=now - timedelta(days=1))
    s, ci, sr, qf = db.site, db.count_interval, db.sync_run, db.quality_flag
    oc, fc = db.occupancy_corrected, db.forecast
    day_start = case(starts, value=s.c.timezone, else_=literal(earliest, db.UTCDateTime())) if starts else earliest

    latest = (
        select(
            ci.c.site_id,
            func.max(ci.c.interval_start).label("last_start"),
            func.max(ci.c.loaded_at).label("loaded"),
        )
        .where(ci.c.interval_start >= earliest - timedelta(days=2))
        .group_by(ci.c.site_id)
        .subquery("latest")
    )
    today = (
        select(
            ci.c.site_id,
            func.coalesce(func.sum(ci.c.entries), 0).label("entries"),
            func.coalesce(func.sum(ci.c.exits), 0).label("exits"),
        )
        .select_from(ci.join(s, s.c.site_id == ci.c.site_id))
        .where(ci.c.interval_start >= day_start, ci.c.interval_start <= now)
        .group_by(ci.c.site_id)
        .subquery("today")
    )
    run_rank = (
        select(
            sr.c.site_id,
            sr.c.run_id,
            sr.c.outcome,
            sr.c.stage,
            sr.c.error,
            sr.c.finished_at,
            func.row_number().over(partition_by=sr.c.site_id, order_by=sr.c.started_at.desc()).label("n"),
        )
        .where(sr.c.started_at >= earliest - timedelta(days=2))
        .subquery("run_rank")
    )
    last_run = select(run_rank).where(run_rank.c.n == 1).subquery("last_run")
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
    occ_rank = (
        select(
            oc.c.site_id,
            oc.c.corrected_occupancy,
            oc.c.raw_net_occupancy,
            func.row_number().over(partition_by=oc.c.site_id, order_by=oc.c.interval_start.desc()).label("n"),
        )
        .where(oc.c.interval_start >= earliest - timedelta(days=1), oc.c.interval_start <= now)
        .subquery("occ_rank")
    )
    occ = select(occ_rank).where(occ_rank.c.n == 1).subquery("occ")
    factor_rank = (
        select(
            oc.c.site_id,
            oc.c.correction_factor,
            func.row_number().over(partition_by=oc.c.site_id, order_by=oc.c.interval_start.desc()).label("n"),
        )
        .where(oc.c.correction_factor.is_not(None), oc.c.interval_start >= earliest - timedelta(days=8))
        .subquery("factor_rank")
    )
    factor = select(factor_rank).where(factor_rank.c.n == 1).subquery("factor")
    fc_rank = (
        select(
            fc.c.site_id,
            fc.c.method,
            fc.c.model_version,
            func.row_number().over(partition_by=fc.c.site_id, order_by=fc.c.issued_at.desc()).label("n"),
        )
        .where(fc.c.slot_start >= now - timedelta(hours=1), fc.c.slot_start < now + timedelta(hours=1))
        .subquery("fc_rank")
    )
    forecast = select(fc_rank).where(fc_rank.c.n == 1).subquery("forecast_now")

    query = (
        select(
            s.c.site_id,
            s.c.name,
            s.c.timezone,
            s.c.capacity,
            s.c.source_kind,
            s.c.preset,
            latest.c.last_start,
            latest.c.loaded,
            last_run.c.run_id,
            last_run.c.outcome,
            last_run.c.stage,
            last_run.c.error,
            last_run.c.finished_at,
            today.c.entries,
            today.c.exits,
            occ.c.corrected_occupancy,
            occ.c.raw_net_occupancy,
            *(flags.c[sev] for sev in SEVERITIES),
            factor.c.correction_factor,
            forecast.c.method,
            forecast.c.model_version,
        )
        .select_from(
            s.outerjoin(latest, latest.c.site_id == s.c.site_id)
            .outerjoin(today, today.c.site_id == s.c.site_id)
            .outerjoin(last_run, last_run.c.site_id == s.c.site_id)
            .outerjoin(flags, flags.c.site_id == s.c.site_id)
            .outerjoin(occ, occ.c.site_id == s.c.site_id)
            .outerjoin(factor, factor.c.site_id == s.c.site_id)
            .outerjoin(forecast, forecast.c.site_id == s.c.site_id)
        )
        .order_by(s.c.site_id)
    )
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
            last_loaded_at=as_utc(r.loaded),
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
    s = db.site
    with engine.connect() as conn:
        site = conn.execute(select(s).where(s.c.site_id == site_id)).mappings().first()
        if site is None:
            return None
        day = day or today_in(site["timezone"], now)
        start = local_day_start(site["timezone"], day)
        end = local_day_start(site["timezone"], day + timedelta(days=1))
        ci, oc, fc, qf = db.count_interval, db.occupancy_corrected, db.forecast, db.quality_flag
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
        intervals = [{**r, "interval_start": as_utc(r["interval_start"])} for r in intervals]
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
        ir = db.interval_revision
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
        rp = db.raw_payload
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
        sr = db.sync_run
        runs = [
            dict(r)
            for r in conn.execute(
                select(sr.c.run_id, sr.c.window_start, sr.c.window_end, sr.c.outcome, sr.c.stage, sr.c.error)
                .where(sr.c.site_id == site_id)
                .order_by(sr.c.started_at.desc())
                .limit(10)
            ).mappings()
        ]
        qr = db.quality_run
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
        intervals=intervals,
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
    rp = db.raw_payload
    with engine.connect() as conn:
        row = conn.execute(
            select(rp.c.body, rp.c.content_type).where(rp.c.payload_id == payload_id, rp.c.site_id == site_id)
        ).first()
    return (bytes(row.body), row.content_type) if row else None
