"""Interval revisions: what a re-sent or revised interval was before the latest payload replaced it.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from footfall.warehouse.schema import UTCDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "interval_revision",
        sa.Column("revision_id", BigId, autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("counter_id", sa.String(length=64), nullable=False),
        sa.Column("interval_start", UTCDateTime(), nullable=False),
        sa.Column("old_interval_minutes", sa.Integer(), nullable=True),
        sa.Column("old_entries", sa.Integer(), nullable=True),
        sa.Column("old_exits", sa.Integer(), nullable=True),
        sa.Column("old_occupancy", sa.Integer(), nullable=True),
        sa.Column("new_interval_minutes", sa.Integer(), nullable=True),
        sa.Column("new_entries", sa.Integer(), nullable=True),
        sa.Column("new_exits", sa.Integer(), nullable=True),
        sa.Column("new_occupancy", sa.Integer(), nullable=True),
        sa.Column("old_payload_id", sa.BigInteger(), nullable=True),
        sa.Column("new_payload_id", sa.BigInteger(), nullable=True),
        sa.Column("revised_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("revision_id", name=op.f("pk_interval_revision")),
    )
    op.create_index(
        "ix_interval_revision_site_id_interval_start", "interval_revision", ["site_id", "interval_start"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_interval_revision_site_id_interval_start", table_name="interval_revision")
    op.drop_table("interval_revision")
