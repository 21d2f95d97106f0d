"""Alerts against a real loopback webhook: one message when a high-severity problem starts, nothing
while it lasts, one when it clears; a failed task goes out through the site DAG's failure callback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from footfall import db
from footfall.alerts import WebhookNotifier, failure_notifiers
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall_simulator import Fault

HOURS = {"regular": {**{d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri")}, "sat": "09:00-18:00"}}
THURSDAY = Window(datetime(2026, 11, 18, 23, tzinfo=UTC), datetime(2026, 11, 19, 23, tzinfo=UTC))
FRIDAY = Window(datetime(2026, 11, 19, 23, tzinfo=UTC), datetime(2026, 11, 20, 15, tzinfo=UTC))
STUCK = (datetime(2026, 11, 19, 9, tzinfo=UTC), datetime(2026, 11, 19, 12, tzinfo=UTC))


class Webhook:
    """A loopback HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hook.bodies.append({"path": self.path, **json.loads(self.rfile.read(length))})
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/footfall"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def texts(self) -> list[str]:
        return [b["text"] for b in self.bodies]


@pytest.fixture
def webhook(monkeypatch) -> Iterator[Webhook]:
    hook = Webhook()
    hook.thread.start()
    monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_ALERTS", hook.url)
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


@pytest.fixture
def site(make_site):
    return make_site(capacity=None, opening_hours=HOURS, alerts={"webhook_connection_id": "footfall_alerts"})


def open_alerts(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.check_name, r.counter_id) for r in conn.execute(select(db.alert_state)).all()]


def test_a_problem_sends_one_message_when_it_starts_and_one_when_it_clears(simulator, webhook, site, db_url, warehouse):
    engine = warehouse(db_url)
    simulator.add_fault(Fault("stuck", ref="SIM0000001", start_utc=STUCK[0], end_utc=STUCK[1]))

    sync_window(site, THURSDAY, engine=engine, run_id="thursday-1")
    assert webhook.texts() == [webhook.texts()[0]]
    (started,) = webhook.bodies
    assert started["path"] == "/hooks/footfall"
    assert "stuck_counter started at test-site/main-door" in started["text"]
    assert open_alerts(engine) == [("stuck_counter", "main-door")]

    sync_window(site, THURSDAY, engine=engine, run_id="thursday-2")  # the same problem, seen again
    assert len(webhook.bodies) == 1

    sync_window(site, FRIDAY, engine=engine, run_id="friday")  # the counter works again
    assert len(webhook.bodies) == 2
    assert "stuck_counter cleared at test-site/main-door" in webhook.texts()[1]
    assert open_alerts(engine) == []

    sync_window(site, FRIDAY, engine=engine, run_id="friday-2")
    assert len(webhook.bodies) == 2


def test_a_webhook_that_fails_never_fails_the_load(simulator, webhook, site, sqlite_url, warehouse):
    engine = warehouse(sqlite_url)
    webhook.status = 500
    simulator.add_fault(Fault("stuck", ref="SIM0000001", start_utc=STUCK[0], end_utc=STUCK[1]))
    result = sync_window(site, THURSDAY, engine=engine, run_id="thursday")
    assert result.rows_loaded == 96 * 2
    assert len(webhook.bodies) == 1  # tried once; the problem stays open, so it is not re-sent every run
    assert open_alerts(engine) == [("stuck_counter", "main-door")]


def test_the_failure_notifier_posts_to_the_site_webhook(webhook, site):
    (notifier,) = failure_notifiers(site)
    assert isinstance(notifier, WebhookNotifier)
    assert notifier.url() == webhook.url
    WebhookNotifier("footfall_alerts", text="footfall: site__test-site run r1 failed").notify({})
    assert webhook.texts() == ["footfall: site__test-site run r1 failed"]


def test_sites_without_alerts_have_no_notifiers(make_site):
    assert failure_notifiers(make_site()) == []
    (email,) = failure_notifiers(make_site(alerts={"email": ["data-team@example.org"]}))
    assert type(email).__name__ == "SmtpNotifier"
