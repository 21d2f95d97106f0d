"""Landing: every body a source answered, stored verbatim (gzip) before it is parsed, and what is known
about it later (why it could not be used, the interval span it holds).

Landing first means a body that later fails to parse or validate is still there for inspection and
for `footfall replay`; the sha256 of the body (with its counter_ref) de-duplicates re-reads of
unchanged answers. The site and counter rows are kept in step with the site file here too, since a
landed body and its counts reference them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, bindparam, func, or_, select

from footfall.config import Site
from footfall.sources.fetched import Fetched, source_label
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.engine import dialect_insert, insert_ignore


def land_body(conn: Any, *, site_id: str, source: str, body: bytes, received_at: datetime, **fields: Any) -> int:
    """Store one raw body verbatim (gzip), once per (site, sha256, counter_ref), and return its payload id.

    The one way every source lands what it received (pulls, pushes, files, imports); `fields` are the
    other raw_payload columns (request, counter_ref, window_start/end, http_status, content_type, error).
    """
    return land_bodies(conn, site_id=site_id, source=source, received_at=received_at, bodies=[(body, fields)])[0]


def land_bodies(
    conn: Any, *, site_id: str, source: str, received_at: datetime, bodies: list[tuple[bytes, dict[str, Any]]]
) -> list[int]:
    """land_body for many bodies in two statements (a history import lands hundreds per block);
    every body's `fields` must name the same columns.

    A body already stored for the same counter_ref (None and '' alike, as in the unique index) keeps
    its payload id; the same bytes for another counter are a payload of their own."""
    digests = [hashlib.sha256(body).hexdigest() for body, _ in bodies]
    keys = [(digest, fields.get("counter_ref") or "") for (_, fields), digest in zip(bodies, digests, strict=True)]
    rows = [
        {
            "site_id": site_id,
            "source": source,
            "received_at": received_at,
            "body": gzip.compress(body, compresslevel=6, mtime=0),
            "body_bytes": len(body),
            "sha256": digest,
            **fields,
        }
        for (body, fields), digest in zip(bodies, digests, strict=True)
    ]
    if not rows:
        return []
    conn.execute(
        dialect_insert(conn, schema.raw_payload).on_conflict_do_nothing(), rows
    )  # any conflict is the unique index
    t = schema.raw_payload.c
    found = {
        (r.sha256, r.counter_ref or ""): r.payload_id
        for r in conn.execute(
            select(t.sha256, t.counter_ref, t.payload_id).where(t.site_id == site_id, t.sha256.in_(set(digests)))
        )
    }
    return [int(found[k]) for k in keys]


def ensure_site(conn: Connection, site: Site) -> None:
    """Keep the site and counter rows in step with the site file (writes only on change)."""
    wanted_site = {
        "site_id": site.id,
        "name": site.name,
        "timezone": site.timezone,
        "capacity": site.capacity,
        "source_kind": site.preset.label_kind,
        "preset": site.source.preset,
    }
    row = conn.execute(select(schema.site).where(schema.site.c.site_id == site.id)).mappings().first()
    if row is None:
        conn.execute(insert_ignore(schema.site, conn.dialect.name, **wanted_site, updated_at=datetime.now(UTC)))
    elif any(row[k] != v for k, v in wanted_site.items()):
        conn.execute(
            schema.site.update()
            .where(schema.site.c.site_id == site.id)
            .values(**wanted_site, updated_at=datetime.now(UTC))
        )
    existing = {
        r.counter_id: (r.name, r.ref, r.direction)
        for r in conn.execute(select(schema.counter).where(schema.counter.c.site_id == site.id))
    }
    for c in site.counters:
        values = (c.name, c.ref, c.direction)
        if c.id not in existing:
            conn.execute(
                insert_ignore(
                    schema.counter,
                    conn.dialect.name,
                    site_id=site.id,
                    counter_id=c.id,
                    name=c.name,
                    ref=c.ref,
                    direction=c.direction,
                )
            )
        elif existing[c.id] != values:
            conn.execute(
                schema.counter.update()
                .where(schema.counter.c.site_id == site.id, schema.counter.c.counter_id == c.id)
                .values(name=c.name, ref=c.ref, direction=c.direction)
            )


def land_payloads(
    engine: Engine, site: Site, window: Window, answers: list[Fetched], *, source: str | None = None
) -> list[int]:
    """Store each body gzip-compressed, once per (site, sha256, counter_ref); returns the payload ids in order.

    Committed on its own, before parsing, so what the source said survives any later failure.
    """
    with engine.begin() as conn:
        return land_in(conn, site, window, answers, source=source)


def land_in(
    conn: Connection, site: Site, window: Window, answers: list[Fetched], *, source: str | None = None
) -> list[int]:
    """land_payloads inside the caller's transaction (a file is landed together with its load)."""
    ids: list[int] = []
    now = datetime.now(UTC)
    ensure_site(conn, site)
    for answer in answers:
        ids.append(
            land_body(
                conn,
                site_id=site.id,
                source=source or source_label(site),
                body=answer.body,
                received_at=now,
                request=answer.request,
                counter_ref=answer.counter_ref,
                window_start=window.start,
                window_end=window.end,
                http_status=answer.status,
                content_type=answer.content_type,
                error=answer.error,
            )
        )
    return ids


def mark_payload_error(engine: Engine, payload_ids: list[int], error: str) -> None:
    """Record why bodies could not be used, next to the bodies themselves."""
    if not payload_ids:
        return
    with engine.begin() as conn:
        conn.execute(
            schema.raw_payload.update()
            .where(schema.raw_payload.c.payload_id.in_(payload_ids))
            .values(error=error[:4000])
        )


def read_body(stored: bytes) -> bytes:
    return gzip.decompress(stored)


def batch_ack(conn: Connection, site_id: str, batch_id: str) -> dict[str, Any] | None:
    """The acknowledgement stored with a pushed batch, or None when the batch id is new."""
    t = schema.ingest_batch.c
    found = conn.execute(select(t.ack).where(t.site_id == site_id, t.batch_id == batch_id)).scalar_one_or_none()
    return None if found is None else json.loads(found)


def record_batch(
    conn: Connection, site_id: str, batch_id: str, *, payload_id: int, rows: int, received_at: datetime, ack: dict
) -> bool:
    """Store a pushed batch's id and acknowledgement; False when the batch id was stored meanwhile (a race)."""
    values = {"payload_id": payload_id, "rows": rows, "received_at": received_at, "ack": json.dumps(ack)}
    stmt = insert_ignore(schema.ingest_batch, conn.dialect.name, site_id=site_id, batch_id=batch_id, **values)
    return conn.execute(stmt).rowcount > 0


def clear_payload_errors(engine: Engine, payload_ids: list[int]) -> None:
    """A body that loads now is no longer 'unusable': drop the error an earlier attempt left on it."""
    if payload_ids:
        t = schema.raw_payload
        with engine.begin() as conn:
            conn.execute(t.update().where(t.c.payload_id.in_(payload_ids)).values(error=None))


def site_kinds(conn: Connection) -> dict[str, str]:
    """Every site known to the warehouse and its source kind, by site id."""
    t = schema.site.c
    return dict(conn.execute(select(t.site_id, t.source_kind).order_by(t.site_id)).all())


# --- reading landed bodies back -------------------------------------------------------------------

_LANDED = (
    schema.raw_payload.c.payload_id,
    schema.raw_payload.c.body,
    schema.raw_payload.c.counter_ref,
    schema.raw_payload.c.received_at,
    schema.raw_payload.c.window_start,
    schema.raw_payload.c.window_end,
)


def _landed(engine: Engine, site_id: str, source: str, *conditions: Any) -> list[Row]:
    """Landed bodies of this site and source matching `conditions`, oldest first."""
    t = schema.raw_payload.c
    kept = func.length(t.body) > 0  # not removed by retention (footfall.warehouse.maintenance)
    query = select(*_LANDED).where(t.site_id == site_id, t.source == source, kept, *conditions).order_by(t.payload_id)
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def received_bodies(engine: Engine, site_id: str, source: str, window: Window) -> list[Row]:
    """Bodies of `source` received in [window.start, window.end), oldest first (gzip `body`)."""
    t = schema.raw_payload.c
    return _landed(engine, site_id, source, t.received_at >= window.start, t.received_at < window.end)


def later_bodies(engine: Engine, site_id: str, source: str, window: Window, until: datetime) -> list[Row]:
    """Usable bodies received in [window.end, until) whose interval span overlaps the window or is not
    known yet (bodies already marked unusable are left to the run that reported them)."""
    t = schema.raw_payload.c
    return _landed(
        engine,
        site_id,
        source,
        t.received_at >= window.end,
        t.received_at < until,
        t.error.is_(None),
        or_(t.window_start.is_(None), and_(t.window_start < window.end, t.window_end > window.start)),
    )


def record_spans(engine: Engine, spans: dict[int, tuple[datetime, datetime]]) -> None:
    """The [first interval, last interval end) of bodies landed without one, stored once per body."""
    if not spans:
        return
    t = schema.raw_payload
    update = (
        t.update()
        .where(t.c.payload_id == bindparam("b_id"), t.c.window_start.is_(None))
        .values(window_start=bindparam("b_start"), window_end=bindparam("b_end"))
    )
    with engine.begin() as conn:
        conn.execute(update, [{"b_id": i, "b_start": s, "b_end": e} for i, (s, e) in spans.items()])


def pulled_bodies(engine: Engine, site_id: str, source: str, window: Window) -> list[Row]:
    """Bodies of a pulled source whose fetch window overlaps `window` (HTTP error answers left out: they
    never held counts), ordered by fetch window, then landing."""
    t = schema.raw_payload.c
    query = (
        select(*_LANDED)
        .where(
            t.site_id == site_id,
            t.source == source,
            t.window_start < window.end,
            t.window_end > window.start,
            (t.http_status.is_(None)) | (t.http_status < 400),
            func.length(t.body) > 0,  # not removed by retention
        )
        .order_by(t.window_start, t.window_end, t.payload_id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def landed_digests(engine: Engine, site_id: str) -> set[tuple[str, str | None]]:
    """(sha256, counter_ref) of every body landed for the site."""
    t = schema.raw_payload.c
    with engine.connect() as conn:
        return {
            (r.sha256, r.counter_ref) for r in conn.execute(select(t.sha256, t.counter_ref).where(t.site_id == site_id))
        }


def bodies_by_window_start(engine: Engine, site_id: str, source: str, first: datetime, last: datetime) -> list[Row]:
    """(payload_id, body, window_start) of bodies of `source` landed for windows starting in [first, last],
    in landing order (the chunks of an import)."""
    t = schema.raw_payload.c
    query = (
        select(t.payload_id, t.body, t.window_start)
        .where(t.site_id == site_id, t.source == source, t.window_start >= first, t.window_start <= last)
        .order_by(t.payload_id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def payload_ids_by_window_start(
    engine: Engine, site_id: str, source: str, first: datetime, last: datetime
) -> dict[datetime, set[int]]:
    """Payload ids of `source` per window start in [first, last] (which chunk each body belongs to)."""
    t = schema.raw_payload.c
    query = select(t.window_start, t.payload_id).where(
        t.site_id == site_id, t.source == source, t.window_start >= first, t.window_start <= last
    )
    out: dict[datetime, set[int]] = {}
    with engine.connect() as conn:
        for start, payload_id in conn.execute(query):
            out.setdefault(start, set()).add(payload_id)
    return out


def landed_bytes(engine: Engine, site_id: str, source: str) -> dict[datetime, int]:
    """Uncompressed bytes landed per window start (what sizes a batch of import chunks)."""
    t = schema.raw_payload.c
    query = (
        select(t.window_start, func.sum(t.body_bytes))
        .where(t.site_id == site_id, t.source == source)
        .group_by(t.window_start)
    )
    with engine.connect() as conn:
        return {start: int(size or 0) for start, size in conn.execute(query)}
