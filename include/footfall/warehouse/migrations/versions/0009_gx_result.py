"""quality_run.gx_result: the full Great Expectations validation result of each run, for Data Docs.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "quality_run",
        sa.Column(
            "gx_result",
            sa.LargeBinary(),
            nullable=True,
            comment="gzip JSON of the full GX validation result, for Data Docs",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("quality_run") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("gx_result")
