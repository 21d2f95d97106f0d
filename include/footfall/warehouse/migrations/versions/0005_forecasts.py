"""Forecasts: model versions with their backtest metrics, and the published forecast per site and slot.

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from footfall.warehouse.schema import UTCDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "forecast_model",
        sa.Column("model_version", BigId, autoincrement=True, nullable=False),
        sa.Column("trained_at", UTCDateTime(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("training_rows", sa.BigInteger(), nullable=False),
        sa.Column("sites", sa.Integer(), nullable=False),
        sa.Column("artifact", sa.LargeBinary(), nullable=True),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("model_version", name=op.f("pk_forecast_model")),
    )
    op.create_table(
        "forecast",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("slot_start", UTCDateTime(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("model_version", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("entries_p10", sa.Float(), nullable=True),
        sa.Column("entries_p50", sa.Float(), nullable=True),
        sa.Column("entries_p90", sa.Float(), nullable=True),
        sa.Column("occupancy_p10", sa.Float(), nullable=True),
        sa.Column("occupancy_p50", sa.Float(), nullable=True),
        sa.Column("occupancy_p90", sa.Float(), nullable=True),
        sa.Column("wait_minutes", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "slot_start", name=op.f("pk_forecast")),
    )


def downgrade() -> None:
    op.drop_table("forecast")
    op.drop_table("forecast_model")
