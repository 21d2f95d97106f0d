"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from footfall import db


def test_one_head_and_migrations_match_the_metadata(db_url):
    db.upgrade(db_url)
    db.upgrade(db_url)  # idempotent

    assert len(ScriptDirectory.from_config(db.alembic_config(db_url)).get_heads()) == 1
    with db.get_engine(db_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
