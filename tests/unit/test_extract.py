"""Extract: requests rendered from the preset, answers from the real simulator landed verbatim."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from footfall import db
from footfall.endpoints import Endpoint, parse_connection
from footfall.errors import ExtractError
from footfall.extract import fetch_window, http_session, land_payloads, read_body, render_requests, requested_range
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall_simulator import Fault

API = "/local/tvpc/.api"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# A run's window: 10:00-10:35 UTC on Friday 2026-11-20 (11:00-11:35 in Paris).
WINDOW = Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 10, 35))


def quick_session():
    """The production session, with retries that do not sleep (the simulator answers at once)."""
    return http_session(retries=2, backoff=0)


# --- rendering ---------------------------------------------------------------------------------


def test_render_per_counter_requests(make_site):
    site = make_site()
    requests_ = render_requests(site, requested_range(site, WINDOW))
    assert [(r.counter_ref, r.conn_id, r.method, r.path) for r in requests_] == [
        ("SIM0000001", "footfall_sim", "GET", f"/devices/SIM0000001{API}"),
        ("SIM0000002", "footfall_sim", "GET", f"/devices/SIM0000002{API}"),
    ]
    assert requests_[0].params == {"export-json": "", "date": "20261120-20261120", "res": "15m"}
    assert requests_[0].body is None


def test_request_without_counter_ref_is_made_once(make_site):
    site = make_site(
        source={
            "kind": "http_json",
            "preset": "axis_tvpc_export_json",
            "connection_id": "cam",
            "options": {"base_path": "/axis", "res": "1h"},
        }
    )
    (only,) = render_requests(site, WINDOW)
    assert (only.counter_ref, only.conn_id, only.path) == (None, "cam", f"/axis{API}")
    assert only.params["res"] == "1h"


def test_counter_connection_overrides_the_source_connection(make_site):
    site = make_site(counters=[{"id": "a", "ref": "R1", "connection_id": "cam_a"}, {"id": "b", "ref": "R2"}])
    assert [r.conn_id for r in render_requests(site, WINDOW)] == ["cam_a", "footfall_sim"]


def test_window_across_local_midnight_asks_for_two_days(make_site):
    site = make_site()
    window = Window(utc(2026, 11, 20, 22, 30), utc(2026, 11, 20, 23, 30))  # 23:30 .. 00:30 in Paris
    asked = requested_range(site, window)
    assert asked == Window(utc(2026, 11, 19, 23, 0), utc(2026, 11, 21, 23, 0))
    assert render_requests(site, asked)[0].params["date"] == "20261120-20261121"


def test_window_ending_at_local_midnight_asks_for_one_day(make_site):
    site = make_site()
    window = Window(utc(2026, 11, 20, 22, 30), utc(2026, 11, 20, 23, 0))  # ends at 00:00 local, exclusive
    assert render_requests(site, requested_range(site, window))[0].params["date"] == "20261120-20261120"


@pytest.mark.parametrize(
    ("window", "day", "hours"),
    [
        (Window(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 5)), "20260329", 23),  # spring forward
        (Window(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 5)), "20261025", 25),  # fall back
    ],
    ids=["spring", "autumn"],
)
def test_dst_days_are_asked_as_whole_local_days(make_site, window, day, hours):
    site = make_site()
    asked = requested_range(site, window)
    start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=site.zone).astimezone(UTC)
    assert asked.start == start
    assert asked.end - asked.start == timedelta(hours=hours)
    assert render_requests(site, asked)[0].params["date"] == f"{day}-{day}"


def test_unknown_template_variable_is_an_extract_error(make_site):
    site = make_site(
        source={
            "kind": "http_json",
            "preset": "axis_tvpc_export_json",
            "connection_id": "footfall_sim",
            "options": {"base_path": "/devices/{device_serial}"},
        }
    )
    with pytest.raises(ExtractError) as info:
        render_requests(site, WINDOW)
    assert "template variable {device_serial} is not defined" in str(info.value)
    assert str(info.value).startswith("site test-site, source http_json:axis_tvpc_export_json: extract failed:")


# --- fetching from the simulator and landing ---------------------------------------------------------


def test_fetch_and_land_verbatim_then_deduplicate(simulator, make_site, sqlite_url, warehouse):
    site = make_site()
    engine = warehouse(sqlite_url)

    answers = fetch_window(site, WINDOW, session=quick_session())

    assert [(a.counter_ref, a.status, a.error) for a in answers] == [
        ("SIM0000001", 200, None),
        ("SIM0000002", 200, None),
    ]
    first = json.loads(answers[0].body)
    assert first["serial"] == "SIM0000001"
    assert first["data"][0]["timestamp"] == "20261120000000"  # the whole local day
    assert (
        answers[0].request == f"GET {simulator.url}/devices/SIM0000001{API}?export-json=&date=20261120-20261120&res=15m"
    )

    ids = land_payloads(engine, site, WINDOW, answers)
    with engine.connect() as conn:
        stored = conn.execute(select(db.raw_payload).order_by(db.raw_payload.c.payload_id)).mappings().all()
    assert [r["payload_id"] for r in stored] == ids
    for row, answer in zip(stored, answers, strict=True):
        assert row["body"][:2] == b"\x1f\x8b"  # gzip
        assert gzip.decompress(row["body"]) == read_body(row["body"]) == answer.body
        assert row["sha256"] == hashlib.sha256(answer.body).hexdigest()
        assert row["body_bytes"] == len(answer.body)
        assert len(row["body"]) < len(answer.body)
        assert (row["site_id"], row["source"]) == ("test-site", "http_json:axis_tvpc_export_json")
        assert (row["counter_ref"], row["request"], row["http_status"]) == (
            answer.counter_ref,
            answer.request,
            200,
        )
        assert row["content_type"] == "application/json"
        assert (row["window_start"], row["window_end"]) == (WINDOW.start, WINDOW.end)
        assert row["error"] is None

    # A re-read of an unchanged answer (the frozen clock keeps it byte-identical) lands nothing new.
    again = fetch_window(site, WINDOW, session=quick_session())
    assert [a.body for a in again] == [a.body for a in answers]
    assert land_payloads(engine, site, WINDOW, again) == ids
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.raw_payload)).scalar() == 2
        assert conn.execute(select(db.site.c.site_id)).scalars().all() == ["test-site"]
        assert conn.execute(select(db.counter.c.counter_id).order_by("counter_id")).scalars().all() == [
            "main-door",
            "side-door",
        ]


def test_a_new_answer_lands_a_new_payload(simulator, sim_clock, make_site, sqlite_url, warehouse):
    site = make_site()
    engine = warehouse(sqlite_url)
    first = land_payloads(engine, site, WINDOW, fetch_window(site, WINDOW, session=quick_session()))
    sim_clock.now += timedelta(minutes=5)  # five more minutes of counts, and a new device timestamp
    second = land_payloads(engine, site, WINDOW, fetch_window(site, WINDOW, session=quick_session()))
    assert set(first).isdisjoint(second)


def test_http_500_is_an_extract_error_after_retries(simulator, make_site, sqlite_url, warehouse, caplog):
    site = make_site()
    engine = warehouse(sqlite_url)
    simulator.add_fault(Fault("http_500", ref="SIM0000002"))
    simulator.state.verbose = True  # the simulator logs every request it serves

    with caplog.at_level(logging.INFO, logger="footfall_simulator.server"), pytest.raises(ExtractError) as info:
        sync_window(site, WINDOW, engine=engine, run_id="t", session=quick_session())

    served = [r.getMessage() for r in caplog.records if r.name == "footfall_simulator.server"]
    assert sum("SIM0000002" in m for m in served) == 3  # one try and two retries
    assert sum("SIM0000001" in m for m in served) == 1
    err = info.value
    assert err.stage == "extract"
    assert f"HTTP 500 Internal Server Error from {simulator.url}/devices/SIM0000002{API}" in err.reason
    with engine.connect() as conn:
        payloads = conn.execute(select(db.raw_payload).order_by(db.raw_payload.c.payload_id)).mappings().all()
        run = conn.execute(select(db.sync_run)).mappings().one()
        loaded = conn.execute(select(func.count()).select_from(db.count_interval)).scalar()
    assert [p["http_status"] for p in payloads] == [200, 500]
    failed = payloads[1]
    assert err.payload_ids == [failed["payload_id"]]
    assert read_body(failed["body"]) == b"simulated device error\n"
    assert failed["error"].startswith("extract: HTTP 500")
    assert payloads[0]["error"] is None  # the good answer is kept, unmarked
    assert (run["outcome"], run["stage"]) == ("failed", "extract")
    assert "HTTP 500" in run["error"]
    assert loaded == 0


def test_unreachable_host_is_an_extract_error(make_site, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_SIM", f"http://127.0.0.1:{port}")
    with pytest.raises(ExtractError) as info:
        fetch_window(make_site(), WINDOW, session=http_session(retries=0))
    assert f"GET http://127.0.0.1:{port}/devices/SIM0000001{API}" in info.value.reason
    assert "ConnectionError" in info.value.reason


def test_timeout_is_an_extract_error(simulator, make_site):
    site = make_site(
        source={
            "kind": "http_json",
            "preset": "axis_tvpc_export_json",
            "connection_id": "footfall_sim",
            "timeout_seconds": 0.3,
            "options": {"base_path": "/devices/{counter_ref}"},
        }
    )
    simulator.add_fault(Fault("timeout", params={"seconds": 5}))
    with pytest.raises(ExtractError, match=r"GET .*Read timed out\. \(read timeout=0\.3\)"):
        fetch_window(site, WINDOW, session=http_session(retries=0))


def test_missing_connection_is_an_extract_error(make_site):
    site = make_site(
        source={
            "kind": "http_json",
            "preset": "axis_tvpc_export_json",
            "connection_id": "no_such_conn",
            "options": {"base_path": "/devices/{counter_ref}"},
        }
    )
    with pytest.raises(ExtractError, match=r"connection 'no_such_conn' not found.*AIRFLOW_CONN_NO_SUCH_CONN"):
        fetch_window(site, WINDOW)


# --- authentication ------------------------------------------------------------------------------


def sent_headers(session):
    """Record the headers of every request the session really sent."""
    seen = []
    session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response.request))
    return seen


def test_basic_auth_header_is_sent(simulator, make_site, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_FOOTFALL_SIM", f"http://counter%40site:p%40ss%3Aw0rd@{simulator.host}:{simulator.port}"
    )
    session = quick_session()
    sent = sent_headers(session)

    answers = fetch_window(make_site(), WINDOW, session=session)

    assert [a.status for a in answers] == [200, 200]
    expected = "Basic " + base64.b64encode(b"counter@site:p@ss:w0rd").decode()
    assert [r.headers.get("Authorization") for r in sent] == [expected, expected]
    assert all("w0rd" not in a.request and "counter%40site" not in a.request for a in answers)


def test_api_key_param_is_sent_but_not_stored(simulator, make_site, monkeypatch):
    extra = quote(json.dumps({"auth_type": "api_key", "api_key_param": "token", "headers": {"X-Site": "t1"}}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_FOOTFALL_SIM", f"http://:s3cret@{simulator.host}:{simulator.port}?__extra__={extra}"
    )
    session = quick_session()
    sent = sent_headers(session)

    answers = fetch_window(make_site(), WINDOW, session=session)

    assert [a.status for a in answers] == [200, 200]
    assert all("token=s3cret" in r.url and r.headers["X-Site"] == "t1" for r in sent)
    assert all("s3cret" not in a.request for a in answers)


# --- connections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:8099", {"base_url": "http://127.0.0.1:8099", "auth_type": "none", "login": None}),
        (
            "https://user:s%40cret@cam.example.org/axis?auth_type=digest&verify=false",
            {
                "base_url": "https://cam.example.org/axis",
                "auth_type": "digest",
                "login": "user",
                "password": "s@cret",
                "verify": False,
            },
        ),
        ("http://cam.example.org:8080/https", {"base_url": "https://cam.example.org:8080"}),  # schema = scheme
        (
            "http://u:pw-s3cret@cam",
            {"base_url": "http://cam", "auth_type": "basic", "login": "u", "password": "pw-s3cret"},
        ),
        ("http://cam?base_path=/devices/", {"base_url": "http://cam/devices"}),
        (
            "http://cam?__extra__=" + quote(json.dumps({"base_path": "/x", "auth_type": "bearer"})),
            {"base_url": "http://cam/x", "auth_type": "bearer"},
        ),
        (
            json.dumps(
                {
                    "conn_type": "http",
                    "host": "cam",
                    "port": 8080,
                    "login": "u",
                    "password": "pw-s3cret",
                    "schema": "https",
                    "extra": {"base_path": "/devices/", "auth_type": "basic", "headers": {"X-A": "1"}},
                }
            ),
            {"base_url": "https://cam:8080/devices", "auth_type": "basic", "headers": {"X-A": "1"}},
        ),
        (
            json.dumps(
                {
                    "conn_type": "https",
                    "host": "cam",
                    "extra": json.dumps({"auth_type": "api_key", "api_key_header": "K"}),
                }
            ),
            {"base_url": "https://cam", "auth_type": "api_key", "api_key_header": "K"},
        ),
    ],
    ids=["plain", "uri-extras", "uri-schema", "uri-login", "uri-base-path", "uri-extra-json", "json", "json-str-extra"],
)
def test_parse_connection(value, expected):
    endpoint = parse_connection("cam", value)
    assert isinstance(endpoint, Endpoint)
    assert endpoint.conn_id == "cam"
    for key, want in expected.items():
        assert getattr(endpoint, key) == want, key
    if endpoint.password:  # secrets never show in logs
        assert endpoint.password not in repr(endpoint)
        assert endpoint.password not in endpoint.describe()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://cam?auth_type=oauth", "auth_type 'oauth' is not one of"),
        ("http://", "has no host"),
        (json.dumps({"conn_type": "http"}), "has no host"),
    ],
)
def test_parse_connection_errors(value, reason):
    with pytest.raises(ValueError, match=reason):
        parse_connection("cam", value)
