"""Secrets footfall hands out (site tokens for pushes, partner keys for the share API): made here and
stored only as their sha256 digest.

A key is 32 random bytes, so a plain sha256 (no salt, no slow hash) is enough: nobody can guess one,
and the digest lets the service find a key by index instead of comparing every row.
"""

from __future__ import annotations

import hashlib
import secrets


def new_key(prefix: str) -> str:
    """A new clear key: `prefix` and 32 random bytes, url-safe."""
    return prefix + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    """What is stored of a key and looked up by: its sha256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
