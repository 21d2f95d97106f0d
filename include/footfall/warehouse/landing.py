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

import msgspec
from psycopg.types.json import Jsonb
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


# PostgreSQL lands a group of pushes with one short statement per table whatever the group's size:
# arrays unnested server-side. (A multi-row VALUES list makes a long statement the driver parses anew
# every time, which costs more than the insert; these texts stay the same, so they are parsed once.)
_PG_PUSHED_BODIES = """
INSERT INTO raw_payload (site_id, source, request, window_start, window_end, received_at, content_type, body,
                         body_bytes, sha256)
SELECT * FROM unnest(%(site_id)b::varchar[], %(source)b::text[], %(request)b::text[], %(window_start)b::timestamptz[],
                     %(window_end)b::timestamptz[], %(received_at)b::timestamptz[], %(content_type)b::text[],
                     %(body)b::bytea[], %(body_bytes)b::bigint[], %(sha256)b::varchar[])
ON CONFLICT DO NOTHING
"""
# Looked up by (site_id, sha256) and (site_id, batch_id) pairs, the leading columns of their unique indexes
# (by sha256 or batch_id alone, PostgreSQL would read the whole table for every group).
_PG_PUSHED_IDS = """
SELECT r.site_id, r.sha256, r.payload_id
FROM raw_payload r JOIN unnest(%(site_id)b::varchar[], %(sha256)b::varchar[]) AS k(site_id, sha256)
  ON r.site_id = k.site_id AND r.sha256 = k.sha256 AND coalesce(r.counter_ref, '') = ''
"""
_PG_BATCHES = """
INSERT INTO ingest_batch (site_id, batch_id, payload_id, rows, received_at, ack)
SELECT * FROM unnest(%(site_id)b::varchar[], %(batch_id)b::varchar[], %(payload_id)b::bigint[], %(rows)b::int[],
                     %(received_at)b::timestamptz[], %(ack)b::text[])
ON CONFLICT DO NOTHING
RETURNING site_id, batch_id
"""
_PG_BATCH_ACKS = """
SELECT b.site_id, b.batch_id, b.ack
FROM ingest_batch b JOIN unnest(%(site_id)b::varchar[], %(batch_id)b::varchar[]) AS k(site_id, batch_id)
  ON b.site_id = k.site_id AND b.batch_id = k.batch_id
"""


def _columns(rows: list[dict[str, Any]], names: str) -> dict[str, list[Any]]:
    return {name: [r[name] for r in rows] for name in names.split()}


def _pairs(keys: list[tuple[str, str]], first: str, second: str) -> dict[str, list[str]]:
    return {first: [a for a, _ in keys], second: [b for _, b in keys]}


def _pg_binary(conn: Connection, sql: str, params: dict[str, list[Any]]) -> list[Any]:
    """Run `sql` on the connection's own psycopg connection (same transaction); the statements' %(name)b
    parameters go binary: arrays of text then need no escaping, which would cost more than the statement."""
    dbapi: Any = conn.connection.dbapi_connection
    with dbapi.cursor(binary=True) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


# --- the same statements on an asyncio psycopg connection (the ingestion service's event loop) ---------

_PG_ACTIVE_TOKENS = "SELECT token_id FROM api_token WHERE token_id = ANY(%(ids)b::bigint[]) AND revoked_at IS NULL"
PUSHED_BODY_COLUMNS = "site_id source request window_start window_end received_at content_type body body_bytes sha256"
BATCH_COLUMNS = "site_id batch_id payload_id rows received_at ack"


async def pg_active_token_ids(aconn: Any, token_ids: set[int]) -> set[int]:
    """active_token_ids on an async psycopg connection."""
    if not token_ids:
        return set()
    cursor = await aconn.execute(_PG_ACTIVE_TOKENS, {"ids": sorted(token_ids)}, binary=True)
    return {int(r[0]) for r in await cursor.fetchall()}


async def pg_batch_acks(aconn: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """batch_acks on an async psycopg connection."""
    if not keys:
        return {}
    cursor = await aconn.execute(_PG_BATCH_ACKS, _pairs(keys, "site_id", "batch_id"), binary=True)
    return {(site, batch): json.loads(ack) for site, batch, ack in await cursor.fetchall()}


async def pg_land_pushed_bodies(aconn: Any, rows: list[dict[str, Any]]) -> list[int]:
    """land_pushed_bodies on an async psycopg connection."""
    if not rows:
        return []
    await aconn.execute(_PG_PUSHED_BODIES, _columns(rows, PUSHED_BODY_COLUMNS), binary=True)
    cursor = await aconn.execute(_PG_PUSHED_IDS, _columns(rows, "site_id sha256"), binary=True)
    by_key = {(site, digest): payload_id for site, digest, payload_id in await cursor.fetchall()}
    return [int(by_key[(r["site_id"], r["sha256"])]) for r in rows]


async def pg_record_batches(aconn: Any, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """record_batches on an async psycopg connection."""
    if not rows:
        return set()
    values = [{**r, "ack": json.dumps(r["ack"])} for r in rows]
    cursor = await aconn.execute(_PG_BATCHES, _columns(values, BATCH_COLUMNS), binary=True)
    return {(site, batch) for site, batch in await cursor.fetchall()}


# A group of pushes landed by one statement, committed on its own (autocommit): one round trip per group.
# Per push, in the order given: whether its token is revoked, the ack of its batch id landed before, and
# else its payload id (a body stored before keeps its id) and whether its batch id was recorded now. The
# first push of each batch id in the group lands; the others (`landing` false) repeat its answer. Every
# part of the statement reads the warehouse as it was when the statement began, so a body or batch id that
# another connection committed meanwhile shows as a missing payload id or an unrecorded batch: the caller
# lands those pushes again with PG_LAND_* statements that see it.
_PG_LAND_GROUP = """
WITH push AS (
    SELECT (v->>0)::varchar AS site_id, (v->>1)::varchar AS batch_id, (v->>2)::bigint AS token_id, v->>3 AS source,
           v->>4 AS request, (v->>5)::timestamptz AS window_start, (v->>6)::timestamptz AS window_end,
           v->>7 AS content_type, decode(v->>8, 'base64') AS body, (v->>9)::bigint AS body_bytes,
           (v->>10)::varchar AS sha256, (v->>11)::int AS rows, k
    FROM jsonb_array_elements(%(pushes)b::jsonb) WITH ORDINALITY AS e(v, k)
),
known AS (
    SELECT p.k,
           p.token_id IS NOT NULL AND NOT EXISTS (
               SELECT FROM api_token t WHERE t.token_id = p.token_id AND t.revoked_at IS NULL) AS refused,
           (SELECT b.ack FROM ingest_batch b WHERE b.site_id = p.site_id AND b.batch_id = p.batch_id) AS prior
    FROM push p
),
landing AS (
    SELECT DISTINCT ON (p.site_id, p.batch_id, CASE WHEN p.batch_id IS NULL THEN p.k END) p.*
    FROM push p JOIN known USING (k)
    WHERE NOT known.refused AND known.prior IS NULL
    ORDER BY p.site_id, p.batch_id, CASE WHEN p.batch_id IS NULL THEN p.k END, p.k
),
inserted AS (
    INSERT INTO raw_payload (site_id, source, request, window_start, window_end, received_at, content_type, body,
                             body_bytes, sha256)
    SELECT site_id, source, request, window_start, window_end, %(received_at)b::timestamptz, content_type, body,
           body_bytes, sha256
    FROM landing ORDER BY k
    ON CONFLICT DO NOTHING
    RETURNING site_id, sha256, payload_id
),
landed AS (
    SELECT l.k, l.site_id, l.batch_id, l.rows, l.body_bytes, l.sha256,
           coalesce(i.payload_id, (SELECT r.payload_id FROM raw_payload r
                                   WHERE r.site_id = l.site_id AND r.sha256 = l.sha256
                                     AND coalesce(r.counter_ref, '') = '')) AS payload_id
    FROM landing l LEFT JOIN inserted i ON i.site_id = l.site_id AND i.sha256 = l.sha256
),
recorded AS (
    INSERT INTO ingest_batch (site_id, batch_id, payload_id, rows, received_at, ack)
    SELECT site_id, batch_id, payload_id, rows, %(received_at)b::timestamptz,
           json_build_object('status', 'accepted', 'site_id', site_id, 'batch_id', batch_id, 'payload_id', payload_id,
                             'rows', rows, 'bytes', body_bytes, 'sha256', sha256,
                             'received_at', %(received_iso)b::text)::text
    FROM landed WHERE batch_id IS NOT NULL AND payload_id IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING site_id, batch_id
)
SELECT known.refused, known.prior, landed.k IS NOT NULL, landed.payload_id, recorded.batch_id IS NOT NULL
FROM push p JOIN known USING (k) LEFT JOIN landed USING (k)
LEFT JOIN recorded ON recorded.site_id = landed.site_id AND recorded.batch_id = landed.batch_id
ORDER BY p.k
"""
# The group goes as one JSONB array of rows (msgspec encodes it in C; bodies as base64): psycopg dumps a list
# parameter element by element in Python, and twelve arrays cost the API more than the statement itself.
_GROUP_JSON = msgspec.json.Encoder()


async def pg_land_group(
    aconn: Any, pushes: list[tuple[Any, ...]], received_at: datetime
) -> list[tuple[bool, dict[str, Any] | None, bool, int | None, bool]]:
    """Land a group of pushes in one statement on an autocommit asyncio psycopg connection (see
    _PG_LAND_GROUP); each push is a tuple (site_id, batch_id, token_id, source, request, window_start, window_end,
    content_type, body, body_bytes, sha256, rows), `body` gzip-compressed. Per push, in order:
    (token revoked, the earlier ack of its batch id, lands in this group, payload id, batch id recorded now)."""
    params = {
        "pushes": Jsonb(pushes, dumps=_GROUP_JSON.encode),
        "received_at": received_at,
        "received_iso": received_at.isoformat(),
    }
    # Prepared on each connection at once: its lookups are all by key (subqueries, not joins the planner
    # could turn into reading a table whole), so one generic plan serves every group size.
    cursor = await aconn.execute(_PG_LAND_GROUP, params, binary=True, prepare=True)
    return [
        (refused, None if prior is None else json.loads(prior), landing, payload_id, recorded)
        for refused, prior, landing, payload_id, recorded in await cursor.fetchall()
    ]


def libpq_url(engine: Engine) -> str | None:
    """The warehouse as a libpq connection string (for an asyncio psycopg connection), or None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def batch_acks(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """batch_ack for many (site_id, batch_id) at once: the stored acknowledgements of those already landed."""
    if not keys:
        return {}
    wanted = set(keys)
    if conn.dialect.name == "postgresql":
        found = _pg_binary(conn, _PG_BATCH_ACKS, _pairs(keys, "site_id", "batch_id"))
    else:
        t = schema.ingest_batch.c
        found = list(
            conn.execute(
                select(t.site_id, t.batch_id, t.ack).where(
                    t.site_id.in_({s for s, _ in keys}), t.batch_id.in_({b for _, b in keys})
                )
            )
        )
    return {(site, batch): json.loads(ack) for site, batch, ack in found if (site, batch) in wanted}


def land_pushed_bodies(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Pushed bodies of any sites in two statements (the ingestion service lands a group of requests in
    one transaction); each row holds raw_payload's columns with `body` already gzip-compressed and no
    counter_ref. Returns the payload ids in order (a body stored before keeps its id)."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        names = "site_id source request window_start window_end received_at content_type body body_bytes sha256"
        _pg_binary(conn, _PG_PUSHED_BODIES, _columns(rows, names))
        ids = _pg_binary(conn, _PG_PUSHED_IDS, _columns(rows, "site_id sha256"))
        by_key = {(site, digest): payload_id for site, digest, payload_id in ids}
        return [int(by_key[(r["site_id"], r["sha256"])]) for r in rows]
    conn.execute(dialect_insert(conn, schema.raw_payload).on_conflict_do_nothing(), rows)
    t = schema.raw_payload.c
    found = {
        (r.site_id, r.sha256): r.payload_id
        for r in conn.execute(
            select(t.site_id, t.sha256, t.payload_id).where(
                t.site_id.in_({r["site_id"] for r in rows}),
                t.sha256.in_({r["sha256"] for r in rows}),
                t.counter_ref.is_(None) | (t.counter_ref == ""),
            )
        )
    }
    return [int(found[(r["site_id"], r["sha256"])]) for r in rows]


def record_batches(conn: Connection, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """record_batch for many (rows: site_id, batch_id, payload_id, rows, received_at, ack as a dict);
    returns the (site_id, batch_id) stored now (the others raced in on another connection)."""
    if not rows:
        return set()
    values = [{**r, "ack": json.dumps(r["ack"])} for r in rows]
    if conn.dialect.name == "postgresql":
        stored = _pg_binary(conn, _PG_BATCHES, _columns(values, "site_id batch_id payload_id rows received_at ack"))
        return {(site, batch) for site, batch in stored}
    t = schema.ingest_batch
    stmt = dialect_insert(conn, t).on_conflict_do_nothing().returning(t.c.site_id, t.c.batch_id)
    return {(r.site_id, r.batch_id) for r in conn.execute(stmt, values)}


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
