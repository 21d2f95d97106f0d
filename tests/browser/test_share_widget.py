"""The widget in Debian's Chromium: a plain page on one loopback origin embeds <footfall-occupancy> from the API
on another; it shows what /now says, switches language, follows a new load, shows closed and no-data states,
is usable by keyboard, and axe-core finds no violation (light, dark, iframe page)."""

from __future__ import annotations

import gzip
import http.server
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe

from footfall.api.app import create_app
from footfall.config import get_site
from footfall.forecast.publish import retrain_sites
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall_devtools.api_thread import ApiThread

REPO = Path(__file__).resolve().parents[2]
WIDGET = REPO / "include" / "footfall" / "share" / "static" / "widget.js"
SCREENSHOT = REPO / "docs" / "share-widget.png"
NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)  # conftest.SIM_NOW: Friday 16:07 in Paris
HOURS = {"regular": {**{d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri")}, "sat": "09:00-18:00"}}
HISTORY = Window(datetime(2026, 10, 8, 22, tzinfo=UTC), datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
LEVELS = {
    "fr": {"low": "Peu fréquenté", "medium": "Assez fréquenté", "high": "Très fréquenté", "full": "Complet"},
    "de": {"low": "Wenig besucht", "medium": "Mäßig besucht", "high": "Stark besucht", "full": "Voll"},
    "en": {"low": "Not busy", "medium": "Fairly busy", "high": "Busy", "full": "Full"},
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Pages:
    """A plain static site on its own loopback origin (another port than the API's)."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, path: str, body: str) -> str:
        self.pages[path] = body.encode()
        return self.url + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def plain_page(api: str, inner: str, lang: str = "fr") -> str:
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>Bibliothèque : affluence</title></head><body><main><h1>Venir à la bibliothèque</h1>{inner}</main>
<script src="{api}/widget.js"></script></body></html>"""


@pytest.fixture
def setup(sqlite_url, warehouse, registry, simulator, sim_clock) -> Iterator[tuple[str, Pages, Clock, Any]]:
    registry.add_site("bib", capacity=600, opening_hours=HOURS, sharing={"public": True})
    registry.add_site("empty", capacity=80, opening_hours=HOURS, sharing={"public": True})
    engine = warehouse(sqlite_url)
    site = get_site("bib")
    sync_window(site, HISTORY, engine=engine, run_id="history")
    retrain_sites(engine, [site], run_id="test", now=NOW)
    app = create_app(engine, only="share")
    clock = Clock(NOW + timedelta(minutes=1))
    app.state.share.clock = clock
    app.state.share.facts.seconds = 0

    def new_load() -> None:
        """The next quarter hour arrives: the simulator's clock moves and the real pipeline loads it."""
        sim_clock.now = NOW + timedelta(minutes=15)
        end = datetime(2026, 11, 20, 15, 15, tzinfo=UTC)
        sync_window(site, Window(end - timedelta(minutes=30), end), engine=engine, run_id="next")
        clock.now = NOW + timedelta(minutes=16)

    pages = Pages()
    with ApiThread(app) as api:
        try:
            yield api.url, pages, clock, new_load
        finally:
            pages.close()


def widget(page: Any) -> Any:
    return page.locator("footfall-occupancy")


def shown(host: Any) -> str:
    """The text a visitor sees in the widget (its shadow tree)."""
    return host.evaluate("el => el.shadowRoot.querySelector('section').innerText")


def wait_rendered(page: Any, selector: str = "footfall-occupancy") -> None:
    page.wait_for_function(f"document.querySelector('{selector}')?.hasAttribute('data-level')", timeout=15_000)


def no_violations(page: Any) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_widget_shows_the_numbers_of_now_and_switches_language(page, setup):
    api, pages, _, _ = setup
    url = pages.add("/", plain_page(api, '<footfall-occupancy site="bib" lang="fr"></footfall-occupancy>'))
    page.goto(url)
    wait_rendered(page)
    now = requests.get(f"{api}/v1/public/sites/bib/now", timeout=10).json()
    host = widget(page)
    assert host.get_attribute("data-level") == now["level"]
    assert host.get_attribute("data-percent") == str(now["percent"])
    text = shown(host)
    assert LEVELS["fr"][now["level"]] in text
    assert f"{now['percent']}\xa0%" in text  # French percent: narrow no-break space
    assert f"{now['occupancy']} personnes" in text
    assert f"D'habitude {now['usual_percent']}\xa0% à cette heure" in text
    assert f"Attente : environ {round(now['wait_minutes'])} min" in text or now["wait_minutes"] < 1
    assert "Ferme 20:00" in text and "Mis à jour 16:00" in text
    chart = page.locator("footfall-occupancy svg.chart")
    assert chart.get_attribute("role") == "img"
    assert "Observé jusqu'à 16:00 : maintenant" in page.locator("footfall-occupancy #chart-desc").text_content()
    assert page.locator("footfall-occupancy [role=status]").get_attribute("aria-live") == "polite"
    no_violations(page)

    host.evaluate("el => el.setAttribute('lang', 'de')")
    assert LEVELS["de"][now["level"]] in shown(host) and "Aktualisiert 16:00" in shown(host)
    host.evaluate("el => el.setAttribute('lang', 'en')")
    assert LEVELS["en"][now["level"]] in shown(host) and f"Usually {now['usual_percent']}%" in shown(host)

    host.evaluate("el => el.setAttribute('theme', 'dark')")
    no_violations(page)
    if os.environ.get("FOOTFALL_WRITE_SCREENSHOT"):
        host.evaluate("el => el.setAttribute('theme', 'light')")
        host.evaluate("el => el.setAttribute('lang', 'fr')")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        host.screenshot(path=str(SCREENSHOT))


def test_widget_updates_after_a_new_load_without_reload(page, setup):
    api, pages, _, new_load = setup
    url = pages.add("/", plain_page(api, '<footfall-occupancy site="bib" lang="fr" refresh="1"></footfall-occupancy>'))
    page.goto(url)
    wait_rendered(page)
    assert "Mis à jour 16:00" in shown(widget(page))
    page.evaluate("window.marker = 'same page'")

    new_load()
    page.wait_for_function(
        "document.querySelector('footfall-occupancy').shadowRoot.querySelector('.updated').textContent"
        ".includes('16:15')",
        timeout=15_000,
    )
    now = requests.get(f"{api}/v1/public/sites/bib/now", timeout=10).json()
    assert now["as_of"] == "2026-11-20T15:15:00Z"
    assert widget(page).get_attribute("data-percent") == str(now["percent"])
    assert page.evaluate("window.marker") == "same page"  # no reload


def test_closed_and_no_data_states(page, setup):
    api, pages, clock, _ = setup
    clock.now = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)  # Friday 22:30 in Paris
    inner = (
        '<footfall-occupancy id="a" site="bib" lang="fr"></footfall-occupancy>'
        '<footfall-occupancy id="b" site="empty" lang="en"></footfall-occupancy>'
    )
    page.goto(pages.add("/", plain_page(api, inner)))
    wait_rendered(page, "#a")
    wait_rendered(page, "#b")
    closed = page.locator("#a")
    assert closed.get_attribute("data-level") == "closed" and closed.get_attribute("data-percent") == ""
    assert "Fermé" in shown(closed) and "Ouvre samedi 09:00" in shown(closed)
    empty = page.locator("#b")
    assert empty.get_attribute("data-level") == "closed"  # closed wins over no data
    no_violations(page)

    clock.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00: open, nothing loaded since Friday
    page.reload()
    wait_rendered(page, "#a")
    wait_rendered(page, "#b")
    # (the empty site has no as_of, so the widget dates "Closes" by the browser's real clock: the time is checked)
    for host, label, closes in ((closed, "Pas de données", "Ferme 20:00"), (empty, "No data", "08:00 PM")):
        assert host.get_attribute("data-level") == "no_data"
        assert label in shown(host) and closes in shown(host)
    assert page.locator("#a [part=percent]").count() == 0
    assert page.locator("#a svg.gauge").get_attribute("aria-label") == "Occupation inconnue"
    no_violations(page)


def test_keyboard_reaches_the_refresh_button(page, setup):
    api, pages, _, _ = setup
    page.goto(pages.add("/", plain_page(api, '<footfall-occupancy site="bib" lang="en"></footfall-occupancy>')))
    wait_rendered(page)
    requests_seen: list[str] = []
    page.on("request", lambda r: requests_seen.append(r.url) if "/now" in r.url else None)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.shadowRoot?.activeElement?.textContent")
    assert focused == "Refresh"
    outline = page.evaluate("getComputedStyle(document.activeElement.shadowRoot.activeElement).outlineStyle")
    assert outline == "solid"  # :focus-visible ring
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    assert requests_seen  # Enter on the button fetched /now again


def test_embed_page_in_an_iframe(page, setup):
    api, pages, _, _ = setup
    frame = f'<iframe title="Affluence" src="{api}/embed/bib?lang=de&amp;theme=dark" width="380" height="420"></iframe>'
    page.goto(pages.add("/", plain_page(api, frame)))
    embedded = page.frame_locator("iframe").locator("footfall-occupancy")
    embedded.wait_for()
    page.frames[1].wait_for_function("document.querySelector('footfall-occupancy').hasAttribute('data-level')")
    now = requests.get(f"{api}/v1/public/sites/bib/now", timeout=10).json()
    assert LEVELS["de"][now["level"]] in shown(embedded)
    assert embedded.get_attribute("theme") == "dark"
    no_violations(page.frames[1])
    assert requests.get(f"{api}/embed/bib?lang=xx", timeout=10).status_code == 422
    assert requests.get(f"{api}/embed/nowhere", timeout=10).status_code == 404


def test_widget_is_small():
    assert len(gzip.compress(WIDGET.read_bytes(), 9)) < 30 * 1024
