"""The warehouse engine: one engine per URL and process, SQLite's pragmas and locking, migrations.

Every SQLite/PostgreSQL difference of footfall lives in this package; `dialect_insert` is the
INSERT ... ON CONFLICT of the engine's dialect.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event

from footfall import settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (the API, the UI) work during a load; foreign keys are off by default."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()
    dbapi_connection.isolation_level = None  # let _sqlite_begin issue BEGIN itself


def _sqlite_begin(conn: Any) -> None:
    """Take the write lock when a transaction starts: concurrent site tasks then wait their turn
    (busy_timeout) instead of failing when a read transaction cannot be upgraded to a write."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def dialect_insert(conn: Connection, table: Table) -> Any:
    """INSERT of the connection's dialect, which knows ON CONFLICT (PostgreSQL and SQLite spell it alike)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_ignore(table: Table, dialect_name: str, **values: Any) -> Any:
    """INSERT that does nothing when the row's unique key already exists (races between runs are normal)."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).values(**values).on_conflict_do_nothing()


def ping(engine: Engine) -> None:
    """Raise unless the warehouse answers (a health check)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def single_writer(engine: Engine) -> bool:
    """True when the database takes one writer at a time (SQLite): parallel loads would only wait."""
    return engine.dialect.name == "sqlite"


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever the URL's driver spelling."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL and process (connection pools are per process).

    Cached on the resolved URL, not the argument: `get_engine()` follows FOOTFALL_DB_URL.
    """
    return _engine(normalize_url(url or settings.db_url()))


@cache
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config(url: str | None = None):  # -> alembic.config.Config (lazy import keeps startup light)
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url or settings.db_url()).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "heads") -> None:
    """Bring the warehouse schema to `revision` (idempotent)."""
    from alembic import command

    get_engine(url)  # creates the SQLite folder
    command.upgrade(alembic_config(url), revision)
