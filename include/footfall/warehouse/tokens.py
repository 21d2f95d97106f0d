"""API tokens: only their sha256 is stored; one row per token, revoked in place."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, Row, select

from footfall.warehouse import schema


def insert_token(engine: Engine, site_id: str, token_hash: str, label: str | None) -> int:
    """Store a token's hash for `site_id`; returns its token_id."""
    t = schema.api_token
    with engine.begin() as conn:
        values = {"site_id": site_id, "token_hash": token_hash, "label": label, "created_at": datetime.now(UTC)}
        key = conn.execute(t.insert().values(**values)).inserted_primary_key
    assert key is not None  # an INSERT of one row always has its key
    return int(key[0])


def site_tokens(engine: Engine, site_id: str) -> list[Row]:
    """Every token row of the site, oldest first."""
    t = schema.api_token
    with engine.connect() as conn:
        return list(conn.execute(select(t).where(t.c.site_id == site_id).order_by(t.c.token_id)))


def revoke_tokens(engine: Engine, site_id: str, token_id: int | None = None) -> int:
    """Revoke one active token of the site (or all of them); returns how many were revoked."""
    t = schema.api_token
    condition = (t.c.site_id == site_id) & t.c.revoked_at.is_(None)
    if token_id is not None:
        condition &= t.c.token_id == token_id
    with engine.begin() as conn:
        return conn.execute(t.update().where(condition).values(revoked_at=datetime.now(UTC))).rowcount


def active_token(engine: Engine, token_hash: str) -> Row | None:
    """(token_id, site_id, token_hash) of the active token with this hash, or None."""
    t = schema.api_token.c
    with engine.connect() as conn:
        return conn.execute(
            select(t.token_id, t.site_id, t.token_hash).where(t.token_hash == token_hash, t.revoked_at.is_(None))
        ).first()


def active_token_ids(conn: Connection, token_ids: set[int]) -> set[int]:
    """Those of `token_ids` not revoked (read in the transaction that lands what they sent, so a token
    revoked before it commits lands nothing more)."""
    if not token_ids:
        return set()
    t = schema.api_token.c
    query = select(t.token_id).where(t.token_id.in_(token_ids), t.revoked_at.is_(None))
    return {int(i) for i in conn.execute(query).scalars()}
