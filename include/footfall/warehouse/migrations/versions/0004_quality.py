"""Data quality: quality_flag, quality_run, occupancy_corrected, alert_state.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-24 08:35:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from footfall.warehouse.schema import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quality_flag",
        sa.Column("flag_id", BigId, autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("counter_id", sa.String(length=64), nullable=True, comment="null for site-level flags"),
        sa.Column("check_name", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False, comment="low | medium | high"),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("period_end", UTCDateTime(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True, comment="JSON: the numbers behind the flag"),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("flag_id", name=op.f("pk_quality_flag")),
    )
    op.create_index("ix_quality_flag_site_period", "quality_flag", ["site_id", "period_start"], unique=False)
    op.create_table(
        "quality_run",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("checked_start", UTCDateTime(), nullable=False, comment="flags of this range were replaced"),
        sa.Column("checked_end", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("gx_success", sa.Boolean(), nullable=True),
        sa.Column("gx_statistics", sa.Text(), nullable=True, comment="JSON statistics of the row-level GX suite"),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "checked_start", "checked_end", name=op.f("pk_quality_run")),
    )
    op.create_table(
        "occupancy_corrected",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("interval_start", UTCDateTime(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False, comment="the site-day, from the site's reset time"),
        sa.Column("raw_net_occupancy", sa.Float(), nullable=False),
        sa.Column("corrected_occupancy", sa.Float(), nullable=False),
        sa.Column("correction_factor", sa.Float(), nullable=True, comment="entries / exits of the day"),
        sa.PrimaryKeyConstraint("site_id", "interval_start", name=op.f("pk_occupancy_corrected")),
    )
    op.create_table(
        "alert_state",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("check_name", sa.String(length=32), nullable=False),
        sa.Column("counter_id", sa.String(length=64), nullable=False, comment="'' for site-level problems"),
        sa.Column("open_since", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("last_sent", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "check_name", "counter_id", name=op.f("pk_alert_state")),
    )


def downgrade() -> None:
    op.drop_table("alert_state")
    op.drop_table("occupancy_corrected")
    op.drop_table("quality_run")
    op.drop_index("ix_quality_flag_site_period", table_name="quality_flag")
    op.drop_table("quality_flag")
