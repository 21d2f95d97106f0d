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
from datetime import datetime

from sqlalchemy import Engine

from footfall.warehouse.tokens import active_token, insert_token, revoke_tokens, site_tokens

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
    return insert_token(engine, site_id, hash_token(token), label), token


def list_tokens(engine: Engine, site_id: str) -> list[TokenInfo]:
    return [
        TokenInfo(r.token_id, r.site_id, r.label, r.created_at, r.revoked_at, r.token_hash[:8])
        for r in site_tokens(engine, site_id)
    ]


def revoke_token(engine: Engine, site_id: str, token_id: int | None = None) -> int:
    """Revoke one token of the site (or all of them); returns how many were active and are now revoked."""
    return revoke_tokens(engine, site_id, token_id)


def site_for_token(engine: Engine, token: str) -> str | None:
    """The site an active token belongs to, or None (unknown, revoked or malformed token)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    row = active_token(engine, digest)
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row.site_id
