"""raw_payload is unique per (site_id, sha256, counter_ref), no longer per (site_id, sha256).

Two doors' per-counter answers or export files can be byte for byte the same (a closed day: all
zeros) and the body alone does not say which door it is, so the second door's body must be a payload
of its own. The key is an expression index on coalesce(counter_ref, ''): a body without a counter_ref
(a push, an import chunk) is still stored once, where a plain index would let NULLs repeat.

A downgrade restores uq (site_id, sha256) and refuses (naming them) while two payloads of a site
share a sha256, landed for different counters after this upgrade: nothing is deleted silently;
remove or merge those payloads (and what refers to them) first.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_raw_payload_site_id_sha256_counter_ref"
SHARED_BODIES = """
SELECT site_id, sha256, count(*) AS n FROM raw_payload
GROUP BY site_id, sha256 HAVING count(*) > 1 ORDER BY site_id, sha256
"""


def upgrade() -> None:
    with op.batch_alter_table("raw_payload") as batch:  # SQLite drops a constraint by copying the table
        batch.drop_constraint("uq_raw_payload_site_id_sha256", type_="unique")
    op.create_index(INDEX, "raw_payload", ["site_id", "sha256", sa.text("coalesce(counter_ref, '')")], unique=True)


def downgrade() -> None:
    if not context.is_offline_mode():  # an --sql script cannot look; the CREATE then fails on duplicates
        shared = op.get_bind().execute(sa.text(SHARED_BODIES)).all()
        if shared:
            named = ", ".join(f"site {r.site_id} sha256 {r.sha256[:12]}… ({r.n} payloads)" for r in shared[:5])
            raise RuntimeError(
                f"cannot restore one payload per (site, sha256): {len(shared)} body(ies) landed for several"
                f" counters ({named}); remove or merge those payloads first"
            )
    op.drop_index(INDEX, table_name="raw_payload")
    with op.batch_alter_table("raw_payload") as batch:
        batch.create_unique_constraint("uq_raw_payload_site_id_sha256", ["site_id", "sha256"])
