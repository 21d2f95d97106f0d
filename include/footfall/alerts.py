"""Alerts: high-severity quality problems and failed runs, sent through Airflow notifiers, de-duplicated.

A problem is (site, check, counter). The alert_state table remembers which problems are open, so a
problem sends one message when it starts and one when it clears, however many runs see it in
between. Channels are configured per site (`alerts:` in the site file): email through Airflow's SMTP
notifier, and a generic JSON webhook (Slack's incoming webhooks accept it) whose URL lives in an
Airflow connection. This module imports no pandas, so DAG parsing can build failure callbacks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from airflow.sdk.bases.notifier import BaseNotifier
from sqlalchemy import Engine

from footfall.config import Site
from footfall.warehouse.alerts import update_open_problems

log = logging.getLogger(__name__)

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
ALERT_CHECKS = frozenset({"stale_feed", "stuck_counter", "imbalance"})


@dataclass(frozen=True)
class AlertChange:
    """One message to send: a problem that started or cleared."""

    site_id: str
    check: str
    counter_id: str
    state: str  # "started" | "cleared"
    since: datetime

    def text(self) -> str:
        where = f"{self.site_id}/{self.counter_id}" if self.counter_id else self.site_id
        return f"[footfall] {self.check} {self.state} at {where} (open since {self.since.isoformat()})"


class WebhookNotifier(BaseNotifier):
    """POST {"text": ...} to a URL taken from an Airflow connection (host, or extra `url`)."""

    template_fields = ("text",)

    def __init__(self, connection_id: str, text: str = "footfall: {{ dag.dag_id }} run {{ run_id }} failed"):
        super().__init__()
        self.connection_id = connection_id
        self.text = text

    def url(self) -> str:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.connection_id)
        explicit = (conn.extra_dejson or {}).get("url")
        if explicit:
            return str(explicit)
        # Not conn.get_uri(): it percent-encodes the path, and webhook paths (Slack's
        # /services/T../B../..) have slashes. "https://host/a/b" parses as host + schema "a/b".
        host = (conn.host or "").rstrip("/")
        if "://" not in host:
            scheme = conn.conn_type if conn.conn_type in ("http", "https") else "https"
            host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
        path = (conn.schema or "").strip("/")
        return f"{host}/{path}" if path else host

    def notify(self, context: Any) -> None:
        response = requests.post(self.url(), json={"text": self.text}, timeout=10)
        response.raise_for_status()


def failure_notifiers(site: Site) -> list[BaseNotifier]:
    """Notifiers for a site DAG's on_failure_callback (empty when the site configures none)."""
    notifiers: list[BaseNotifier] = []
    if site.alerts.webhook_connection_id:
        notifiers.append(WebhookNotifier(site.alerts.webhook_connection_id))
    if site.alerts.email:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifiers.append(
            SmtpNotifier(to=list(site.alerts.email), subject="footfall: {{ dag.dag_id }} run {{ run_id }} failed")
        )
    return notifiers


def open_problems(flags: Any, min_severity: str = "high") -> set[tuple[str, str]]:
    """(check, counter) of flags worth an alert: the alert checks at or above the site's severity."""
    if len(flags) == 0:
        return set()
    rank = SEVERITY_RANK[min_severity]
    out = set()
    for check, severity, counter in zip(flags["check"], flags["severity"], flags["counter_id"], strict=True):
        if check in ALERT_CHECKS and SEVERITY_RANK.get(severity, 0) >= rank:
            out.add((str(check), "" if counter is None or counter != counter else str(counter)))
    return out


def update_alert_state(
    engine: Engine,
    site_id: str,
    problems: Iterable[tuple[str, str]],
    now: datetime,
    unknown_checks: Iterable[str] = (),
) -> list[AlertChange]:
    """Record which problems are open; return those that started or cleared since the last run.

    A check in `unknown_checks` (it failed this run) neither starts nor clears anything."""
    started, cleared = update_open_problems(engine, site_id, set(problems), now, unknown_checks)
    changes = [AlertChange(site_id, check, counter, "started", now) for check, counter in started]
    changes += [AlertChange(site_id, check, counter, "cleared", since) for check, counter, since in cleared]
    return changes


def send(site: Site, changes: list[AlertChange]) -> int:
    """Send each change through the site's channels; a channel that fails is logged, not raised."""
    sent = 0
    for change in changes:
        notifiers: list[BaseNotifier] = []
        if site.alerts.webhook_connection_id:
            notifiers.append(WebhookNotifier(site.alerts.webhook_connection_id, text=change.text()))
        if site.alerts.email:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            notifiers.append(
                SmtpNotifier(to=list(site.alerts.email), subject=change.text(), html_content=change.text())
            )
        for notifier in notifiers:
            try:
                notifier.notify({})
                sent += 1
            except Exception:
                log.exception("site %s: could not send alert %r", site.id, change.text())
    return sent


def notify_changes(
    engine: Engine, site: Site, flags: Any, now: datetime, failed_checks: Iterable[str] = ()
) -> list[AlertChange]:
    """De-duplicate this run's problems against alert_state and send what started or cleared."""
    changes = update_alert_state(
        engine, site.id, open_problems(flags, site.alerts.min_severity), now, unknown_checks=failed_checks
    )
    if changes:
        send(site, changes)
    return changes
