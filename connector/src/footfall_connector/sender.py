"""Send batches to the ingestion service over verified HTTPS, and classify each answer.

Only the answer decides what happens to a batch: 2xx removes it from the outbox; a 4xx about
the batch itself sets it aside (resending it would fail the same way); anything else (no
connection, timeout, 5xx, 429, a token refused) keeps it for a later attempt with backoff.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass
from typing import Any

import requests

from footfall_connector import __version__
from footfall_connector.config import Config

ACKED, REJECTED, RETRY = "acked", "rejected", "retry"
RETRYABLE_4XX = {401, 403, 404, 408, 409, 425, 429}  # configuration or load: fixable without changing the batch


@dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str
    ack: dict[str, Any] | None = None


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: spread the retries of many connectors after an outage."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0, ceiling)


def make_session(config: Config) -> requests.Session:
    """TLS verified against the system store or `ca_bundle`; HTTPS_PROXY honoured unless `proxy` is set.

    Every call also passes `verify=` itself: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in
    the environment override a session's `verify`, which would silently drop our `ca_bundle`.
    """
    session = requests.Session()
    session.verify = config.ca_bundle or True
    if config.proxy:
        session.proxies = {"https": config.proxy, "http": config.proxy}
    session.headers.update(
        {"Authorization": f"Bearer {config.token}", "User-Agent": f"footfall-connector/{__version__}"}
    )
    return session


def _reason(response: requests.Response) -> str:
    try:
        return str(response.json().get("reason", response.text[:200]))
    except ValueError:
        return response.text[:200]


def send_batch(session: requests.Session, config: Config, body: bytes) -> Outcome:
    url = f"{config.server_url}/v1/sites/{config.site_id}/batches"
    try:
        response = session.post(
            url,
            data=gzip.compress(body, mtime=0),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            timeout=(min(10.0, config.timeout_seconds), config.timeout_seconds),
            verify=session.verify,
        )
    except requests.RequestException as exc:
        return Outcome(RETRY, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return Outcome(ACKED, f"HTTP {response.status_code}", response.json())
    detail = f"HTTP {response.status_code}: {_reason(response)}"
    if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_4XX:
        return Outcome(REJECTED, detail)
    return Outcome(RETRY, detail)


def check_server(session: requests.Session, config: Config) -> list[tuple[bool, str]]:
    """(ok, line) for: the server answers over verified HTTPS; the token may write this site."""
    out = []
    try:
        response = session.get(f"{config.server_url}/healthz", timeout=config.timeout_seconds, verify=session.verify)
        out.append((response.ok, f"server {config.server_url}: HTTP {response.status_code} over verified TLS"))
    except requests.RequestException as exc:
        return [(False, f"server {config.server_url}: unreachable ({type(exc).__name__}: {exc})")]
    try:
        response = session.get(
            f"{config.server_url}/v1/sites/{config.site_id}/token",
            timeout=config.timeout_seconds,
            verify=session.verify,
        )
    except requests.RequestException as exc:
        return [*out, (False, f"token: no answer ({type(exc).__name__})")]
    if response.ok:
        out.append((True, f"token: accepted for site {config.site_id}"))
    else:
        out.append((False, f"token: refused, HTTP {response.status_code}: {_reason(response)}"))
    return out
