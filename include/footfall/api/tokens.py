"""Per-site API tokens: shown once at creation, stored only as their digest (footfall.keys).

The site a token belongs to is part of the row, so a token can only ever write its own site.

Timing does not tell how much of a wrong token matched: the token itself is never compared, only
its fixed-length sha256 digest (with hmac.compare_digest, after an index lookup by that digest), and
a guess that shares a prefix with a real token shares nothing predictable with its digest.
Failed attempts are limited per source address and per token prefix (FailedAttempts); tokens
verified lately are remembered by digest (TokenCache) so a push costs no lookup, while a revoked
token is still refused at once: the transaction that lands a push re-reads its token's row.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from footfall.keys import key_digest, new_key
from footfall.warehouse.tokens import active_token, insert_token, revoke_tokens, site_tokens

MAX_TOKEN_CHARS = 200

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


def create_token(engine: Engine, site_id: str, label: str | None = None) -> tuple[int, str]:
    """Store a new token's hash for `site_id`; the clear token is returned once, to hand over."""
    token = new_key(PREFIX)
    return insert_token(engine, site_id, key_digest(token), label), token


def list_tokens(engine: Engine, site_id: str) -> list[TokenInfo]:
    return [
        TokenInfo(r.token_id, r.site_id, r.label, r.created_at, r.revoked_at, r.token_hash[:8])
        for r in site_tokens(engine, site_id)
    ]


def revoke_token(engine: Engine, site_id: str, token_id: int | None = None) -> int:
    """Revoke one token of the site (or all of them); returns how many were active and are now revoked."""
    return revoke_tokens(engine, site_id, token_id)


@dataclass(frozen=True)
class TokenOwner:
    """The active token a request presented: its id (re-checked when landing) and its one site."""

    token_id: int
    site_id: str


def token_owner(engine: Engine, token: str) -> TokenOwner | None:
    """The active token's id and site, or None (unknown, revoked or malformed token)."""
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    digest = key_digest(token)
    row = active_token(engine, digest)
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return TokenOwner(int(row.token_id), row.site_id)


def site_for_token(engine: Engine, token: str) -> str | None:
    """The site an active token belongs to, or None (unknown, revoked or malformed token)."""
    owner = token_owner(engine, token)
    return None if owner is None else owner.site_id


class TokenCache:
    """Tokens verified in the last `ttl` seconds, by digest (never the token), at most `size` of them."""

    def __init__(self, ttl: float = 300.0, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: OrderedDict[str, tuple[float, TokenOwner]] = OrderedDict()

    def get(self, digest: str) -> TokenOwner | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, owner: TokenOwner) -> None:
        self._entries[digest] = (time.monotonic() + self.ttl, owner)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, digest: str) -> None:
        self._entries.pop(digest, None)

    def __len__(self) -> int:
        return len(self._entries)


def token_prefix(token: str) -> str:
    """The part of a presented token that keys its failed attempts: the marker and 8 characters."""
    return token[: len(PREFIX) + 8]


class FailedAttempts:
    """Failed token attempts over a sliding window, per source address and per token prefix.

    Once either key has `limit` failures in the window, lookups for it stop (429) until the oldest
    failure leaves the window: a guesser gets `limit` tries a minute per address, and spreading over
    addresses does not help against one prefix. Kept per process (each API worker counts its own)."""

    def __init__(self, limit: int = 20, window: float = 60.0, keys: int = 100_000) -> None:
        self.limit, self.window, self.keys = limit, window, keys
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._failures.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, address: str, token: str) -> float | None:
        """Seconds until this address and prefix may try again, or None when they may now."""
        now = time.monotonic()
        waits = []
        for key in (("address", address), ("prefix", token_prefix(token))):
            times = self._recent(key, now)
            if times is not None and len(times) >= self.limit:
                waits.append(times[0] + self.window - now)
        return max(waits) if waits else None

    def __len__(self) -> int:
        return len(self._failures)

    def record(self, address: str, token: str) -> None:
        now = time.monotonic()
        for key in (("address", address), ("prefix", token_prefix(token))):
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque(maxlen=self.limit)
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.keys:
            self._failures.popitem(last=False)
