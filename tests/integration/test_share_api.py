"""The public read API's contract on SQLite and PostgreSQL: every field and status, numbers checked against the
warehouse of a site synced from the simulator through the real pipeline (sync_window) and forecast by the
real retrain, served by the real app over HTTP (uvicorn on a loopback port)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from footfall.api.app import create_app
from footfall.config import get_site
from footfall.forecast.publish import retrain_sites
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse import share as store
from footfall_devtools.api_thread import ApiThread

PARIS = ZoneInfo("Europe/Paris")
# The simulator's frozen now (conftest.SIM_NOW): Friday 20 November 2026, 16:07 in Paris.
NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
HOURS = {"regular": {**{d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri")}, "sat": "09:00-18:00"}}
HISTORY = Window(datetime(2026, 10, 8, 22, tzinfo=UTC), datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
NOW_FIELDS = {
    "site", "name", "timezone", "as_of", "age_seconds", "fresh", "open", "occupancy", "capacity", "percent", "level",
    "wait_minutes", "usual_percent", "next_change", "message",
}  # fmt: skip
SLOT_FIELDS = {
    "start", "observed_percent", "forecast_percent", "forecast_low", "forecast_high", "usual_percent", "wait_minutes",
}  # fmt: skip


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def served(db_url, warehouse, registry, simulator):
    """Site `bib` (public) synced for six weeks and forecast; `lab` (private) and `annex` (private) without data."""
    registry.add_site("bib", capacity=600, opening_hours=HOURS, sharing={"public": True, "message": "Salle 2 fermée"})
    registry.add_site("lab", capacity=50, opening_hours=HOURS)
    registry.add_site("annex", capacity=None, opening_hours=HOURS)
    engine = warehouse(db_url)
    site = get_site("bib")
    sync_window(site, HISTORY, engine=engine, run_id="history")
    retrain_sites(engine, [site], run_id="test", now=NOW)
    app = create_app(engine, only="share")
    clock = Clock(NOW + timedelta(minutes=1))
    app.state.share.clock = clock
    app.state.share.facts.seconds = 0  # every request reads the warehouse: the tests move the clock
    app.state.share.keys.seconds = 0  # and looks its key up (a revocation shows at once)
    with ApiThread(app) as api:
        yield api.url, engine, clock


def get(url: str, path: str, key: str | None = None, **headers: str) -> requests.Response:
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.get(url + path, headers=headers, timeout=30)


def corrected(engine) -> list[tuple[datetime, float]]:
    o = schema.occupancy_corrected
    with engine.connect() as conn:
        rows = conn.execute(select(o.c.interval_start, o.c.corrected_occupancy).where(o.c.site_id == "bib")).all()
    return sorted((r[0], r[1]) for r in rows)


def forecast_rows(engine) -> list:
    f = schema.forecast
    with engine.connect() as conn:
        return conn.execute(select(f).where(f.c.site_id == "bib").order_by(f.c.slot_start)).all()


def pct(value: float, capacity: int = 600) -> int:
    return max(0, min(100, round(100 * value / capacity)))


def usual_by_hand(rows, weekday: int, minute: int) -> float | None:
    """Median over past days of the mean corrected occupancy in the local half hour (weekday, minute)."""
    by_day: dict = {}
    today = NOW.astimezone(PARIS).date()
    for start, occ in rows:
        local = start.astimezone(PARIS)
        slot = (local.hour * 60 + local.minute) // 30 * 30
        if local.weekday() == weekday and slot == minute and local.date() < today:
            by_day.setdefault(local.date(), []).append(occ)
    return statistics.median(statistics.mean(v) for v in by_day.values()) if by_day else None


def test_now_matches_the_warehouse(served):
    url, engine, clock = served
    response = get(url, "/v1/public/sites/bib/now")
    assert response.status_code == 200, response.text
    now = response.json()
    assert set(now) == NOW_FIELDS

    rows = corrected(engine)
    last_start, last_occ = rows[-1]
    assert last_start == datetime(2026, 11, 20, 14, 45, tzinfo=UTC)  # the last whole 15-minute interval
    assert now["as_of"] == "2026-11-20T15:00:00Z"
    assert now["age_seconds"] == 8 * 60 and now["fresh"] is True
    assert now["occupancy"] == round(last_occ) and now["occupancy"] > 0
    assert now["capacity"] == 600 and now["percent"] == pct(last_occ)
    expected_level = next(
        name for bound, name in ((90, "full"), (70, "high"), (40, "medium"), (0, "low")) if now["percent"] >= bound
    )
    assert now["level"] == expected_level
    assert now["open"] is True
    assert now["next_change"] == {"open": False, "at": "2026-11-20T19:00:00Z"}  # closes 20:00 in Paris
    assert now["message"] == "Salle 2 fermée"
    assert (now["site"], now["name"], now["timezone"]) == ("bib", "Test site bib", "Europe/Paris")

    current = next(r for r in forecast_rows(engine) if r.slot_start <= clock.now < r.slot_start + timedelta(minutes=15))
    assert now["wait_minutes"] == round(current.wait_minutes, 1)
    usual = usual_by_hand(rows, weekday=4, minute=16 * 60)
    assert usual is not None and now["usual_percent"] == pct(usual)


def test_today_slots_match_the_warehouse(served):
    url, engine, _ = served
    today = get(url, "/v1/public/sites/bib/today").json()
    assert set(today) == {"site", "date", "timezone", "as_of", "slots"}
    assert today["date"] == "2026-11-20" and today["as_of"] == "2026-11-20T15:00:00Z"
    slots = today["slots"]
    assert len(slots) == 48 and all(set(s) == SLOT_FIELDS for s in slots)
    assert slots[0]["start"] == "2026-11-19T23:00:00Z" and slots[-1]["start"] == "2026-11-20T22:30:00Z"

    rows = corrected(engine)
    forecasts = forecast_rows(engine)
    by_start = {s["start"]: s for s in slots}
    ten = by_start["2026-11-20T09:00:00Z"]  # 10:00-10:30 in Paris, observed
    seen = [
        occ
        for start, occ in rows
        if datetime(2026, 11, 20, 9, tzinfo=UTC) <= start < datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    ]
    assert len(seen) == 2 and ten["observed_percent"] == pct(statistics.mean(seen))
    assert ten["usual_percent"] == pct(usual_by_hand(rows, 4, 10 * 60))
    six = by_start["2026-11-20T17:00:00Z"]  # 18:00 in Paris, forecast only
    ahead = [
        r
        for r in forecasts
        if datetime(2026, 11, 20, 17, tzinfo=UTC) <= r.slot_start < datetime(2026, 11, 20, 17, 30, tzinfo=UTC)
    ]
    assert len(ahead) == 2
    assert six["observed_percent"] is None
    assert six["forecast_percent"] == pct(statistics.mean(r.occupancy_p50 for r in ahead))
    assert six["forecast_low"] == pct(statistics.mean(r.occupancy_p10 for r in ahead))
    assert six["forecast_high"] == pct(statistics.mean(r.occupancy_p90 for r in ahead))
    assert six["forecast_low"] <= six["forecast_percent"] <= six["forecast_high"]
    assert six["wait_minutes"] == round(max(r.wait_minutes for r in ahead), 1)
    assert sum(s["observed_percent"] is not None for s in slots) == 32  # midnight to 16:00 in Paris


def test_forecast_and_hours(served):
    url, engine, _ = served
    week = get(url, "/v1/public/sites/bib/forecast?days=7").json()
    assert week["site"] == "bib" and week["days"] == 7
    slots = week["slots"]
    assert slots[0]["start"] == "2026-11-20T15:00:00Z" and slots[-1]["start"] == "2026-11-26T22:30:00Z"
    assert len(slots) == (7 * 48) - 32
    first = [r for r in forecast_rows(engine) if r.slot_start < datetime(2026, 11, 20, 15, 30, tzinfo=UTC)]
    first = [r for r in first if r.slot_start >= datetime(2026, 11, 20, 15, tzinfo=UTC)]
    assert slots[0]["forecast_occupancy"] == round(statistics.mean(r.occupancy_p50 for r in first), 1)
    assert len(get(url, "/v1/public/sites/bib/forecast?days=1").json()["slots"]) == 48 - 32

    for bad in ("days=0", "days=8", "days=x"):
        response = get(url, f"/v1/public/sites/bib/forecast?{bad}")
        assert response.status_code == 422 and "days" in response.json()["reason"]

    hours = get(url, "/v1/public/sites/bib/hours?week=0").json()
    assert hours["week"] == 0 and hours["timezone"] == "Europe/Paris"
    days = hours["days"]
    assert days[0]["date"] == "2026-11-16" and len(days) == 7
    friday, saturday, sunday = days[4], days[5], days[6]
    assert friday["ranges"] == [{"open": "2026-11-20T07:00:00Z", "close": "2026-11-20T19:00:00Z"}]
    assert saturday["ranges"] == [{"open": "2026-11-21T08:00:00Z", "close": "2026-11-21T17:00:00Z"}]
    assert sunday == {"date": "2026-11-22", "open": False, "ranges": [], "note": None}
    assert get(url, "/v1/public/sites/bib/hours?week=1").json()["days"][0]["date"] == "2026-11-23"
    assert get(url, "/v1/public/sites/bib/hours?week=-1").status_code == 422


def test_closed_and_no_data_states(served):
    url, _, clock = served
    clock.now = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)  # Friday 22:30 in Paris: closed
    closed = get(url, "/v1/public/sites/bib/now").json()
    assert closed["open"] is False and closed["level"] == "closed" and closed["fresh"] is False
    assert closed["next_change"] == {"open": True, "at": "2026-11-21T08:00:00Z"}  # Saturday 09:00
    assert closed["wait_minutes"] is None and closed["percent"] is None

    clock.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00, open, but nothing loaded since Friday
    stale = get(url, "/v1/public/sites/bib/now").json()
    assert stale["open"] is True and stale["level"] == "no_data" and stale["fresh"] is False
    assert stale["age_seconds"] == int((clock.now - datetime(2026, 11, 20, 15, tzinfo=UTC)).total_seconds())
    assert stale["occupancy"] is None and stale["percent"] is None


def test_access_statuses(served):
    url, engine, _ = served
    partner_id, key = store.create_partner(engine, "city portal", ["lab"])
    _, other = store.create_partner(engine, "campus app", ["annex"])

    assert get(url, "/v1/public/sites/lab/now").status_code == 401
    assert get(url, "/v1/public/sites/lab/now").json()["reason"] == "site lab is not public: send a partner key"
    assert get(url, "/v1/public/sites/lab/now", other).status_code == 403
    assert get(url, "/v1/public/sites/nowhere/now", key).status_code == 404
    assert get(url, "/v1/public/sites/nowhere/now").json()["reason"] == "site nowhere: no such site"
    assert get(url, "/v1/public/sites/lab/now", "ffp_not-a-key").status_code == 401
    assert get(url, "/v1/public/sites/lab/now", Authorization="Basic abc").status_code == 401
    lab = get(url, "/v1/public/sites/lab/now", key)
    assert lab.status_code == 200 and lab.json()["level"] == "no_data" and lab.json()["as_of"] is None
    assert lab.headers["Cache-Control"].startswith("private")
    assert get(url, "/v1/public/sites/bib/now", other).status_code == 200  # public: any valid key too
    annex = get(url, "/v1/public/sites/annex/now", other).json()
    assert annex["capacity"] is None and annex["percent"] is None and annex["level"] == "no_data"
    for path in ("today", "forecast", "hours"):
        assert get(url, f"/v1/public/sites/lab/{path}").status_code == 401
        assert get(url, f"/v1/public/sites/lab/{path}", other).status_code == 403
        assert get(url, f"/v1/public/sites/lab/{path}", key).status_code == 200

    assert [s["id"] for s in get(url, "/v1/public/sites").json()["sites"]] == ["bib"]
    listed = get(url, "/v1/public/sites", key).json()["sites"]
    assert [s["id"] for s in listed] == ["bib", "lab"]
    assert listed[1] == {
        "id": "lab",
        "name": "Test site lab",
        "timezone": "Europe/Paris",
        "capacity": 50,
        "links": {
            "now": "/v1/public/sites/lab/now",
            "today": "/v1/public/sites/lab/today",
            "forecast": "/v1/public/sites/lab/forecast?days=7",
            "hours": "/v1/public/sites/lab/hours?week=0",
            "embed": "/embed/lab",
        },
    }

    assert store.revoke_partner(engine, partner_id) == 1
    revoked = get(url, "/v1/public/sites/lab/now", key)  # the fixture turned the 30-second key cache off
    assert revoked.status_code == 401 and revoked.json()["reason"] == "key is unknown or revoked"
    for hostile in ("..%2F..%2Fetc", "A" * 300, "%00", "bib%22"):
        response = get(url, f"/v1/public/sites/{hostile}/now")
        assert response.status_code in (404, 422) and "reason" in response.json()


def test_caching_cors_and_rate_limit(served):
    url, engine, clock = served
    first = get(url, "/v1/public/sites/bib/now")
    tag = first.headers["ETag"]
    assert tag.startswith('W/"') and first.headers["Cache-Control"].startswith("public, max-age=")
    max_age = int(first.headers["Cache-Control"].rsplit("=", 1)[1])
    assert max_age == 300 - (int(clock.now.timestamp()) - 60) % 300 and 0 < max_age <= 300
    clock.now += timedelta(seconds=20)  # age_seconds moves, the figures do not: still 304
    again = get(url, "/v1/public/sites/bib/now", **{"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    clock.now = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)  # closed now: a new representation
    assert get(url, "/v1/public/sites/bib/now", **{"If-None-Match": tag}).status_code == 200

    cors = get(url, "/v1/public/sites/bib/now", Origin="http://elsewhere.example")
    assert cors.headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(
        url + "/v1/public/sites/lab/now",
        headers={
            "Origin": "http://elsewhere.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=10,
    )
    assert preflight.status_code == 200 and "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()

    _, key = store.create_partner(engine, "tiny", ["lab"], rate_per_minute=3)
    assert [get(url, "/v1/public/sites/lab/now", key).status_code for _ in range(3)] == [200] * 3
    limited = get(url, "/v1/public/sites/lab/now", key)
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 20
    assert "rate limit" in limited.json()["reason"]


def test_only_aggregates_leave(served):
    url, _, _ = served
    bodies = [get(url, f"/v1/public/sites/bib/{p}").text for p in ("now", "today", "forecast", "hours")]
    bodies.append(get(url, "/v1/public/sites").text)
    for body in bodies:
        for secret in ("SIM000000", "main-door", "side-door", "footfall_sim", "axis", "payload", "token"):
            assert secret not in body


def test_openapi_documents_the_contract(served):
    url, _, _ = served
    spec = get(url, "/openapi.json").json()
    paths = spec["paths"]
    for path in ("now", "today", "forecast", "hours"):
        operation = paths[f"/v1/public/sites/{{site_id}}/{path}"]["get"]
        assert {"200", "401", "403", "404", "429"} <= set(operation["responses"])
        assert operation["security"] == [{"HTTPBearer": []}]
    assert "/v1/public/sites" in paths and "/widget.js" in paths and "/embed/{site_id}" in paths
    now_schema = spec["components"]["schemas"]["NowOut"]
    assert set(now_schema["properties"]) == NOW_FIELDS
    assert now_schema["properties"]["level"]["enum"] == ["low", "medium", "high", "full", "closed", "no_data"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "/v1/sites/{site_id}/batches" not in paths  # --only share


def test_usual_profile_is_stored_once_a_day(served):
    url, engine, clock = served
    get(url, "/v1/public/sites/bib/now")
    profile = store.read_usual(engine, "bib")
    assert profile.computed_at == clock.now and len(profile.occupancy) == 7 * 48
    clock.now += timedelta(hours=2)
    get(url, "/v1/public/sites/bib/now")
    assert store.read_usual(engine, "bib").computed_at == NOW + timedelta(minutes=1)  # not recomputed
