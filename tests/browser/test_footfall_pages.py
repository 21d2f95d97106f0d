"""footfall's pages inside the real Airflow UI, in Debian's Chromium: login, Sites, a site's page, auth refusals.

The warehouse is filled by the real pipeline (two sites: one loading from the simulator today, one whose
source is down), plus a forecast band and a flag written as retraining and the checks would. Airflow's
dag-processor parses the DAGs once, then the real api-server serves the UI and the plugin, with
SimpleAuthManager and a test user (no all-admins). With FOOTFALL_SCREENSHOTS_DIR=docs/screenshots the test
writes the README's screenshots.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from sqlalchemy import Engine, insert

from footfall.quality.docs import build_docs
from footfall.timewindow import floor_time
from footfall.warehouse import health, schema
from footfall.warehouse.engine import get_engine, upgrade
from footfall_devtools.local_airflow import LocalAirflow, airflow_env, free_port
from footfall_simulator import DeviceProfile, start_in_thread

# The README's screenshots: `FOOTFALL_SCREENSHOTS_DIR=docs/screenshots` regenerates them; else a temp folder.
SCREENSHOTS = Path(os.environ.get("FOOTFALL_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="footfall-screens-"))
USER, PASSWORD = "analyst", "footfall-test-password"
ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def midday_zone(now: datetime) -> str:
    """An IANA zone where it is about noon now: the fixture's three hours of counts and the pages' "today" are
    then one local day whatever the hour the suite runs at (in Europe/Paris, just after midnight, they were
    not, and the pages showed an empty day)."""
    offset = 12 - now.hour  # -11 to +12 hours: every one is an Etc/GMT zone (whose sign is inverted)
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def site_file(site_id: str, name: str, refs: list[str], connection_id: str, timezone: str) -> dict:
    return {
        "id": site_id,
        "name": name,
        "timezone": timezone,
        "capacity": 300,
        "opening_hours": {"regular": dict.fromkeys(ALL_DAYS, "00:00-23:59")},
        "counters": [{"id": f"door-{n}", "name": f"Door {n}", "ref": ref} for n, ref in enumerate(refs, 1)],
        "source": {
            "kind": "http_json",
            "preset": "axis_tvpc_export_json",
            "connection_id": connection_id,
            "options": {"base_path": "/devices/{counter_ref}", "res": "15m"},
        },
        "tags": ["browser-test"],
    }


@dataclass
class Deployment:
    airflow: LocalAirflow
    engine: Engine
    now: datetime

    @property
    def url(self) -> str:
        return self.airflow.api_url


def fill_warehouse(engine: Engine, now: datetime) -> None:
    """Today's counts through the real pipeline; a forecast band and a flag as retraining and checks write them."""
    from footfall.pipeline import run_site_window

    start = now - timedelta(hours=3)
    t = start
    while t < now:
        run_site_window("alpha", t, min(t + timedelta(hours=1), now), run_id=f"scheduled__{t:%Y-%m-%dT%H:%M}")
        t += timedelta(hours=1)
    with pytest.raises(Exception):  # noqa: B017 - its source is down: the run fails at extract
        run_site_window("beta", now - timedelta(minutes=5), now, run_id="scheduled__down")
    slots = [start + timedelta(minutes=15 * i) for i in range(int((now - start) / timedelta(minutes=15)) + 8)]
    with engine.begin() as conn:
        conn.execute(
            insert(schema.forecast),
            [
                {
                    "site_id": "alpha",
                    "slot_start": slot,
                    "slot_minutes": 15,
                    "issued_at": start,
                    "model_version": 1,
                    "method": "model",
                    "occupancy_p10": 20.0 + i,
                    "occupancy_p50": 40.0 + i,
                    "occupancy_p90": 60.0 + i,
                }
                for i, slot in enumerate(slots)
            ],
        )
        conn.execute(
            insert(schema.quality_flag).values(
                site_id="alpha",
                counter_id="door-1",
                check_name="door_imbalance",
                severity="high",
                period_start=now - timedelta(hours=2),
                period_end=now - timedelta(hours=1),
                observed=120.0,
                expected=60.0,
                evidence=json.dumps({"entries": 120, "exits": 60}),
                run_id="scheduled__flag",
                created_at=now,
            )
        )


@pytest.fixture(scope="module")
def deployment(airflow_db, tmp_path_factory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("pages")
    sites = root / "sites"
    sites.mkdir()
    now = floor_time(datetime.now(UTC), 5)
    zone = midday_zone(now)
    for doc in (
        site_file("alpha", "Alpha library", ["SIM0000001", "SIM0000002"], "footfall_sim", zone),
        site_file("beta", "Beta pool", ["SIM0000003"], "footfall_down", zone),
    ):
        (sites / f"{doc['id']}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    warehouse = f"sqlite:///{root / 'warehouse.db'}"
    saved = {k: os.environ.get(k) for k in ("FOOTFALL_DB_URL", "FOOTFALL_SITES_DIR", "AIRFLOW_CONN_FOOTFALL_SIM")}
    # Doors open round the clock, as the site file says, and the devices in the site's zone (the simulator's
    # default is Europe/Paris, whose night has next to no visitors): today's counts are not zero whatever
    # the hour the suite runs at.
    all_day = dict.fromkeys(range(7), ("00:00", "23:59"))
    profiles = {ref: DeviceProfile(ref, timezone=zone, opening_hours=all_day) for ref in ("SIM0000001", "SIM0000002")}
    with start_in_thread(profiles=profiles, seed=11) as simulator:
        os.environ.update(
            FOOTFALL_DB_URL=warehouse,
            FOOTFALL_SITES_DIR=str(sites),
            AIRFLOW_CONN_FOOTFALL_SIM=simulator.url,
            AIRFLOW_CONN_FOOTFALL_DOWN=f"http://127.0.0.1:{free_port()}",
        )
        try:
            upgrade(warehouse)
            engine = get_engine(warehouse)
            fill_warehouse(engine, now)
            build_docs(engine, root / "data_docs")
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            os.environ.pop("AIRFLOW_CONN_FOOTFALL_DOWN", None)

    home = root / "airflow_home"
    home.mkdir()
    shutil.copy(airflow_db, home / "airflow.db")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}), encoding="utf-8")
    env = airflow_env(
        home,
        api_port=free_port(),
        metadata_url=f"sqlite:///{home / 'airflow.db'}",
        extra={
            "FOOTFALL_DB_URL": warehouse,
            "FOOTFALL_SITES_DIR": str(sites),
            "FOOTFALL_DATA_DOCS_DIR": str(root / "data_docs"),
            "FOOTFALL_PRELOAD": "false",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        },
    )
    with LocalAirflow(env) as airflow:
        airflow.cli("dag-processor", "--num-runs", "1", timeout=240)
        airflow.start(["api-server"])
        yield Deployment(airflow, engine, now)


def log_in(page, deployment: Deployment) -> None:
    page.goto(f"{deployment.url}/auth/login")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)


def test_the_plugin_refuses_requests_without_a_session(deployment):
    for path in (
        "/footfall/sites",
        "/footfall/api/sites",
        "/footfall/sites/alpha",
        "/footfall/dags/site__alpha",
        "/footfall/sites/alpha/payloads/1/raw",
        "/footfall/docs/index.html",
    ):
        assert requests.get(deployment.url + path, timeout=30).status_code == 401, path
        forged = requests.get(deployment.url + path, cookies={"_token": "not-a-jwt"}, timeout=30)
        assert forged.status_code == 403, path


def test_a_token_of_airflow_reads_the_plugin_api(deployment):
    token = requests.post(
        f"{deployment.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30
    ).json()["access_token"]
    answer = requests.get(
        f"{deployment.url}/footfall/api/sites", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 200
    by_id = {s["site_id"]: s for s in answer.json()["sites"]}
    assert set(by_id) == {"alpha", "beta"}
    assert by_id["alpha"]["last_run"]["outcome"] == "success" and by_id["beta"]["last_run"]["outcome"] == "failed"


def test_sites_page_inside_the_airflow_ui(page, deployment):
    expected = {h.site_id: h for h in health.sites_health(deployment.engine, datetime.now(UTC))}
    assert expected["alpha"].entries_today > 0  # the pipeline loaded today's counts

    log_in(page, deployment)
    page.goto(f"{deployment.url}/plugin/footfall-sites")
    frame = page.frame_locator("iframe")
    alpha, beta = frame.locator("tr[data-site=alpha]"), frame.locator("tr[data-site=beta]")
    alpha.wait_for(timeout=30_000)

    assert alpha.locator(".site-link").inner_text() == "Alpha library"
    assert alpha.locator(".state").inner_text().startswith("success")
    assert beta.locator(".state").inner_text().startswith("failed at extract")
    assert int(alpha.locator(".entries").inner_text()) == expected["alpha"].entries_today
    assert int(alpha.locator(".exits").inner_text()) == expected["alpha"].exits_today
    assert alpha.locator(".flags .sev-high").inner_text() == "1"
    assert "fresh" in alpha.locator(".freshness").get_attribute("class")
    assert "stale" in beta.locator(".freshness").get_attribute("class")  # never loaded
    assert alpha.locator(".model").inner_text().startswith("model")
    assert alpha.locator(".state a").get_attribute("href").startswith("/dags/site__alpha/runs/")

    frame.locator("#filter").fill("beta")
    assert alpha.is_hidden() and beta.is_visible()
    frame.locator("#filter").fill("")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sites.png"))


def drawn_pixels(frame, selector: str) -> int:
    """Non-white pixels of an SVG chart, rasterized by the browser itself (a blank chart has none)."""
    return frame.locator(selector).evaluate(
        """async (svg) => {
            const data = new XMLSerializer().serializeToString(svg);
            const img = new Image();
            img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(data);
            await img.decode();
            const canvas = document.createElement('canvas');
            canvas.width = 900; canvas.height = 260;
            const ctx = canvas.getContext('2d');
            ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, 900, 260); ctx.drawImage(img, 0, 0, 900, 260);
            const px = ctx.getImageData(0, 0, 900, 260).data;
            let n = 0;
            for (let i = 0; i < px.length; i += 4) if (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200) n++;
            return n;
        }"""
    )


def test_site_page_draws_its_charts(page, deployment):
    day = health.site_day(deployment.engine, "alpha", None, datetime.now(UTC))
    assert day.occupancy and day.intervals and day.forecast

    log_in(page, deployment)
    page.goto(f"{deployment.url}/dags/site__alpha/plugin/footfall-site")
    frame = page.frame_locator("iframe")
    chart = frame.locator("#occupancy-chart")
    chart.wait_for(timeout=30_000)

    corrected = chart.locator("[data-series=corrected]").get_attribute("data-points").split(",")
    assert len(corrected) == len(day.occupancy)
    assert [float(v) for v in corrected] == [r["corrected_occupancy"] for r in day.occupancy]
    raw = chart.locator("[data-series='raw net']").get_attribute("data-points").split(",")
    assert [float(v) for v in raw] == [r["raw_net_occupancy"] for r in day.occupancy]
    assert chart.locator("[data-series='forecast 10-90 %']").count() == 1
    assert chart.locator(".flag-marker").count() == 1
    entries = frame.locator("#counts-chart [data-series=entries]").get_attribute("data-points").split(",")
    assert [float(v) for v in entries] == [float(r["entries"]) for r in day.intervals]
    assert drawn_pixels(frame, "#occupancy-chart") > 2000
    assert drawn_pixels(frame, "#counts-chart") > 2000

    assert frame.locator("#flags").inner_text().count("door_imbalance") == 1
    raw_link = frame.locator("#payloads a.raw").first.get_attribute("href")
    body = page.request.get(deployment.url + raw_link)
    assert body.status == 200 and json.loads(body.body())["serial"].startswith("SIM")
    page.screenshot(path=str(SCREENSHOTS / "site.png"), full_page=True)


def test_data_docs_behind_the_login_with_bundled_assets(page, deployment):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))

    log_in(page, deployment)
    requested.clear()
    failed.clear()  # the Airflow UI's own requests cut short by leaving it
    page.goto(f"{deployment.url}/footfall/docs/index.html")
    page.wait_for_load_state("networkidle")

    assert "alpha" in page.content()
    assert [u for u in requested if u.startswith("http") and not u.startswith(deployment.url)] == []  # no CDN
    assert [u for u in failed if "/footfall/" in u] == []
    assert any(u.endswith("/footfall/docs/vendor/bootstrap.min.css") for u in requested)
    # Bootstrap styled the page: its navbar is a flex container (unstyled, a plain block).
    assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "flex"
    page.screenshot(path=str(SCREENSHOTS / "data_docs.png"))
