"""The sharing read model: partner keys, the usual-occupancy profile, and the few bounded reads behind each request.

Every public request runs one to four indexed queries bounded by a site and a time range (the last
corrected interval, one local day of observations and forecasts, the 2-hour nowcast, one weekday of the usual profile):
none scans a site's history. The usual profile is the only aggregate over history; it is computed
from the last USUAL_WEEKS weeks of corrected occupancy into `share_usual` at most once a day per site.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Engine,
    Table,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)

from footfall.keys import key_digest, new_key
from footfall.warehouse import schema
from footfall.warehouse.schema import partner, partner_site, share_usual

KEY_PREFIX = "ffp_"
USUAL_WEEKS = 8
USUAL_SLOT_MINUTES = 30
USUAL_MAX_AGE = timedelta(hours=24)

# --- partner keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partner:
    """A partner as it may be shown (never its key)."""

    partner_id: int
    name: str
    sites: tuple[str, ...]
    rate_per_minute: int
    created_at: datetime
    revoked_at: datetime | None


def create_partner(engine: Engine, name: str, sites: list[str], rate_per_minute: int = 600) -> tuple[int, str]:
    """Store a new partner key's hash with the sites it may read; the clear key is returned once."""
    key = new_key(KEY_PREFIX)
    with engine.begin() as conn:
        partner_id = conn.execute(
            insert(partner)
            .values(name=name, key_hash=key_digest(key), rate_per_minute=rate_per_minute, created_at=datetime.now(UTC))
            .returning(partner.c.partner_id)
        ).scalar_one()
        conn.execute(insert(partner_site), [{"partner_id": partner_id, "site_id": s} for s in sorted(set(sites))])
    return int(partner_id), key


def list_partners(engine: Engine) -> list[Partner]:
    with engine.connect() as conn:
        sites: dict[int, list[str]] = {}
        for row in conn.execute(select(partner_site).order_by(partner_site.c.site_id)):
            sites.setdefault(row.partner_id, []).append(row.site_id)
        rows = conn.execute(select(partner).order_by(partner.c.partner_id)).all()
    return [
        Partner(r.partner_id, r.name, tuple(sites.get(r.partner_id, ())), r.rate_per_minute, r.created_at, r.revoked_at)
        for r in rows
    ]


def revoke_partner(engine: Engine, partner_id: int) -> int:
    """Revoke a partner's key; returns 1 when it was active, else 0."""
    with engine.begin() as conn:
        return conn.execute(
            update(partner)
            .where(partner.c.partner_id == partner_id, partner.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        ).rowcount


def partner_for_key(engine: Engine, key: str) -> Partner | None:
    """The active partner holding `key`, with its sites, or None (unknown, revoked or malformed key)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(partner).where(partner.c.key_hash == key_digest(key), partner.c.revoked_at.is_(None))
        ).first()
        if row is None:
            return None
        sites = conn.execute(
            select(partner_site.c.site_id).where(partner_site.c.partner_id == row.partner_id)
        ).scalars()
        return Partner(row.partner_id, row.name, tuple(sorted(sites)), row.rate_per_minute, row.created_at, None)


# --- reads behind /now and /today -----------------------------------------------------------------


@dataclass(frozen=True)
class LastInterval:
    """The site's last corrected interval: when it started and ended, and its occupancy."""

    start: datetime
    end: datetime
    occupancy: float


def last_interval(engine: Engine, site_id: str) -> LastInterval | None:
    """One indexed lookup: the newest occupancy_corrected row (primary key site_id, interval_start) and
    its interval length, found by primary key in count_interval through the site's counters."""
    o, c, ci = schema.occupancy_corrected, schema.counter, schema.count_interval
    minutes = (
        select(func.max(ci.c.interval_minutes))
        .select_from(c.join(ci, and_(ci.c.site_id == c.c.site_id, ci.c.counter_id == c.c.counter_id)))
        .where(c.c.site_id == o.c.site_id, ci.c.interval_start == o.c.interval_start)
        .scalar_subquery()
    )
    query = (
        select(o.c.interval_start, o.c.corrected_occupancy, minutes.label("minutes"))
        .where(o.c.site_id == site_id)
        .order_by(o.c.interval_start.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return LastInterval(
        row.interval_start, row.interval_start + timedelta(minutes=row.minutes or 5), row.corrected_occupancy
    )


def observed(engine: Engine, site_id: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Corrected occupancy of [start, end): at most one local day, by primary key range."""
    o = schema.occupancy_corrected
    query = (
        select(o.c.interval_start, o.c.corrected_occupancy)
        .where(o.c.site_id == site_id, o.c.interval_start >= start, o.c.interval_start < end)
        .order_by(o.c.interval_start)
    )
    with engine.connect() as conn:
        return [(r.interval_start, r.corrected_occupancy) for r in conn.execute(query)]


@dataclass(frozen=True)
class ForecastSlot:
    start: datetime
    minutes: int
    low: float | None
    median: float | None
    high: float | None
    wait_minutes: float | None


def forecasts(engine: Engine, site_id: str, start: datetime, end: datetime) -> list[ForecastSlot]:
    """Published forecast slots overlapping [start, end), by primary key range (at most 7 days of them)."""
    return _slots(engine, schema.forecast, site_id, start, end)


def nowcasts(engine: Engine, site_id: str, start: datetime, end: datetime) -> list[ForecastSlot]:
    """The site's 2-hour nowcast slots overlapping [start, end) (the latest live run's, at most ~2 hours)."""
    return _slots(engine, schema.nowcast, site_id, start, end)


def _slots(engine: Engine, table: Table, site_id: str, start: datetime, end: datetime) -> list[ForecastSlot]:
    """Slots of a forecast-shaped table (forecast, nowcast) overlapping [start, end), by primary key range."""
    t = table.c
    query = (
        select(t.slot_start, t.slot_minutes, t.occupancy_p10, t.occupancy_p50, t.occupancy_p90, t.wait_minutes)
        .where(t.site_id == site_id, t.slot_start >= start - timedelta(hours=1), t.slot_start < end)
        .order_by(t.slot_start)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        ForecastSlot(r.slot_start, r.slot_minutes, r.occupancy_p10, r.occupancy_p50, r.occupancy_p90, r.wait_minutes)
        for r in rows
        if r.slot_start + timedelta(minutes=r.slot_minutes) > start
    ]


def with_nowcast(forecast: list[ForecastSlot], nowcast: list[ForecastSlot]) -> list[ForecastSlot]:
    """The forecast slots, each replaced by the nowcast's slot of the same start where there is one."""
    if not nowcast:
        return forecast
    by_start = {f.start: f for f in forecast}
    by_start.update({n.start: n for n in nowcast})
    return [by_start[start] for start in sorted(by_start)]


# --- the usual profile ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UsualProfile:
    """Typical occupancy by (local weekday, half-hour slot start minute)."""

    computed_at: datetime | None
    occupancy: dict[tuple[int, int], float]

    def at(self, weekday: int, minute_of_day: int) -> float | None:
        return self.occupancy.get((weekday, minute_of_day - minute_of_day % USUAL_SLOT_MINUTES))


def read_usual(engine: Engine, site_id: str) -> UsualProfile:
    """The stored profile of one site (at most 7 x 48 rows)."""
    u = share_usual
    with engine.connect() as conn:
        rows = conn.execute(
            select(u.c.weekday, u.c.slot_minute, u.c.occupancy, u.c.computed_at).where(u.c.site_id == site_id)
        ).all()
    if not rows:
        return UsualProfile(None, {})
    return UsualProfile(min(r.computed_at for r in rows), {(r.weekday, r.slot_minute): r.occupancy for r in rows})


def compute_usual(
    engine: Engine, site_id: str, timezone: str, now: datetime
) -> dict[tuple[int, int], tuple[float, int]]:
    """Median over the last USUAL_WEEKS weeks of each local day's mean occupancy per (weekday, half hour).

    The one read of history, bounded to those weeks by the primary key range; today is left out
    (its half hours are not over)."""
    import pandas as pd

    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    end = today.astimezone(UTC)
    rows = observed(engine, site_id, end - timedelta(weeks=USUAL_WEEKS), end)
    if not rows:
        return {}
    frame = pd.DataFrame(rows, columns=["start", "occupancy"])
    local = pd.DatetimeIndex(pd.to_datetime(frame["start"], utc=True)).tz_convert(timezone)
    frame["day"] = local.date
    frame["weekday"] = local.weekday
    frame["slot"] = (local.hour * 60 + local.minute) // USUAL_SLOT_MINUTES * USUAL_SLOT_MINUTES
    per_day = frame.groupby(["weekday", "slot", "day"])["occupancy"].mean()
    usual = per_day.groupby(level=["weekday", "slot"]).agg(["median", "count"])
    keys = usual.index.tolist()
    medians, counts = usual["median"].tolist(), usual["count"].tolist()
    return {(int(w), int(s)): (float(m), int(n)) for (w, s), m, n in zip(keys, medians, counts, strict=True)}


def refresh_usual(engine: Engine, site_id: str, timezone: str, now: datetime) -> UsualProfile:
    """Recompute and replace the site's profile (one transaction); returns it."""
    profile = compute_usual(engine, site_id, timezone, now)
    rows = [
        {"site_id": site_id, "weekday": w, "slot_minute": s, "occupancy": occ, "samples": n, "computed_at": now}
        for (w, s), (occ, n) in sorted(profile.items())
    ]
    with engine.begin() as conn:
        conn.execute(delete(share_usual).where(share_usual.c.site_id == site_id))
        if rows:
            conn.execute(insert(share_usual), rows)
    return UsualProfile(now, {key: occ for key, (occ, _) in profile.items()})


def usual(engine: Engine, site_id: str, timezone: str, now: datetime) -> UsualProfile:
    """The stored profile, refreshed first when it is missing or older than a day."""
    profile = read_usual(engine, site_id)
    if profile.computed_at is None or now - profile.computed_at > USUAL_MAX_AGE:
        return refresh_usual(engine, site_id, timezone, now)
    return profile
