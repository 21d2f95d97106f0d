"""The one database layer: schema, engine and migrations for the warehouse.

SQLAlchemy Core tables (bulk loads and COPY want rows, not ORM objects). Instants are stored as
UTC; on SQLite, which has no time zone type, `UTCDateTime` stores naive UTC and hands back aware
UTC datetimes, so code above this layer only ever sees aware UTC.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.types import TypeDecorator

from footfall import PACKAGE_DIR, settings


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: footfall stores aware UTC instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BIGINT autoincrement is not a rowid alias on SQLite; INTEGER is, so use it there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

site = Table(
    "site",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("timezone", String(64), nullable=False, comment="IANA zone; instants are stored in UTC"),
    Column("capacity", Integer),
    Column("source_kind", String(16), nullable=False),
    Column("preset", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

counter = Table(
    "counter",
    metadata,
    Column("site_id", String(64), ForeignKey("site.site_id", ondelete="CASCADE"), primary_key=True),
    Column("counter_id", String(64), primary_key=True),
    Column("name", Text),
    Column("ref", Text, nullable=False, comment="vendor identifier (serial, channel, element id)"),
    Column("direction", String(8), nullable=False),
)

raw_payload = Table(
    "raw_payload",
    metadata,
    Column("payload_id", BigId, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("site.site_id"), nullable=False),
    Column("source", Text, nullable=False, comment="kind:preset, e.g. http_json:axis_tvpc_export_json"),
    Column("request", Text, comment="what was asked (URL without secrets), for inspection"),
    Column("counter_ref", Text, comment="device the body came from, when the request was per device"),
    Column("window_start", UTCDateTime, comment="window the body was fetched for, or pushed into"),
    Column("window_end", UTCDateTime),
    Column("received_at", UTCDateTime, nullable=False),
    Column("http_status", Integer),
    Column("content_type", Text),
    Column("body", LargeBinary, nullable=False, comment="verbatim body, gzip-compressed"),
    Column("body_bytes", BigInteger, nullable=False, comment="uncompressed size"),
    Column("sha256", String(64), nullable=False, comment="of the uncompressed body"),
    Column("error", Text, comment="why this body could not be used, if it could not"),
    Index("ix_raw_payload_site_window", "site_id", "window_start"),
)
# A body is stored once per (site, sha256, counter_ref): two doors' per-counter answers can be byte for
# byte the same (a closed day), and the body alone does not say which door it is. coalesce() makes a
# body without a counter_ref (a push, an import chunk) de-duplicate too, where NULLs would not.
Index(
    "uq_raw_payload_site_id_sha256_counter_ref",
    raw_payload.c.site_id,
    raw_payload.c.sha256,
    func.coalesce(raw_payload.c.counter_ref, ""),
    unique=True,
)

count_interval = Table(
    "count_interval",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("counter_id", String(64), primary_key=True),
    Column("interval_start", UTCDateTime, primary_key=True),
    Column("interval_minutes", Integer, nullable=False),
    Column("entries", Integer),
    Column("exits", Integer),
    Column("occupancy", Integer),
    Column("payload_id", BigId, ForeignKey("raw_payload.payload_id"), nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(["site_id", "counter_id"], ["counter.site_id", "counter.counter_id"]),
)

sync_run = Table(
    "sync_run",
    metadata,
    Column("site_id", String(64), ForeignKey("site.site_id"), primary_key=True),
    Column("window_start", UTCDateTime, primary_key=True),
    Column("window_end", UTCDateTime, primary_key=True),
    Column("run_id", Text, comment="Airflow run id, or cli/replay"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("rows_read", Integer, nullable=False, default=0),
    Column("rows_loaded", Integer, nullable=False, default=0),
    Column("outcome", String(16), nullable=False, comment="success | failed"),
    Column("stage", String(16), comment="extract | normalize | validate | load, where it failed"),
    Column("error", Text),
)

api_token = Table(
    "api_token",
    metadata,
    Column("token_id", BigId, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False, comment="the one site this token may write"),
    Column("token_hash", String(64), nullable=False, unique=True, comment="sha256 of the token; never the token"),
    Column("label", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Index("ix_api_token_site_id", "site_id"),
)

ingest_batch = Table(
    "ingest_batch",
    metadata,
    Column("site_id", String(64), ForeignKey("site.site_id"), primary_key=True),
    Column("batch_id", String(64), primary_key=True, comment="chosen by the sender; a resend is a no-op"),
    Column("payload_id", BigId, ForeignKey("raw_payload.payload_id"), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("ack", Text, nullable=False, comment="the JSON acknowledgement, returned again on a resend"),
)

import_chunk = Table(
    "import_chunk",
    metadata,
    Column("import_id", String(32), primary_key=True, comment="hash of site, source, range and chunk size"),
    Column("chunk_start", UTCDateTime, primary_key=True),
    Column("chunk_end", UTCDateTime, nullable=False),
    Column("site_id", String(64), ForeignKey("site.site_id"), nullable=False),
    Column("source", Text, nullable=False, comment="api, or file:<name>:<hash>"),
    Column("status", String(16), nullable=False, comment="done | failed"),
    Column("rows_loaded", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("finished_at", UTCDateTime, nullable=False),
)

# --- data quality (footfall.quality): flags, corrected occupancy, alert de-duplication ----------

quality_flag = Table(
    "quality_flag",
    metadata,
    Column("flag_id", BigId, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False),
    Column("counter_id", String(64), comment="null for site-level flags"),
    Column("check_name", String(32), nullable=False),
    Column("severity", String(8), nullable=False, comment="low | medium | high"),
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("observed", Float),
    Column("expected", Float),
    Column("evidence", Text, comment="JSON: the numbers behind the flag"),
    Column("run_id", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_quality_flag_site_period", "site_id", "period_start"),
)

quality_run = Table(
    "quality_run",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("checked_start", UTCDateTime, primary_key=True, comment="flags of this range were replaced"),
    Column("checked_end", UTCDateTime, primary_key=True),
    Column("run_id", Text),
    Column("gx_success", Boolean),
    Column("gx_statistics", Text, comment="JSON statistics of the row-level Great Expectations suite"),
    Column("gx_result", LargeBinary, comment="gzip JSON of the full GX validation result, for Data Docs"),
    Column("flags", Integer, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
)

occupancy_corrected = Table(
    "occupancy_corrected",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("interval_start", UTCDateTime, primary_key=True),
    Column("local_date", Date, nullable=False, comment="the site-day, from the site's reset time"),
    Column("raw_net_occupancy", Float, nullable=False),
    Column("corrected_occupancy", Float, nullable=False),
    Column("correction_factor", Float, comment="entries / exits of the day; null until the day is over"),
)

alert_state = Table(
    "alert_state",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("check_name", String(32), primary_key=True),
    Column("counter_id", String(64), primary_key=True, comment="'' for site-level problems"),
    Column("open_since", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("last_sent", UTCDateTime),
)


forecast_model = Table(
    "forecast_model",
    metadata,
    Column("model_version", BigId, primary_key=True, autoincrement=True),
    Column("trained_at", UTCDateTime, nullable=False),
    Column("method", String(32), nullable=False, comment="model, or the baseline that serves instead"),
    Column("promoted", Boolean, nullable=False, comment="true when this version serves the forecasts"),
    Column("reason", Text, nullable=False, comment="why it was promoted or not"),
    Column("metrics", Text, nullable=False, comment="JSON: backtest MAE/WAPE per measure and method"),
    Column("training_rows", BigInteger, nullable=False),
    Column("sites", Integer, nullable=False),
    Column("artifact", LargeBinary, comment="gzip of the LightGBM boosters (text), when the model was trained"),
    Column("run_id", Text),
)

forecast = Table(
    "forecast",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("slot_start", UTCDateTime, primary_key=True),
    Column("slot_minutes", Integer, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("model_version", BigInteger, nullable=False, comment="forecast_model row that produced it"),
    Column("method", String(32), nullable=False),
    Column("entries_p10", Float),
    Column("entries_p50", Float),
    Column("entries_p90", Float),
    Column("occupancy_p10", Float),
    Column("occupancy_p50", Float),
    Column("occupancy_p90", Float),
    Column("wait_minutes", Float, comment="expected wait to get in; null without a capacity"),
)

interval_revision = Table(
    "interval_revision",
    metadata,
    Column("revision_id", BigId, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False),
    Column("counter_id", String(64), nullable=False),
    Column("interval_start", UTCDateTime, nullable=False),
    Column("old_interval_minutes", Integer),
    Column("old_entries", Integer),
    Column("old_exits", Integer),
    Column("old_occupancy", Integer),
    Column("new_interval_minutes", Integer),
    Column("new_entries", Integer),
    Column("new_exits", Integer),
    Column("new_occupancy", Integer),
    Column("old_payload_id", BigInteger),
    Column("new_payload_id", BigInteger),
    Column("revised_at", UTCDateTime, nullable=False),
    Index("ix_interval_revision_site_id_interval_start", "site_id", "interval_start"),
)

# --- sharing (footfall.share): partner keys and the usual-occupancy profile -------------------

partner = Table(
    "partner",
    metadata,
    Column("partner_id", BigId, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True, comment="sha256 of the key; never the key"),
    Column("rate_per_minute", Integer, nullable=False, comment="requests a minute this key may make"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

partner_site = Table(
    "partner_site",
    metadata,
    Column("partner_id", BigInteger, ForeignKey("partner.partner_id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", String(64), primary_key=True, comment="a site this partner's key may read"),
)

share_usual = Table(
    "share_usual",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("weekday", Integer, primary_key=True, comment="local weekday, 0 = Monday"),
    Column("slot_minute", Integer, primary_key=True, comment="local minute of day the half hour starts"),
    Column("occupancy", Float, nullable=False, comment="median over the weeks of the slot's mean occupancy"),
    Column("samples", Integer, nullable=False, comment="days the median is taken over"),
    Column("computed_at", UTCDateTime, nullable=False),
)

COUNT_COLUMNS = (
    "site_id",
    "counter_id",
    "interval_start",
    "interval_minutes",
    "entries",
    "exits",
    "occupancy",
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (the API, the UI) work during a load; foreign keys are off by default."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()
    dbapi_connection.isolation_level = None  # let _sqlite_begin issue BEGIN itself


def _sqlite_begin(conn: Any) -> None:
    """Take the write lock when a transaction starts: concurrent site tasks then wait their turn
    (busy_timeout) instead of failing when a read transaction cannot be upgraded to a write."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


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
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(raw_payload).on_conflict_do_nothing(), rows)  # any conflict is the unique index
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(raw_payload).on_conflict_do_nothing(), rows)
    t = raw_payload.c
    found = {
        (r.sha256, r.counter_ref or ""): r.payload_id
        for r in conn.execute(
            select(t.sha256, t.counter_ref, t.payload_id).where(t.site_id == site_id, t.sha256.in_(set(digests)))
        )
    }
    return [int(found[k]) for k in keys]


def insert_ignore(table: Table, dialect_name: str, **values: Any) -> Any:
    """INSERT that does nothing when the row's unique key already exists (races between runs are normal)."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).values(**values).on_conflict_do_nothing()


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever the URL's driver spelling."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL and process (connection pools are per process).

    Cached on the resolved URL, not the argument: `get_engine()` follows FOOTFALL_DB_URL.
    """
    return _engine(normalize_url(url or settings.db_url()))


@cache
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config(url: str | None = None):  # -> alembic.config.Config (lazy import keeps startup light)
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url or settings.db_url()).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "heads") -> None:
    """Bring the warehouse schema to `revision` (idempotent)."""
    from alembic import command

    get_engine(url)  # creates the SQLite folder
    command.upgrade(alembic_config(url), revision)
