"""sync_run.rows_skipped: records of the window's payloads left out for having no count at all.

Real exports close a day or a file with a row that has its times and no counts; such rows are not a
reason to refuse the file, but a run says how many it skipped. Existing runs read 0.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT = "records without any count left out of the window's payloads (closing rows of an export)"


def upgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        batch.add_column(sa.Column("rows_skipped", sa.Integer(), nullable=False, server_default="0", comment=COMMENT))


def downgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_column("rows_skipped")
