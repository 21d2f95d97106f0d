"""Source authentication over real HTTP: devices of the simulator that refuse requests without the right credentials."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from sqlalchemy import select

from footfall import db, extract
from footfall.endpoints import parse_connection
from footfall.errors import ExtractError
from footfall.extract import fetch_window, http_session
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall_simulator import count_intervals
from footfall_simulator.server import SIM_API_KEY, SIM_CLIENT_ID, SIM_CLIENT_SECRET, SIM_LOGIN, SIM_PASSWORD


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


WINDOW = Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 10, 35))
HOURS = Window(utc(2026, 11, 20, 9, 0), utc(2026, 11, 20, 12, 0))  # 10:00-13:00 in Paris, open hours


@pytest.fixture(autouse=True)
def no_cached_tokens():
    extract._TOKENS.clear()
    yield
    extract._TOKENS.clear()


def connect(monkeypatch, simulator, user: str = "", password: str = "", **extra: str) -> None:
    creds = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user or password else ""
    tail = f"?__extra__={quote(json.dumps(extra))}" if extra else ""
    monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_SIM", f"http://{creds}{simulator.host}:{simulator.port}{tail}")


def axis_behind(make_site, scheme: str):
    return make_site(
        source={
            "kind": "http_json",
            "preset": "axis_tvpc_export_json",
            "connection_id": "footfall_sim",
            "options": {"base_path": f"/devices/{{counter_ref}}/auth/{scheme}", "res": "15m"},
        }
    )


CASES = {
    "basic": ({"auth_type": "basic"}, SIM_LOGIN, SIM_PASSWORD),
    "digest": ({"auth_type": "digest"}, SIM_LOGIN, SIM_PASSWORD),
    "bearer": ({"auth_type": "bearer"}, "", "sim-bearer-token"),
    "apikey": ({"auth_type": "api_key", "api_key_header": "X-API-Key"}, "", SIM_API_KEY),
}


@pytest.mark.parametrize("scheme", sorted(CASES))
def test_protected_device_answers_with_the_right_credentials(simulator, make_site, monkeypatch, scheme):
    extra, user, password = CASES[scheme]
    connect(monkeypatch, simulator, user, password, **extra)
    answers = fetch_window(axis_behind(make_site, scheme), WINDOW, session=http_session(retries=0))
    assert [(a.status, a.error) for a in answers] == [(200, None), (200, None)]
    assert all(json.loads(a.body)["serial"] in ("SIM0000001", "SIM0000002") for a in answers)
    assert all(password not in a.request for a in answers)


@pytest.mark.parametrize("scheme", sorted(CASES))
def test_wrong_credentials_are_an_extract_error_naming_site_and_connection(
    simulator, make_site, monkeypatch, sqlite_url, warehouse, scheme
):
    extra, user, _ = CASES[scheme]
    connect(monkeypatch, simulator, user, "wrong-secret", **extra)
    engine = warehouse(sqlite_url)
    with pytest.raises(ExtractError) as err:
        sync_window(axis_behind(make_site, scheme), WINDOW, engine=engine, session=http_session(retries=0))
    text = str(err.value)
    assert text.startswith("site test-site, source http_json:axis_tvpc_export_json: extract failed: HTTP 401")
    assert "check the credentials of connection 'footfall_sim'" in text
    assert "wrong-secret" not in text
    with engine.connect() as conn:
        assert conn.execute(select(db.count_interval)).all() == []
        (run,) = conn.execute(select(db.sync_run.c.outcome, db.sync_run.c.stage)).all()
    assert tuple(run) == ("failed", "extract")


# --- OAuth2 client credentials: SenSource Vea ---------------------------------------------------


VEA_PATH = "/devices/VEA1"  # the simulated Vea account; its zones are VEA1-z1 and VEA1-z2


def vea_site(make_site):
    return make_site(
        counters=[{"id": "zone-1", "ref": "VEA1-z1"}, {"id": "zone-2", "ref": "VEA1-z2"}],
        source={"kind": "http_json", "preset": "sensource_vea", "connection_id": "vea", "options": {}},
    )


def connect_vea(monkeypatch, simulator, base_path: str, secret: str = SIM_CLIENT_SECRET, **extra: str) -> None:
    extra = {"auth_type": "oauth2", "token_url": "/devices/VEA1/oauth/token", **extra}
    monkeypatch.setenv(
        "AIRFLOW_CONN_VEA",
        f"http://{SIM_CLIENT_ID}:{secret}@{simulator.host}:{simulator.port}{base_path}"
        f"?__extra__={quote(json.dumps(extra))}",
    )


def vea_oracle(simulator, window: Window) -> dict[tuple[str, datetime], tuple[int, int]]:
    state = simulator.state
    return {
        (cid, i.start_utc): (i.entries, i.exits)
        for cid, zone in (("zone-1", "VEA1-z1"), ("zone-2", "VEA1-z2"))
        for i in count_intervals(state.profile(zone), window.start, window.end, 60, state.seed, state.now())
    }


def loaded(engine) -> dict[tuple[str, datetime], tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.count_interval)).mappings().all()
    return {(r["counter_id"], r["interval_start"]): (r["entries"], r["exits"]) for r in rows}


@pytest.mark.parametrize(
    ("base_path", "token_auth"), [("/devices/VEA1", "basic"), ("/devices/VEA1/bare", "body")], ids=["wrapped", "bare"]
)
def test_oauth_token_is_fetched_once_and_cached(simulator, make_site, monkeypatch, sqlite_url, warehouse, base_path,
                                                token_auth):  # fmt: skip
    site = vea_site(make_site)
    connect_vea(monkeypatch, simulator, base_path, token_auth=token_auth)
    engine = warehouse(sqlite_url)

    sync_window(site, HOURS, engine=engine)
    sync_window(site, HOURS, engine=engine)

    expected = vea_oracle(simulator, HOURS)
    assert len(expected) == 6 and sum(e for e, _ in expected.values()) > 0
    assert loaded(engine) == expected
    assert simulator.state.token_requests == 1  # the second window reused the cached token


def test_a_revoked_token_is_renewed_once_and_the_request_retried(simulator, make_site, monkeypatch, sqlite_url,
                                                                 warehouse):  # fmt: skip
    site = vea_site(make_site)
    connect_vea(monkeypatch, simulator, VEA_PATH)
    engine = warehouse(sqlite_url)
    sync_window(site, HOURS, engine=engine)
    simulator.revoke_tokens()  # the vendor dropped its tokens before their announced expiry

    answers = fetch_window(site, HOURS, session=http_session(retries=0))

    assert [(a.status, a.error) for a in answers] == [(200, None)]
    assert simulator.state.token_requests == 2


def test_wrong_client_secret_is_an_extract_error(simulator, make_site, monkeypatch, sqlite_url, warehouse):
    site = vea_site(make_site)
    connect_vea(monkeypatch, simulator, VEA_PATH, secret="not-the-secret")
    engine = warehouse(sqlite_url)
    with pytest.raises(ExtractError) as err:
        sync_window(site, HOURS, engine=engine)
    text = str(err.value)
    assert text.startswith("site test-site, source http_json:sensource_vea: extract failed: OAuth token request")
    assert "HTTP 401" in text and "connection 'vea'" in text and "not-the-secret" not in text


def test_request_without_token_is_refused_by_the_simulated_api(simulator, make_site, monkeypatch):
    site = vea_site(make_site)
    monkeypatch.setenv("AIRFLOW_CONN_VEA", f"http://{simulator.host}:{simulator.port}{VEA_PATH}")
    (answer,) = fetch_window(site, HOURS, session=http_session(retries=0))
    assert answer.status == 401 and "check the credentials of connection 'vea', auth none" in (answer.error or "")


def test_oauth_connection_needs_a_token_url():
    with pytest.raises(ValueError, match="oauth2 needs a token_url"):
        parse_connection("vea", 'http://id:secret@vea.example?__extra__={"auth_type": "oauth2"}')
    endpoint = parse_connection(
        "vea", 'https://id:s@api.example/v2?__extra__={"auth_type": "oauth2", "token_url": "/oauth/token"}'
    )
    assert (endpoint.token_url, endpoint.base_url) == ("https://api.example/oauth/token", "https://api.example/v2")
