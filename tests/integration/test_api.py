"""The ingestion service over real HTTPS on loopback (trustme certificate), landing in a real warehouse."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from footfall.api.tokens import create_token, revoke_token
from footfall.warehouse import schema
from footfall.warehouse.landing import read_body
from footfall_devtools.api_thread import ApiThread, serve_in_thread

SITE = "conn-site"
OTHER = "other-site"
REFS = ("GATE-A", "GATE-B")


def connector_site(site_id: str, refs: tuple[str, ...] = REFS, **options: Any) -> dict[str, Any]:
    """A site file for a site whose on-site connector pushes footfall_connector batches."""
    return {
        "id": site_id,
        "name": f"Connector site {site_id}",
        "timezone": "Europe/Paris",
        "counters": [{"id": ref.lower(), "ref": ref} for ref in refs],
        "source": {"kind": "push", "preset": "footfall_connector", "lookback_minutes": 30, "options": options},
    }


def batch(site_id: str = SITE, rows: list[dict[str, Any]] | None = None, batch_id: str | None = None) -> dict:
    return {
        "batch_id": batch_id or str(uuid.uuid4()),
        "site_id": site_id,
        "cursor": 2,
        "rows": rows
        if rows is not None
        else [
            {"counter_ref": "GATE-A", "interval_start": "2026-11-20T10:00:00+01:00", "interval_minutes": 15,
             "entries": 7, "exits": 3},
            {"counter_ref": "GATE-B", "interval_start": "2026-11-20T10:15:00+01:00", "interval_minutes": 15,
             "entries": 2, "exits": 0},
        ],
    }  # fmt: skip


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1 (what a connector would verify)."""
    trustme = pytest.importorskip("trustme")
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_pem, ca_pem = folder / "server.pem", folder / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    return {"certfile": str(server_pem), "ca": str(ca_pem)}


@pytest.fixture
def push_engine(db_url, warehouse, registry, monkeypatch):
    """A migrated warehouse, and a registry holding two connector sites and one pull site."""
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    registry.write(connector_site(SITE))
    registry.write(connector_site(OTHER, refs=("OTHER-1",)))
    registry.add_site("pull-site")
    return warehouse(db_url)


@pytest.fixture
def api(push_engine, tls) -> Iterator[ApiThread]:
    server = serve_in_thread(push_engine, certfile=tls["certfile"], keyfile=tls["certfile"])
    yield server
    server.stop()


@pytest.fixture
def token(push_engine) -> str:
    return create_token(push_engine, SITE, "test")[1]


def post(api: ApiThread, tls, path: str, body: bytes, token: str | None, **headers: str) -> requests.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(api.url + path, data=body, headers=headers, verify=tls["ca"], timeout=10)


def landed(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        payloads = conn.execute(select(func.count()).select_from(schema.raw_payload)).scalar_one()
        batches = conn.execute(select(func.count()).select_from(schema.ingest_batch)).scalar_one()
    return payloads, batches


def test_batch_is_landed_verbatim_before_the_acknowledgement(api, tls, token, push_engine):
    body = json.dumps(batch()).encode()

    response = post(api, tls, f"/v1/sites/{SITE}/batches", gzip.compress(body), token, **{"Content-Encoding": "gzip"})

    assert response.status_code == 200, response.text
    ack = response.json()
    assert ack["status"] == "accepted" and ack["rows"] == 2 and ack["sha256"] == hashlib.sha256(body).hexdigest()
    with push_engine.connect() as conn:
        payload = conn.execute(select(schema.raw_payload)).mappings().one()
        recorded = conn.execute(select(schema.ingest_batch)).mappings().one()
    assert payload["payload_id"] == ack["payload_id"]
    assert payload["source"] == "push:footfall_connector"
    assert read_body(payload["body"]) == body  # the inflated body, byte for byte
    assert payload["window_start"].isoformat() == "2026-11-20T09:00:00+00:00"
    assert payload["window_end"].isoformat() == "2026-11-20T09:30:00+00:00"
    assert recorded["batch_id"] == ack["batch_id"] and json.loads(recorded["ack"]) == ack


def test_a_resent_batch_gets_the_first_acknowledgement_and_lands_nothing(api, tls, token, push_engine):
    doc = batch()
    first = post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(doc).encode(), token)
    again = post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(doc).encode(), token)
    # Same id, different bytes (re-serialized with other whitespace): still the same batch.
    reformatted = post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(doc, indent=2).encode(), token)

    assert first.status_code == again.status_code == reformatted.status_code == 200
    assert again.json() == first.json() == reformatted.json()
    assert landed(push_engine) == (1, 1)


def test_check_token_endpoint_healthz_and_openapi(api, tls, token):
    ok = requests.get(f"{api.url}/v1/sites/{SITE}/token", headers={"Authorization": f"Bearer {token}"},
                      verify=tls["ca"], timeout=10)  # fmt: skip
    health = requests.get(f"{api.url}/healthz", verify=tls["ca"], timeout=10)
    spec = requests.get(f"{api.url}/openapi.json", verify=tls["ca"], timeout=10).json()

    assert ok.status_code == 200 and ok.json()["site_id"] == SITE
    assert health.json() == {"status": "ok"}
    assert {"/v1/sites/{site_id}/batches", "/v1/push/{preset}/{site_id}", "/healthz"} <= set(spec["paths"])


def test_plain_http_to_the_https_port_never_reaches_the_app(api, tls, token, push_engine):
    with pytest.raises(requests.ConnectionError):
        requests.post(api.url.replace("https", "http") + f"/v1/sites/{SITE}/batches", data=b"{}", timeout=5)
    with pytest.raises(requests.exceptions.SSLError):  # a client that does not trust our CA refuses to talk
        requests.get(api.url + "/healthz", timeout=5)
    assert landed(push_engine) == (0, 0)


XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<counts>&lol4;</counts>"""


def _refusals() -> list[Any]:
    good = json.dumps(batch()).encode()
    return [
        pytest.param(f"/v1/sites/{SITE}/batches", good, None, {}, 401, "missing bearer", id="no-token"),
        pytest.param(f"/v1/sites/{SITE}/batches", good, "fft_not-a-real-token", {}, 401, "unknown", id="wrong-token"),
        pytest.param(f"/v1/sites/{SITE}/batches", good, "revoked", {}, 401, "revoked", id="revoked-token"),
        pytest.param(f"/v1/sites/{OTHER}/batches", json.dumps(batch(OTHER)).encode(), "site", {}, 403,
                     "may not write site other-site", id="other-sites-token"),
        pytest.param(f"/v1/sites/{SITE}/batches", json.dumps(batch(OTHER)).encode(), "site", {}, 422,
                     "batch says site_id", id="body-names-another-site"),
        pytest.param(f"/v1/sites/{SITE}/batches", b"x" * 5000, "site", {}, 413, "limit", id="oversized"),
        pytest.param(f"/v1/sites/{SITE}/batches", gzip.compress(b" " * 200_000), "site",
                     {"Content-Encoding": "gzip"}, 413, "inflates", id="gzip-bomb"),
        pytest.param(f"/v1/sites/{SITE}/batches", b"gzip?", "site", {"Content-Encoding": "gzip"}, 400,
                     "not valid gzip", id="bad-gzip"),
        pytest.param(f"/v1/sites/{SITE}/batches", b'{"batch_id": "a", "rows": [', "site", {}, 400,
                     "malformed JSON", id="malformed-json"),
        pytest.param(f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=[{"counter_ref": "GATE-A"}])).encode(),
                     "site", {}, 422, "rows.0.interval_start", id="row-missing-fields"),
        pytest.param(f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=[
            {"counter_ref": "GATE-A", "interval_start": "2026-11-20T10:00:00", "interval_minutes": 15,
             "entries": 1, "exits": 1}])).encode(), "site", {}, 422, "UTC offset", id="naive-time"),
        pytest.param(f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=[
            {"counter_ref": "NOPE", "interval_start": "2026-11-20T10:00:00Z", "interval_minutes": 15,
             "entries": 1, "exits": 1}])).encode(), "site", {}, 422, "counter_ref 'NOPE' is unknown",
            id="unknown-counter"),
        pytest.param(f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=[
            {"counter_ref": "GATE-A", "interval_start": "2026-11-20T10:00:00Z", "interval_minutes": 15,
             "entries": -4, "exits": 1}])).encode(), "site", {}, 422, "entries", id="negative-count"),
        pytest.param(f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=[
            {"counter_ref": "GATE-A", "interval_start": "2026-11-20T10:00:00Z", "interval_minutes": 15,
             "entries": 1, "exits": 1, "badge_id": "B-100234"}])).encode(), "site", {}, 422,
            "rows.0.badge_id: unknown field, refused", id="row-with-a-badge-id"),
        pytest.param(f"/v1/sites/{SITE}/batches", json.dumps({**batch(), "holders": ["Ada L."]}).encode(), "site",
                     {}, 422, "holders: unknown field, refused (accepted: batch_id, site_id, rows", id="unknown-field"),
        pytest.param(f"/v1/push/footfall_connector/{SITE}", XML_BOMB, "site", {"Content-Type": "application/xml"},
                     400, "DTD or entity", id="xml-bomb"),
        pytest.param(f"/v1/push/axis_tvpc_export_json/{SITE}", good, "site", {}, 422,
                     "takes preset footfall_connector", id="wrong-preset"),
        pytest.param("/v1/sites/pull-site/batches", good, "pull", {}, 409, "not push", id="pull-site"),
    ]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "who", "headers", "status", "reason"), _refusals())
def test_refusals_are_4xx_with_a_reason_and_land_nothing(
    api, tls, push_engine, monkeypatch, path, body, who, headers, status, reason
):
    monkeypatch.setenv("FOOTFALL_API_MAX_BODY_BYTES", "4096")
    if who == "revoked":
        token_id, token = create_token(push_engine, SITE)
        revoke_token(push_engine, SITE, token_id)
    elif who == "site":
        token = create_token(push_engine, SITE)[1]
    elif who == "pull":
        token = create_token(push_engine, "pull-site")[1]
    else:
        token = who

    response = post(api, tls, path, body, token, **headers)

    assert response.status_code == status, response.text
    assert reason in response.json()["reason"]
    assert landed(push_engine) == (0, 0)


def test_a_push_that_fails_unexpectedly_is_answered_500_and_the_service_goes_on(
    api, tls, token, push_engine, monkeypatch
):
    """The push routes are answered in front of Starlette's error middleware (footfall.api.app.PushDoor):
    a bug in the handler still gets a JSON 500 with a reason, lands nothing, and the next push lands."""
    from footfall.api import app as api_app

    real = api_app.check_batch

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api_app, "check_batch", broken)
    response = post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch()).encode(), token)
    assert response.status_code == 500 and "not landed" in response.json()["reason"]
    assert landed(push_engine) == (0, 0)

    monkeypatch.setattr(api_app, "check_batch", real)
    assert post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch()).encode(), token).status_code == 200
    # Other methods on a push path still reach the router: 405, not the push handler.
    response = requests.get(api.url + f"/v1/sites/{SITE}/batches", verify=tls["ca"], timeout=10)
    assert response.status_code == 405 and landed(push_engine) == (1, 1)


def test_vendor_push_lands_the_body_for_the_sites_preset(api, tls, token, push_engine):
    body = json.dumps(batch()).encode()

    response = post(
        api, tls, f"/v1/push/footfall_connector/{SITE}", body, token, **{"Content-Type": "application/json"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["batch_id"] is None
    assert landed(push_engine) == (1, 0)


def test_footfall_api_serve_runs_the_service_over_https(push_engine, tls, db_url, registry, tmp_path):
    import os
    import subprocess
    import sys
    import time

    from footfall_devtools.api_thread import free_port

    port = free_port()
    env = {**os.environ, "FOOTFALL_DB_URL": db_url, "FOOTFALL_SITES_DIR": str(registry.path)}
    command = [sys.executable, "-m", "footfall.cli", "api", "serve", "--port", str(port),
               "--certfile", tls["certfile"], "--keyfile", tls["certfile"]]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    token = create_token(push_engine, SITE)[1]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(
                    f"https://127.0.0.1:{port}/healthz", headers={"Connection": "close"}, verify=tls["ca"], timeout=5
                )
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "footfall api serve did not start"
                time.sleep(0.2)
        posted = requests.post(f"https://127.0.0.1:{port}/v1/sites/{SITE}/batches", data=json.dumps(batch()),
                               headers={"Authorization": f"Bearer {token}", "Connection": "close"}, verify=tls["ca"],
                               timeout=10)  # fmt: skip
    finally:
        process.terminate()
        exit_code = process.wait(20)
        log.close()

    # SIGTERM (a service manager's stop) shuts down gracefully; uvicorn then re-raises the signal.
    assert exit_code in (0, -15) and "Finished server process" in (tmp_path / "serve.log").read_text()
    assert health.json() == {"status": "ok"}
    assert posted.status_code == 200 and posted.json()["rows"] == 2
    assert landed(push_engine) == (1, 1)


def test_a_revoked_token_is_refused_at_once_though_it_was_just_verified(api, tls, push_engine):
    token_id, token = create_token(push_engine, SITE)
    first = post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch()).encode(), token)
    assert first.status_code == 200, first.text  # the service now remembers the token as verified

    revoke_token(push_engine, SITE, token_id)  # by another process: the CLI, the data team
    again = post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch()).encode(), token)
    check = requests.get(f"{api.url}/v1/sites/{SITE}/token", headers={"Authorization": f"Bearer {token}"},
                         verify=tls["ca"], timeout=10)  # fmt: skip

    assert again.status_code == 401 and "revoked" in again.json()["reason"]
    assert check.status_code == 401
    assert landed(push_engine) == (1, 1)  # only the batch sent before the revocation


def test_guessing_tokens_is_rate_limited_per_address_while_known_tokens_keep_working(push_engine, tls, monkeypatch):
    monkeypatch.setenv("FOOTFALL_API_AUTH_FAILURES_PER_MINUTE", "5")
    server = serve_in_thread(push_engine, certfile=tls["certfile"], keyfile=tls["certfile"])
    try:
        token = create_token(push_engine, SITE)[1]
        assert post(server, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch()).encode(), token).status_code == 200
        answers = [
            post(server, tls, f"/v1/sites/{SITE}/batches", b"{}", f"fft_guess{n:04d}-{uuid.uuid4().hex}")
            for n in range(8)
        ]
        known = post(server, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch()).encode(), token)
    finally:
        server.stop()

    assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
    assert "too many failed token attempts" in answers[-1].json()["reason"]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert known.status_code == 200  # a token verified before is not locked out with the guesser
    assert landed(push_engine) == (2, 2)


def test_concurrent_pushes_land_together_and_a_batch_sent_many_times_at_once_lands_once(api, tls, token, push_engine):
    from concurrent.futures import ThreadPoolExecutor

    same = json.dumps(batch()).encode()
    distinct = [json.dumps(batch(rows=[{**batch()["rows"][0], "entries": n}])).encode() for n in range(12)]
    bodies = [same] * 12 + distinct
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda b: post(api, tls, f"/v1/sites/{SITE}/batches", gzip.compress(b), token,
                                               **{"Content-Encoding": "gzip"}), bodies))  # fmt: skip

    assert [a.status_code for a in answers] == [200] * 24
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers[:12]}) == 1  # one ack for the one batch
    assert landed(push_engine) == (13, 13)
    with push_engine.connect() as conn:
        stored = {r.payload_id: read_body(r.body) for r in conn.execute(select(schema.raw_payload))}
    assert sorted(stored.values()) == sorted([same, *distinct])  # every body verbatim, stored as sent (gzip)
