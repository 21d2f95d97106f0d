"""The 2-hour nowcast per site, and queue lengths and waits reported by queue-counting devices.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from footfall.warehouse.schema import UTCDateTime

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nowcast",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("slot_start", UTCDateTime(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False, comment="the live run that computed it"),
        sa.Column("as_of", UTCDateTime(), nullable=False, comment="end of the last observed interval it starts from"),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("occupancy_p10", sa.Float(), nullable=True),
        sa.Column("occupancy_p50", sa.Float(), nullable=True),
        sa.Column("occupancy_p90", sa.Float(), nullable=True),
        sa.Column(
            "wait_minutes", sa.Float(), nullable=True, comment="expected wait to get in; null without a capacity"
        ),
        sa.PrimaryKeyConstraint("site_id", "slot_start", name=op.f("pk_nowcast")),
        comment="the 2-hour nowcast: replaced per site by every live run with fresh data",
    )
    op.create_table(
        "queue_measure",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column(
            "queue_ref", sa.String(200), nullable=False, comment="the device's queue zone, as the device names it"
        ),
        sa.Column("interval_start", UTCDateTime(), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("queue_length", sa.Float(), nullable=True, comment="people waiting at the interval's end"),
        sa.Column(
            "wait_seconds", sa.Float(), nullable=True, comment="mean wait of those who left the queue in the interval"
        ),
        sa.Column(
            "served", sa.Integer(), nullable=True, comment="people who left the queue in the interval (its outflow)"
        ),
        sa.Column("payload_id", sa.BigInteger(), nullable=True, comment="raw_payload the measure was read from"),
        sa.PrimaryKeyConstraint("site_id", "queue_ref", "interval_start", name=op.f("pk_queue_measure")),
        comment="queue lengths and waits reported by queue-counting devices (Xovis queue statistics, Irisys)",
    )


def downgrade() -> None:
    op.drop_table("queue_measure")
    op.drop_table("nowcast")
