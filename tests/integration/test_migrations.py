"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from footfall.warehouse import schema
from footfall.warehouse.engine import alembic_config, get_engine, upgrade
from footfall.warehouse.landing import land_body


# SQLite cannot reflect expression indexes (raw_payload's unique key), so autogenerate skips that one
# there; test_0010_keys_payloads_by_counter checks what it does on both backends.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_one_head_and_migrations_match_the_metadata(db_url):
    upgrade(db_url)
    upgrade(db_url)  # idempotent

    assert len(ScriptDirectory.from_config(alembic_config(db_url)).get_heads()) == 1
    with get_engine(db_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []


def test_0010_keys_payloads_by_counter(db_url):
    """Upgrade keeps the payloads and their ids; the same bytes may then land for a second counter;
    a downgrade refuses while such pairs exist and restores one payload per sha256 once they are gone."""
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)

    def add(conn, body: bytes, counter_ref: str | None) -> int:
        return land_body(conn, site_id="s1", source="test", body=body, received_at=now, counter_ref=counter_ref)

    def insert(body: bytes, counter_ref: str | None) -> None:  # a plain INSERT: the unique key refuses
        row = {"site_id": "s1", "source": "test", "received_at": now, "body": body, "body_bytes": len(body)}
        row |= {"sha256": hashlib.sha256(body).hexdigest(), "counter_ref": counter_ref}
        with engine.begin() as conn:
            conn.execute(schema.raw_payload.insert(), row)

    upgrade(db_url, "0009")
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(schema.site.insert().values(site_id="s1", name="S", timezone="UTC", source_kind="file",
                                             preset="axis_tvpc_export_csv", updated_at=now))  # fmt: skip
        before = [add(conn, b"zeros", "A"), add(conn, b"pushed", None)]
        conn.execute(schema.counter.insert().values(site_id="s1", counter_id="a", ref="A", direction="normal"))
        conn.execute(schema.count_interval.insert().values(site_id="s1", counter_id="a", interval_start=now,
                     interval_minutes=15, entries=0, exits=0, payload_id=before[0], loaded_at=now))  # fmt: skip

    upgrade(db_url)  # SQLite copies raw_payload: the ids that count_interval refers to must survive

    with engine.begin() as conn:
        assert conn.execute(select(schema.count_interval.c.payload_id)).scalar_one() == before[0]
        assert [add(conn, b"zeros", "A"), add(conn, b"pushed", None)] == before  # still landed once
        second_door = add(conn, b"zeros", "B")
    assert second_door not in before
    with pytest.raises(IntegrityError):  # a NULL counter_ref de-duplicates too
        insert(b"pushed", None)

    config = alembic_config(db_url)
    with pytest.raises(RuntimeError, match=r"1 body\(ies\) landed for several counters \(site s1 sha256 "):
        command.downgrade(config, "0009")
    with engine.begin() as conn:
        assert conn.execute(select(schema.raw_payload.c.payload_id)).scalars().all() == [*before, second_door]
        conn.execute(schema.raw_payload.delete().where(schema.raw_payload.c.payload_id == second_door))

    command.downgrade(config, "0009")

    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0009"
    with pytest.raises(IntegrityError):  # back to one payload per (site, sha256)
        insert(b"zeros", "B")
    upgrade(db_url)  # and up again
    with engine.begin() as conn:
        assert add(conn, b"zeros", "B") not in before
