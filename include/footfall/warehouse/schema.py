"""The warehouse schema: every table of footfall's database, as SQLAlchemy Core tables.

SQLAlchemy Core tables (bulk loads and COPY want rows, not ORM objects). Instants are stored as
UTC; on SQLite, which has no time zone type, `UTCDateTime` stores naive UTC and hands back aware
UTC datetimes, so code above this layer only ever sees aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
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
    func,
)
from sqlalchemy.types import TypeDecorator


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
    Column(
        "rows_skipped",
        Integer,
        nullable=False,
        default=0,
        server_default="0",
        comment="records without any count left out of the window's payloads (closing rows of an export)",
    ),
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

nowcast = Table(
    "nowcast",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("slot_start", UTCDateTime, primary_key=True),
    Column("slot_minutes", Integer, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False, comment="the live run that computed it"),
    Column("as_of", UTCDateTime, nullable=False, comment="end of the last observed interval it starts from"),
    Column("method", String(32), nullable=False),
    Column("occupancy_p10", Float),
    Column("occupancy_p50", Float),
    Column("occupancy_p90", Float),
    Column("wait_minutes", Float, comment="expected wait to get in; null without a capacity"),
    comment="the 2-hour nowcast: replaced per site by every live run with fresh data",
)

queue_measure = Table(
    "queue_measure",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("queue_ref", String(200), primary_key=True, comment="the device's queue zone, as the device names it"),
    Column("interval_start", UTCDateTime, primary_key=True),
    Column("interval_minutes", Integer, nullable=False),
    Column("queue_length", Float, comment="people waiting at the interval's end"),
    Column("wait_seconds", Float, comment="mean wait of those who left the queue in the interval"),
    Column("served", Integer, comment="people who left the queue in the interval (its outflow)"),
    Column("payload_id", BigInteger, comment="raw_payload the measure was read from"),
    comment="queue lengths and waits reported by queue-counting devices (Xovis queue statistics, Irisys)",
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

# The one definition of a count row's columns (count_interval without its bookkeeping columns).
MEASURED_COLUMNS = ("interval_minutes", "entries", "exits", "occupancy")
COUNT_COLUMNS = ("site_id", "counter_id", "interval_start", *MEASURED_COLUMNS)

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
