"""Push sites: land what connectors and devices send, and load the payloads a run's window concerns.

A pulled window is replaced as a whole because the source was asked for exactly that window.
A push only says what it contains: a batch from an on-site connector may hold two intervals of
last week and nothing of today. So a push site's run MERGES intervals into count_interval
(upsert, the latest received payload wins, a changed interval leaves its old and new values in
interval_revision) instead of deleting intervals the payloads do not mention. A run for window W
merges:

- every interval of the payloads *received* in W (data interval + lookback): a batch that
  arrives late is picked up by the run that sees it arrive;
- the intervals inside W of payloads received *after* W: a backfill or a re-run of a past window
  finds what arrived for it later (a device re-sending its backlog after an outage).

For the second part a payload's interval span is kept in raw_payload.window_start/window_end:
the API records it for connector batches; for a vendor push the first run that parses the body
records it, so each body is parsed for its span once and later runs select by span in SQL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Row, and_, bindparam, func, or_, select, tuple_

from footfall import db
from footfall.api.landing import push_source
from footfall.config import Site
from footfall.errors import SiteDataError, ValidationFailed
from footfall.extract import ensure_site, mark_payload_error, read_body
from footfall.load import in_window, record_sync_run
from footfall.normalize import Payload, normalize_counts, parse_payload
from footfall.pipeline import SyncResult
from footfall.timewindow import Window
from footfall.validate import validate_counts

log = logging.getLogger(__name__)

DEFAULT_MAX_LATE_DAYS = 31  # an interval older than this when it arrives is suspect, not loaded
FUTURE_SLACK = timedelta(hours=24)  # a device clock a little ahead is tolerated; a day is not
KEY = ["counter_id", "interval_start"]
MEASURED = ("interval_minutes", "entries", "exits", "occupancy")
LOOKUP_CHUNK = 500  # (counter, interval) keys per query when reading what a merge would change


def _payload(r: Row) -> Payload:
    return Payload(r.payload_id, read_body(r.body), r.counter_ref, received_at=r.received_at)


def _landed(engine: Engine, site: Site, source: str, *conditions: Any) -> list[Row]:
    """Landed bodies of this site and source matching `conditions`, oldest first."""
    t = db.raw_payload.c
    query = (
        select(t.payload_id, t.body, t.counter_ref, t.received_at, t.window_start, t.window_end)
        .where(t.site_id == site.id, t.source == source, *conditions)
        .order_by(t.payload_id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def _received_in(engine: Engine, site: Site, window: Window, source: str | None = None) -> list[Row]:
    t = db.raw_payload.c
    source = source or push_source(site.source.preset)
    return _landed(engine, site, source, t.received_at >= window.start, t.received_at < window.end)


def received_payloads(engine: Engine, site: Site, window: Window, source: str | None = None) -> list[Payload]:
    """Bodies landed for this site from `source` (default: its push preset) and received in
    [window.start, window.end), oldest first. Replay of file sites reads the same way."""
    return [_payload(r) for r in _received_in(engine, site, window, source)]


def max_late_days(site: Site) -> int:
    return int(site.options().get("max_late_days", DEFAULT_MAX_LATE_DAYS))


def plausible_range(site: Site, window: Window) -> Window:
    """Intervals a push received in `window` may hold: up to max_late_days old, at most a day ahead."""
    return Window(window.start - timedelta(days=max_late_days(site)), window.end + FUTURE_SLACK)


def payload_span(site: Site, payload: Payload) -> tuple[datetime, datetime]:
    """[first interval start, last interval end) of a body; an empty body spans nothing, at its arrival.

    Raises ValueError (and friends) when the body does not parse, like normalize does.
    """
    frame = parse_payload(site, payload)
    if frame.empty:
        moment = payload.received_at or datetime.now(UTC)
        return moment, moment
    starts = pd.to_datetime(frame["interval_start"], utc=True)
    minutes = pd.to_numeric(pd.Series(frame["interval_minutes"], index=frame.index)).fillna(0)
    ends = starts + pd.to_timedelta(minutes, unit="min")
    return starts.min().to_pydatetime(), ends.max().to_pydatetime()


def record_spans(engine: Engine, site: Site, rows: Sequence[Row]) -> dict[int, tuple[datetime, datetime]]:
    """Spans of bodies landed without one, stored in raw_payload (once per body); returns the spans found.

    A body that does not parse gets no span: the run of the window it was received in reports it.
    """
    spans: dict[int, tuple[datetime, datetime]] = {}
    for r in rows:
        try:
            spans[r.payload_id] = payload_span(site, _payload(r))
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            log.warning("site %s: payload %d does not parse, its span stays unknown (%s)", site.id, r.payload_id, exc)
    if spans:
        t = db.raw_payload
        update = (
            t.update()
            .where(t.c.payload_id == bindparam("b_id"), t.c.window_start.is_(None))
            .values(window_start=bindparam("b_start"), window_end=bindparam("b_end"))
        )
        with engine.begin() as conn:
            conn.execute(update, [{"b_id": i, "b_start": s, "b_end": e} for i, (s, e) in spans.items()])
    return spans


def later_payloads(engine: Engine, site: Site, window: Window) -> list[Payload]:
    """Bodies received after `window` (within max_late_days) that hold intervals inside it.

    Bodies already marked unusable are left to the run that reported them.
    """
    t = db.raw_payload.c
    rows = _landed(
        engine,
        site,
        push_source(site.source.preset),
        t.received_at >= window.end,
        t.received_at < window.end + timedelta(days=max_late_days(site)),
        t.error.is_(None),
        or_(t.window_start.is_(None), and_(t.window_start < window.end, t.window_end > window.start)),
    )
    spans = record_spans(engine, site, [r for r in rows if r.window_start is None])
    spans.update({r.payload_id: (r.window_start, r.window_end) for r in rows if r.window_start is not None})
    return [
        _payload(r)
        for r in rows
        if r.payload_id in spans and spans[r.payload_id][0] < window.end and spans[r.payload_id][1] > window.start
    ]


def latest_per_interval(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (counter, interval): the one from the latest received payload."""
    if rows.empty:
        return rows
    latest = rows.groupby(KEY)["payload_id"].transform("max")
    return rows[rows["payload_id"].eq(latest)].sort_values(KEY).reset_index(drop=True)


def window_rows(site: Site, window: Window, received: list[Payload], later: list[Payload]) -> pd.DataFrame:
    """Every interval of the bodies received in the window, plus the in-window intervals of later ones."""
    rows = normalize_counts(site, received)
    if later:
        late = in_window(normalize_counts(site, later), window)
        if not late.empty:
            rows = late if rows.empty else latest_per_interval(pd.concat([rows, late], ignore_index=True))
    return rows


def _values(site_id: str, rows: pd.DataFrame, now: datetime) -> list[dict[str, Any]]:
    frame = rows.astype(object).where(rows.notna(), None)
    return [
        {
            "site_id": site_id,
            "counter_id": r.counter_id,
            "interval_start": r.interval_start.to_pydatetime(),
            "interval_minutes": int(r.interval_minutes),
            "entries": None if r.entries is None else int(r.entries),
            "exits": None if r.exits is None else int(r.exits),
            "occupancy": None if r.occupancy is None else int(r.occupancy),
            "payload_id": int(r.payload_id),
            "loaded_at": now,
        }
        for r in frame.itertuples(index=False)
    ]


def _loaded(conn: Connection, site_id: str, keys: list[tuple[str, datetime]]) -> dict[tuple[str, datetime], Row]:
    """The rows count_interval holds now for these (counter, interval) keys."""
    ci = db.count_interval.c
    found: dict[tuple[str, datetime], Row] = {}
    for i in range(0, len(keys), LOOKUP_CHUNK):
        query = select(ci.counter_id, ci.interval_start, *(ci[m] for m in MEASURED), ci.payload_id).where(
            ci.site_id == site_id, tuple_(ci.counter_id, ci.interval_start).in_(keys[i : i + LOOKUP_CHUNK])
        )
        found.update({(r.counter_id, r.interval_start): r for r in conn.execute(query)})
    return found


def revisions(conn: Connection, site_id: str, values: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """What the merge of `values` will change: loaded intervals a later (or the same) payload revises."""
    loaded = _loaded(conn, site_id, [(v["counter_id"], v["interval_start"]) for v in values])
    out = []
    for v in values:
        old = loaded.get((v["counter_id"], v["interval_start"]))
        if old is None or v["payload_id"] < old.payload_id or all(v[m] == old._mapping[m] for m in MEASURED):
            continue
        out.append(
            {
                "site_id": site_id, "counter_id": v["counter_id"], "interval_start": v["interval_start"],
                **{f"old_{m}": old._mapping[m] for m in MEASURED}, **{f"new_{m}": v[m] for m in MEASURED},
                "old_payload_id": old.payload_id, "new_payload_id": v["payload_id"], "revised_at": now,
            }
        )  # fmt: skip
    return out


def merge_counts(conn: Connection, site_id: str, rows: pd.DataFrame) -> int:
    """Upsert intervals; an interval already loaded from a later payload is left alone (latest wins).

    A changed interval is recorded in interval_revision (old and new values, both payloads), as a
    pulled window's load does; an identical one is not, so merging the same payloads twice records
    nothing. On PostgreSQL the site's merges take turns (a transaction lock), so two runs cannot both
    record the same revision; SQLite writers take turns already.
    """
    if rows.empty:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"footfall.merge_counts:{site_id}"))))
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = datetime.now(UTC)
    values = _values(site_id, rows, now)
    changed_rows = revisions(conn, site_id, values, now)
    if changed_rows:
        conn.execute(db.interval_revision.insert(), changed_rows)
    stmt = insert(db.count_interval)
    table = db.count_interval.c
    changed = (
        table.interval_minutes.is_distinct_from(stmt.excluded.interval_minutes)
        | table.entries.is_distinct_from(stmt.excluded.entries)
        | table.exits.is_distinct_from(stmt.excluded.exits)
        | table.occupancy.is_distinct_from(stmt.excluded.occupancy)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["site_id", "counter_id", "interval_start"],
        set_={name: stmt.excluded[name] for name in (*MEASURED, "payload_id", "loaded_at")},
        where=(stmt.excluded.payload_id >= table.payload_id) & changed,
    )
    conn.execute(stmt, values)
    return len(values)


def touched_span(window: Window, rows: pd.DataFrame) -> Window:
    """`window` widened to every interval of `rows`: what a merge touched (a late batch received in the
    window may hold last week), so the discrepancy checks cover those days too. Folds: a run merging
    several bodies passes the span so far as `window`."""
    if rows.empty:
        return window
    starts = pd.to_datetime(rows["interval_start"], utc=True)
    ends = starts + pd.to_timedelta(pd.to_numeric(rows["interval_minutes"]).astype("float64"), unit="min")
    return Window(min(window.start, starts.min().to_pydatetime()), max(window.end, ends.max().to_pydatetime()))


def check_merged(engine: Engine, site: Site, span: Window, *, run_id: str, validation: Any = None) -> None:
    """The discrepancy checks a pulled window gets after its load, over what a merge touched.

    The merged rows are not handed over as the range's content (`loaded=`): a merge does not replace
    the range, which may hold other rows, so the checks read it back. Never raises (run_after_load).
    """
    from footfall.quality.runner import run_after_load

    run_after_load(engine, site, span, run_id=run_id, validation=validation)


def _fail(engine: Engine, site: Site, window: Window, run_id: str, started: datetime, exc: SiteDataError) -> None:
    mark_payload_error(engine, exc.payload_ids, f"{exc.stage}: {exc.reason}")
    with engine.begin() as conn:
        ensure_site(conn, site)
        record_sync_run(
            conn, site.id, window, run_id=run_id, started_at=started, rows_read=0, rows_loaded=0,
            outcome="failed", stage=exc.stage, error=str(exc),
        )  # fmt: skip


def process_pushed_window(
    site: Site, window: Window, *, engine: Engine | None = None, run_id: str = "cli"
) -> SyncResult:
    """Normalize, validate and merge what `window` concerns (see the module doc); a failure loads nothing.
    Then the discrepancy checks over the window and every day the merged intervals fall on."""
    engine = engine or db.get_engine()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    received_rows = _received_in(engine, site, window)
    record_spans(engine, site, [r for r in received_rows if r.window_start is None])
    received = [_payload(r) for r in received_rows]
    later = later_payloads(engine, site, window)
    ids = [p.payload_id for p in (*received, *later)]
    result = SyncResult(site.id, window, ids, seconds={"extract": time.perf_counter() - t0})
    try:
        t1 = time.perf_counter()
        rows = window_rows(site, window, received, later)
        t2 = time.perf_counter()
        report = validate_counts(rows, plausible_range(site, window))
        result.seconds.update(normalize=t2 - t1, validate=time.perf_counter() - t2)
        if not report.success:
            raise ValidationFailed(site.id, push_source(site.source.preset), report.summary(), ids)
    except SiteDataError as exc:
        _fail(engine, site, window, run_id, started, exc)
        raise
    t3 = time.perf_counter()
    with engine.begin() as conn:
        ensure_site(conn, site)  # a run may come before the site's first push
        written = merge_counts(conn, site.id, rows)
        record_sync_run(
            conn, site.id, window, run_id=run_id, started_at=started, rows_read=len(rows), rows_loaded=written,
            outcome="success", rows_skipped=int(rows.attrs.get("rows_skipped", 0)),
        )  # fmt: skip
    result.seconds["load"] = time.perf_counter() - t3
    check_merged(engine, site, touched_span(window, rows), run_id=run_id, validation=report)
    result.rows_read = result.rows_loaded = len(rows)
    result.rows_written = written
    log.info("merged pushed payloads %s", result.summary())
    return result
