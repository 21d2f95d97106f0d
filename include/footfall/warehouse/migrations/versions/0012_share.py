"""Sharing: partner keys (hashed) with the sites they may read, and the usual-occupancy profile.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from footfall.warehouse.schema import UTCDateTime

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "partner",
        sa.Column("partner_id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, comment="sha256 of the key; never the key"),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False, comment="requests a minute this key may make"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_partner")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_partner_key_hash")),
    )
    op.create_table(
        "partner_site",
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False, comment="a site this partner's key may read"),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.partner_id"], name=op.f("fk_partner_site_partner_id_partner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("partner_id", "site_id", name=op.f("pk_partner_site")),
    )
    op.create_table(
        "share_usual",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False, comment="local weekday, 0 = Monday"),
        sa.Column("slot_minute", sa.Integer(), nullable=False, comment="local minute of day the half hour starts"),
        sa.Column(
            "occupancy", sa.Float(), nullable=False, comment="median over the weeks of the slot's mean occupancy"
        ),
        sa.Column("samples", sa.Integer(), nullable=False, comment="days the median is taken over"),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "weekday", "slot_minute", name=op.f("pk_share_usual")),
    )


def downgrade() -> None:
    op.drop_table("share_usual")
    op.drop_table("partner_site")
    op.drop_table("partner")
