"""Push ingestion: per-site API tokens (hashed) and batch acknowledgements.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-24 08:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from footfall.warehouse.schema import UTCDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("token_id", BigId, autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False, comment="the one site this token may write"),
        sa.Column("token_hash", sa.String(length=64), nullable=False, comment="sha256 of the token; never the token"),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index("ix_api_token_site_id", "api_token", ["site_id"], unique=False)
    op.create_table(
        "ingest_batch",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column(
            "batch_id", sa.String(length=64), nullable=False, comment="chosen by the sender; a resend is a no-op"
        ),
        sa.Column("payload_id", BigId, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("ack", sa.Text(), nullable=False, comment="the JSON acknowledgement, returned again on a resend"),
        sa.ForeignKeyConstraint(["site_id"], ["site.site_id"], name=op.f("fk_ingest_batch_site_id_site")),
        sa.ForeignKeyConstraint(
            ["payload_id"], ["raw_payload.payload_id"], name=op.f("fk_ingest_batch_payload_id_raw_payload")
        ),
        sa.PrimaryKeyConstraint("site_id", "batch_id", name=op.f("pk_ingest_batch")),
    )


def downgrade() -> None:
    op.drop_table("ingest_batch")
    op.drop_index("ix_api_token_site_id", table_name="api_token")
    op.drop_table("api_token")
