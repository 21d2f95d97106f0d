"""Per-site tokens: stored hashed, bound to one site, revocable; the CLI shows a token once."""

from __future__ import annotations

from sqlalchemy import select

from footfall.api import tokens
from footfall.cli import main
from footfall.keys import key_digest
from footfall.warehouse import schema


def test_only_the_hash_is_stored_and_the_token_finds_its_site(sqlite_url, warehouse):
    engine = warehouse(sqlite_url)
    token_id, token = tokens.create_token(engine, "site-a", "front desk")

    with engine.connect() as conn:
        stored = conn.execute(select(schema.api_token)).mappings().one()
    assert token.startswith(tokens.PREFIX) and len(token) > 40
    assert stored["token_hash"] == key_digest(token) != token
    assert token not in str(dict(stored))
    assert tokens.site_for_token(engine, token) == "site-a"
    assert tokens.site_for_token(engine, token + "x") is None
    assert tokens.site_for_token(engine, "no-prefix") is None
    assert [t.token_id for t in tokens.list_tokens(engine, "site-a")] == [token_id]


def test_tokens_are_distinct_and_revocation_is_per_token_and_per_site(sqlite_url, warehouse):
    engine = warehouse(sqlite_url)
    first_id, first = tokens.create_token(engine, "site-a")
    _, second = tokens.create_token(engine, "site-a")
    _, other = tokens.create_token(engine, "site-b")

    assert first != second
    assert tokens.revoke_token(engine, "site-b", first_id) == 0  # another site's token id: untouched
    assert tokens.revoke_token(engine, "site-a", first_id) == 1
    assert tokens.site_for_token(engine, first) is None
    assert tokens.site_for_token(engine, second) == "site-a"
    assert tokens.revoke_token(engine, "site-a") == 1  # all remaining of site-a
    assert tokens.site_for_token(engine, second) is None
    assert tokens.site_for_token(engine, other) == "site-b"


def test_cli_creates_lists_and_revokes(sqlite_url, warehouse, registry, monkeypatch, capsys):
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)
    engine = warehouse(sqlite_url)
    registry.add_site("site-a")

    assert main(["tokens", "create", "--site", "site-a", "--label", "desk"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert tokens.site_for_token(engine, token) == "site-a"

    assert main(["tokens", "list", "--site", "site-a"]) == 0
    listing = capsys.readouterr().out
    assert "active" in listing and "desk" in listing and token not in listing

    assert main(["tokens", "revoke", "--site", "site-a", "--id", "1"]) == 0
    assert tokens.site_for_token(engine, token) is None
    assert main(["tokens", "revoke", "--site", "site-a", "--id", "1"]) == 1  # nothing left to revoke
    assert main(["tokens", "create", "--site", "no-such-site"]) == 2


# --- guessing: timing, rate limits, the cache -----------------------------------------------------


def test_a_wrong_token_is_compared_only_as_a_fixed_length_digest(sqlite_url, warehouse, monkeypatch):
    """By construction, the time a wrong token takes cannot depend on how much of it matched: the warehouse
    is asked for the sha256 of the token (an index lookup), and the one comparison of secret material is
    hmac.compare_digest on two 64-character digests."""
    engine = warehouse(sqlite_url)
    _, token = tokens.create_token(engine, "site-a")
    near_miss = token[:-1] + ("A" if token[-1] != "A" else "B")  # all but the last character right
    asked: list[str] = []
    compared: list[tuple[str, str]] = []
    real_lookup, real_compare = tokens.active_token, tokens.hmac.compare_digest
    monkeypatch.setattr(tokens, "active_token", lambda e, digest: asked.append(digest) or real_lookup(e, digest))
    monkeypatch.setattr(tokens.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real_compare(a, b))

    assert tokens.token_owner(engine, near_miss) is None
    assert tokens.token_owner(engine, token) is not None

    assert asked == [key_digest(near_miss), key_digest(token)]
    assert all(len(d) == 64 and token not in d for d in asked)
    # the near miss shares (almost surely) no prefix with the real digest: nothing to measure
    common = next(i for i, (a, b) in enumerate(zip(asked[0], asked[1], strict=True)) if a != b)
    assert common < 8
    assert compared == [(key_digest(token), key_digest(token))]


def test_failed_attempts_are_limited_per_address_and_per_token_prefix(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(tokens.time, "monotonic", lambda: clock[0])
    limiter = tokens.FailedAttempts(limit=3, window=60)
    guess = "fft_ABCDEFGHrest-of-a-guess"

    for n in range(3):
        assert limiter.retry_after("10.0.0.1", f"{guess}{n}") is None
        limiter.record("10.0.0.1", f"{guess}{n}")
    assert limiter.retry_after("10.0.0.1", "fft_other-prefix") == 60  # the address is blocked for any token
    assert limiter.retry_after("10.0.0.2", f"{guess}x") == 60  # the prefix is blocked from any address
    assert limiter.retry_after("10.0.0.2", "fft_ZZZZZZZZ") is None  # another address and prefix may try
    clock[0] += 30
    assert limiter.retry_after("10.0.0.1", "fft_other-prefix") == 30
    clock[0] += 30.5
    assert limiter.retry_after("10.0.0.1", "fft_other-prefix") is None  # the failures left the window


def test_the_limiter_and_the_cache_hold_a_bounded_number_of_keys():
    limiter = tokens.FailedAttempts(limit=2, window=60, keys=100)
    for n in range(1000):
        limiter.record(f"10.0.{n // 256}.{n % 256}", f"fft_{n:08d}")
    assert len(limiter) <= 100
    cache = tokens.TokenCache(ttl=60, size=10)
    for n in range(50):
        cache.put(f"{n:064x}", tokens.TokenOwner(n, "site-a"))
    assert len(cache) == 10 and cache.get(f"{49:064x}") == tokens.TokenOwner(49, "site-a")
    assert cache.get(f"{0:064x}") is None
