"""Who is asking: partner keys (looked up by hash, cached briefly) and a per-key rate limit.

A revoked key stops working within KEY_CACHE_SECONDS. The rate limit is a token bucket per partner
key, or per client address for requests without a key; it lives in the process (one per worker).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from footfall.errors import Refused
from footfall.warehouse import share as store

KEY_CACHE_SECONDS = 30.0
DEFAULT_PUBLIC_RATE = 600


def public_rate_per_minute() -> int:
    """FOOTFALL_SHARE_PUBLIC_RATE: requests a minute per client address without a key (default 600)."""
    return int(os.environ.get("FOOTFALL_SHARE_PUBLIC_RATE", DEFAULT_PUBLIC_RATE))


def bearer(header: str | None) -> str | None:
    """The key of an `Authorization: Bearer KEY` header, None without the header; 401 when malformed."""
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Refused(
            401, "malformed Authorization header (Authorization: Bearer <key>)", {"WWW-Authenticate": "Bearer"}
        )
    return key.strip()


class KeyCache:
    """partner_for_key with a short-lived cache of hits and misses (bounded)."""

    def __init__(self, engine: Callable[[], Engine], seconds: float = KEY_CACHE_SECONDS, size: int = 10_000) -> None:
        self.engine, self.seconds, self.size = engine, seconds, size
        self._entries: dict[str, tuple[float, store.Partner | None]] = {}

    def lookup(self, key: str) -> store.Partner | None:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        found = store.partner_for_key(self.engine(), key)
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (now, found)
        return found

    def cached(self, key: str) -> bool:
        hit = self._entries.get(key)
        return hit is not None and time.monotonic() - hit[0] < self.seconds


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets: `per_minute` requests a minute, bursts up to a minute's worth."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, size: int = 100_000) -> None:
        self.clock, self.size = clock, size
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, who: str, per_minute: int) -> float:
        """0 when the request may go on, else the seconds to wait before the next one will."""
        rate = per_minute / 60.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(who)
            if bucket is None:
                if len(self._buckets) >= self.size:
                    self._buckets.clear()
                bucket = self._buckets[who] = _Bucket(float(per_minute), now)
            bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate if rate > 0 else 60.0

    def check(self, who: str, per_minute: int) -> None:
        wait = self.take(who, per_minute)
        if wait:
            seconds = max(1, math.ceil(wait))
            raise Refused(429, f"rate limit of {per_minute} requests a minute reached; retry in {seconds} s",
                          {"Retry-After": str(seconds)})  # fmt: skip
