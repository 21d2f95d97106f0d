"""Initial schema: site, counter, raw_payload, count_interval, sync_run.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 07:10:20.476784

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from footfall.warehouse.schema import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "site",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False, comment="IANA zone; instants are stored in UTC"),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("preset", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site")),
    )
    op.create_table(
        "counter",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("counter_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("ref", sa.Text(), nullable=False, comment="vendor identifier (serial, channel, element id)"),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.site_id"], name=op.f("fk_counter_site_id_site"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "counter_id", name=op.f("pk_counter")),
    )
    op.create_table(
        "raw_payload",
        sa.Column(
            "payload_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False, comment="kind:preset, e.g. http_json:axis_tvpc_export_json"),
        sa.Column(
            "request",
            sa.Text(),
            nullable=True,
            comment="what was asked (URL without secrets), for inspection",
        ),
        sa.Column(
            "counter_ref",
            sa.Text(),
            nullable=True,
            comment="device the body came from, when the request was per device",
        ),
        sa.Column(
            "window_start",
            UTCDateTime(),
            nullable=True,
            comment="window the body was fetched for, or pushed into",
        ),
        sa.Column("window_end", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False, comment="verbatim body, gzip-compressed"),
        sa.Column("body_bytes", sa.BigInteger(), nullable=False, comment="uncompressed size"),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="of the uncompressed body"),
        sa.Column("error", sa.Text(), nullable=True, comment="why this body could not be used, if it could not"),
        sa.ForeignKeyConstraint(["site_id"], ["site.site_id"], name=op.f("fk_raw_payload_site_id_site")),
        sa.PrimaryKeyConstraint("payload_id", name=op.f("pk_raw_payload")),
        sa.UniqueConstraint("site_id", "sha256", name=op.f("uq_raw_payload_site_id_sha256")),
    )
    with op.batch_alter_table("raw_payload", schema=None) as batch_op:
        batch_op.create_index("ix_raw_payload_site_window", ["site_id", "window_start"], unique=False)

    op.create_table(
        "sync_run",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True, comment="Airflow run id, or cli/replay"),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_loaded", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False, comment="success | failed"),
        sa.Column(
            "stage",
            sa.String(length=16),
            nullable=True,
            comment="extract | normalize | validate | load, where it failed",
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["site.site_id"], name=op.f("fk_sync_run_site_id_site")),
        sa.PrimaryKeyConstraint("site_id", "window_start", "window_end", name=op.f("pk_sync_run")),
    )
    op.create_table(
        "count_interval",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("counter_id", sa.String(length=64), nullable=False),
        sa.Column("interval_start", UTCDateTime(), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=True),
        sa.Column("exits", sa.Integer(), nullable=True),
        sa.Column("occupancy", sa.Integer(), nullable=True),
        sa.Column("payload_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payload_id"], ["raw_payload.payload_id"], name=op.f("fk_count_interval_payload_id_raw_payload")
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "counter_id"],
            ["counter.site_id", "counter.counter_id"],
            name=op.f("fk_count_interval_site_id_counter"),
        ),
        sa.PrimaryKeyConstraint("site_id", "counter_id", "interval_start", name=op.f("pk_count_interval")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("count_interval")
    op.drop_table("sync_run")
    with op.batch_alter_table("raw_payload", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_payload_site_window")

    op.drop_table("raw_payload")
    op.drop_table("counter")
    op.drop_table("site")
