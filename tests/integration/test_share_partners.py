"""`footfall partners create|list|revoke` on a real warehouse, and `--only ingest|share` serving one half."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from footfall.api.app import create_app
from footfall.cli import main
from footfall.keys import key_digest
from footfall.warehouse import schema
from footfall.warehouse import share as store
from footfall.warehouse.engine import get_engine


def test_partners_cli_prints_the_key_once_and_stores_its_hash(db_url, warehouse, registry, monkeypatch, capsys):
    registry.add_site("bib")
    registry.add_site("lab")
    engine = warehouse(db_url)
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)

    assert main(["partners", "create", "--name", "city portal", "--sites", "bib,lab", "--rate", "120"]) == 0
    out = capsys.readouterr().out
    key = out.strip().splitlines()[-1]
    assert key.startswith("ffp_") and "may read bib, lab" in out
    with engine.connect() as conn:
        row = conn.execute(select(schema.partner)).one()
        sites = (
            conn.execute(select(schema.partner_site.c.site_id).order_by(schema.partner_site.c.site_id)).scalars().all()
        )
    assert row.key_hash == key_digest(key) and key not in str(tuple(row)) and sites == ["bib", "lab"]
    assert store.partner_for_key(engine, key).sites == ("bib", "lab")

    assert main(["partners", "list"]) == 0
    listed = capsys.readouterr().out
    assert "city portal" in listed and "active" in listed and "bib,lab" in listed and key not in listed

    assert main(["partners", "create", "--name", "x", "--sites", "nowhere"]) == 2  # no such site file
    assert "nowhere" in capsys.readouterr().err

    assert main(["partners", "revoke", "--id", str(row.partner_id)]) == 0
    assert store.partner_for_key(engine, key) is None
    assert main(["partners", "revoke", "--id", str(row.partner_id)]) == 1  # already revoked
    assert "revoked" in (capsys.readouterr().out + "") and main(["partners", "list"]) == 0
    assert "revoked" in capsys.readouterr().out


def test_only_serves_one_half(sqlite_url, warehouse, registry):
    registry.add_site("bib", sharing={"public": True})
    engine = warehouse(sqlite_url)
    both = {r.path for r in create_app(engine).routes}
    ingest = {r.path for r in create_app(engine, only="ingest").routes}
    share = {r.path for r in create_app(engine, only="share").routes}
    assert "/v1/sites/{site_id}/batches" in both & ingest and "/v1/public/sites/{site_id}/now" in both & share
    assert not any(p.startswith("/v1/public") or p in ("/widget.js", "/embed/{site_id}") for p in ingest)
    assert not any(p.startswith("/v1/sites") or p.startswith("/v1/push") for p in share)
    with TestClient(create_app(engine, only="ingest")) as client:
        assert client.get("/v1/public/sites/bib/now").status_code == 404
        assert client.get("/v1/public/sites/bib/now").json() == {"reason": "Not Found"}
        response = client.get("/healthz", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in response.headers  # no CORS on the ingestion half
    with TestClient(create_app(engine, only="share")) as client:
        assert client.get("/v1/public/sites/bib/now").status_code == 200
        assert client.get("/widget.js").headers["content-type"].startswith("text/javascript")


def test_an_unreadable_warehouse_is_a_503_with_a_reason(tmp_path, registry):
    """A warehouse without the schema (never migrated): the public API says so in JSON, it does not crash."""
    registry.add_site("bib", sharing={"public": True})
    engine = get_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(engine, only="share"), raise_server_exceptions=False) as client:
        for path in ("now", "today", "forecast"):
            response = client.get(f"/v1/public/sites/bib/{path}")
            assert response.status_code == 503 and response.headers["retry-after"] == "60"
            assert response.json() == {"reason": "the warehouse cannot be read right now"}
        assert client.get("/v1/public/sites/bib/hours").status_code == 200  # from the site file alone


def test_now_reads_a_few_bounded_statements_then_none_while_cached(db_url, warehouse, registry):
    """The read model: the first /now reads the last interval, one day of observations and forecasts and the
    usual profile (and stores it once); the next requests within the cache time run no SQL at all."""
    from sqlalchemy import event

    registry.add_site("bib", sharing={"public": True})
    engine = warehouse(db_url)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if statement.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with TestClient(create_app(engine, only="share")) as client:
            assert client.get("/v1/public/sites/bib/now").status_code == 200
            first = list(statements)
            assert 4 <= len(first) <= 8, first
            tables = " ".join(first).lower()
            for bounded in ("occupancy_corrected.site_id = ", "forecast.site_id = ", "share_usual.site_id = "):
                assert bounded in tables
            assert "from count_interval" not in tables or "count_interval.interval_start = " in tables
            statements.clear()
            for _ in range(50):
                assert client.get("/v1/public/sites/bib/now").status_code == 200
                assert client.get("/v1/public/sites/bib/today").status_code == 200
            assert statements == []
    finally:
        event.remove(engine, "before_cursor_execute", record)
