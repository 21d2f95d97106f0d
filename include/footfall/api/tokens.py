"""Per-site API tokens: shown once at creation, stored only as a sha256 hash.

A token is 32 random bytes, so a plain sha256 (no salt, no slow hash) is enough: nobody can
guess one, and the hash lets the service find a token by index instead of comparing every row.
The site a token belongs to is part of the row, so a token can only ever write its own site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from footfall import db

PREFIX = "fft_"


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token (never the token itself)."""

    token_id: int
    site_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    hash_prefix: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def create_token(engine: Engine, site_id: str, label: str | None = None) -> tuple[int, str]:
    """Store a new token's hash for `site_id`; the clear token is returned once, to hand over."""
    token = new_token()
    with engine.begin() as conn:
        key = conn.execute(
            db.api_token.insert().values(
                site_id=site_id, token_hash=hash_token(token), label=label, created_at=datetime.now(UTC)
            )
        ).inserted_primary_key
    assert key is not None  # an INSERT of one row always has its key
    return int(key[0]), token


def list_tokens(engine: Engine, site_id: str) -> list[TokenInfo]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(db.api_token).where(db.api_token.c.site_id == site_id).order_by(db.api_token.c.token_id)
        )
        return [TokenInfo(r.token_id, r.site_id, r.label, r.created_at, r.revoked_at, r.token_hash[:8]) for r in rows]


def revoke_token(engine: Engine, site_id: str, token_id: int | None = None) -> int:
    """Revoke one token of the site (or all of them); returns how many were active and are now revoked."""
    condition = (db.api_token.c.site_id == site_id) & db.api_token.c.revoked_at.is_(None)
    if token_id is not None:
        condition &= db.api_token.c.token_id == token_id
    with engine.begin() as conn:
        return conn.execute(db.api_token.update().where(condition).values(revoked_at=datetime.now(UTC))).rowcount


def site_for_token(engine: Engine, token: str) -> str | None:
    """The site an active token belongs to, or None (unknown, revoked or malformed token)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    with engine.connect() as conn:
        row = conn.execute(
            select(db.api_token.c.site_id, db.api_token.c.token_hash).where(
                db.api_token.c.token_hash == digest, db.api_token.c.revoked_at.is_(None)
            )
        ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row.site_id
