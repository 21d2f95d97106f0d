"""History imports: one row per chunk, so a re-run skips what is done.

Revision ID: 0006
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from footfall.warehouse.schema import UTCDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_chunk",
        sa.Column("import_id", sa.String(length=32), nullable=False),
        sa.Column("chunk_start", UTCDateTime(), nullable=False),
        sa.Column("chunk_end", UTCDateTime(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_loaded", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.site_id"], name=op.f("fk_import_chunk_site_id_site")),
        sa.PrimaryKeyConstraint("import_id", "chunk_start", name=op.f("pk_import_chunk")),
    )


def downgrade() -> None:
    op.drop_table("import_chunk")
