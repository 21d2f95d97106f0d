"""Per-site tokens: stored hashed, bound to one site, revocable; the CLI shows a token once."""

from __future__ import annotations

from sqlalchemy import select

from footfall.api import tokens
from footfall.cli import main
from footfall.warehouse import schema


def test_only_the_hash_is_stored_and_the_token_finds_its_site(sqlite_url, warehouse):
    engine = warehouse(sqlite_url)
    token_id, token = tokens.create_token(engine, "site-a", "front desk")

    with engine.connect() as conn:
        stored = conn.execute(select(schema.api_token)).mappings().one()
    assert token.startswith(tokens.PREFIX) and len(token) > 40
    assert stored["token_hash"] == tokens.hash_token(token) != token
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
