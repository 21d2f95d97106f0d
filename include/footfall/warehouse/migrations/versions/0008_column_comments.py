"""Column comments the earlier migrations left out (PostgreSQL keeps them as documentation).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENTS = [
    ("forecast", "model_version", "forecast_model row that produced it"),
    ("forecast", "wait_minutes", "expected wait to get in; null without a capacity"),
    ("forecast_model", "method", "model, or the baseline that serves instead"),
    ("forecast_model", "promoted", "true when this version serves the forecasts"),
    ("forecast_model", "reason", "why it was promoted or not"),
    ("forecast_model", "metrics", "JSON: backtest MAE/WAPE per measure and method"),
    ("forecast_model", "artifact", "gzip of the LightGBM boosters (text), when the model was trained"),
    ("import_chunk", "import_id", "hash of site, source, range and chunk size"),
    ("import_chunk", "source", "api, or file:<name>:<hash>"),
    ("import_chunk", "status", "done | failed"),
    ("occupancy_corrected", "correction_factor", "entries / exits of the day; null until the day is over"),
    ("quality_run", "gx_statistics", "JSON statistics of the row-level Great Expectations suite"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no column comments
    for table, column, comment in COMMENTS:
        op.execute(f"COMMENT ON COLUMN {table}.{column} IS '{comment.replace(chr(39), chr(39) * 2)}'")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _ in COMMENTS:
        op.execute(f"COMMENT ON COLUMN {table}.{column} IS NULL")
