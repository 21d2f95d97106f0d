"""Extract over HTTP: render a preset's requests for one window, call the vendor API (auth, retries,
pagination, size limits) and hand back every answer verbatim; footfall.warehouse.landing lands them."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from footfall.config import Preset, Site, SourceKind
from footfall.documents import MISSING, decode_document, lookup, select_records
from footfall.endpoints import ConnectionNotFound, Endpoint, resolve_endpoint
from footfall.errors import ExtractError
from footfall.sources.fetched import Fetched, source_label
from footfall.templates import render
from footfall.timewindow import Window

log = logging.getLogger(__name__)

PULL_KINDS = (SourceKind.HTTP,)


@dataclass(frozen=True)
class RenderedRequest:
    """One call to make: which device, which connection, and the rendered HTTP parts."""

    counter_ref: str | None
    conn_id: str
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: str | None


def requested_range(site: Site, window: Window) -> Window:
    """The range the source is asked for; a date-based API answers whole local days."""
    request = site.preset.request
    if request is not None and request.window == "local_days":
        return window.covering_local_days(site.zone)
    return window


def render_requests(site: Site, window: Window) -> list[RenderedRequest]:
    """Render the preset's request for the window: once per device when it names {counter_ref}."""
    request = site.preset.request
    if request is None:
        raise ExtractError(site.id, source_label(site), f"preset {site.preset.name} defines no request to pull")
    zone = site.zone if site.preset.time.zone == "local" else UTC
    date_from, date_to = window.local_dates(site.zone)
    base = {
        **site.options(),
        "start": window.start.astimezone(zone),
        "end": window.end.astimezone(zone),
        "start_utc": window.start,
        "end_utc": window.end,
        "end_inclusive": (window.end - timedelta(seconds=1)).astimezone(zone),
        "date_from": date_from,
        "date_to": date_to,
    }
    targets: Iterable[tuple[str | None, str]]
    if request.per_counter or any("{counter_ref" in str(v) for v in site.options().values()):
        targets = [(c.ref, c.connection_id or site.source.connection_id or "") for c in site.counters]
    else:
        targets = [(None, site.source.connection_id or site.counters[0].connection_id or "")]
    rendered = []
    for ref, conn_id in targets:
        variables = {**base, "counter_ref": ref or ""}
        try:
            rendered.append(
                RenderedRequest(
                    counter_ref=ref,
                    conn_id=conn_id,
                    method=request.method,
                    path=render(request.path, variables),
                    params={k: render(v, variables) for k, v in request.query.items()},
                    headers={k: render(v, variables) for k, v in request.headers.items()},
                    body=render(request.body, variables) if request.body else None,
                )
            )
        except (KeyError, ValueError) as exc:
            raise ExtractError(site.id, source_label(site), f"cannot render the request: {exc}") from None
    return rendered


def http_session(retries: int = 3, backoff: float = 0.5) -> requests.Session:
    """A session that retries 5xx answers and timeouts only, with exponential backoff."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        backoff_max=10,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=None,  # our POSTs are searches, safe to repeat
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class TokenError(Exception):
    """An OAuth2 token could not be had; the message says from where and why (never the secret)."""


@dataclass(frozen=True)
class _Token:
    value: str
    expires: float  # time.monotonic() after which it is not used again


_TOKENS: dict[tuple[str, str, str | None], _Token] = {}
_TOKENS_LOCK = threading.Lock()
TOKEN_MARGIN_SECONDS = 30.0  # renew this long before the announced expiry


def clear_token_cache() -> None:
    """Forget every cached OAuth2 token (the next call asks the token endpoint again)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


def oauth_token(
    endpoint: Endpoint, session: requests.Session, *, timeout: tuple[float, float], refresh: bool = False
) -> str:
    """Client-credentials access token, cached in-process until shortly before it expires.

    Every window of every site on a connection would otherwise ask the vendor for a new token;
    `refresh` drops the cached one (the API answered 401: revoked or expired early).
    """
    url = endpoint.token_url or ""
    key = (url, endpoint.login or "", endpoint.scope)
    with _TOKENS_LOCK:
        cached = _TOKENS.get(key)
        if cached is not None and not refresh and cached.expires > time.monotonic():
            return cached.value
    form = {"grant_type": "client_credentials"}
    if endpoint.scope:
        form["scope"] = endpoint.scope
    auth = None
    if endpoint.token_auth == "body":
        form.update(client_id=endpoint.login or "", client_secret=endpoint.password or "")
    else:
        auth = requests.auth.HTTPBasicAuth(endpoint.login or "", endpoint.password or "")
    started = time.monotonic()
    try:
        response = session.post(url, data=form, auth=auth, timeout=timeout, verify=endpoint.verify)
    except requests.RequestException as exc:
        raise TokenError(f"OAuth token request to {url} failed: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 400:
        raise TokenError(
            f"OAuth token request to {url} answered HTTP {response.status_code} {response.reason}"
            f" (check the client id and secret, login and password, of connection {endpoint.conn_id!r})"
        )
    try:
        doc = response.json()
        token, lifetime = str(doc["access_token"]), float(doc.get("expires_in") or 3600)
    except (ValueError, KeyError, TypeError):
        raise TokenError(f"OAuth token endpoint {url} answered without an access_token") from None
    with _TOKENS_LOCK:
        _TOKENS[key] = _Token(token, started + max(0.0, lifetime - TOKEN_MARGIN_SECONDS))
    return token


def _auth(
    endpoint: Endpoint,
    params: dict[str, str],
    headers: dict[str, str],
    session: requests.Session,
    timeout: tuple[float, float],
) -> Any:
    if endpoint.auth_type == "basic":
        return requests.auth.HTTPBasicAuth(endpoint.login or "", endpoint.password or "")
    if endpoint.auth_type == "digest":
        return requests.auth.HTTPDigestAuth(endpoint.login or "", endpoint.password or "")
    if endpoint.auth_type == "bearer":
        headers["Authorization"] = f"Bearer {endpoint.password}"
    elif endpoint.auth_type == "oauth2":
        headers["Authorization"] = f"Bearer {oauth_token(endpoint, session, timeout=timeout)}"
    elif endpoint.auth_type == "api_key":
        if endpoint.api_key_param:
            params[endpoint.api_key_param] = endpoint.password or ""
        else:
            headers[endpoint.api_key_header or "X-API-Key"] = endpoint.password or ""
    return None


def _read_limited(response: requests.Response, limit: int, seconds: float) -> tuple[bytes, str | None]:
    """Read at most `limit` bytes within `seconds`; never buffer a huge body, never wait forever.

    The socket's read timeout bounds each wait for a byte, not the whole body: a device (or a
    proxy) sending a few bytes every few seconds would hold the task for hours. Each read takes
    what one socket read returns, so the deadline is checked as bytes arrive. Returns the bytes
    read and, when the body is not whole, why (over the limit, too slow, cut short).
    """
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + seconds
    try:
        while True:
            chunk = response.raw.read1(65536, decode_content=True)
            if not chunk:
                return b"".join(chunks), None
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], f"body over the {limit}-byte limit (first {limit} bytes kept)"
            if time.monotonic() > deadline:
                return b"".join(chunks), (
                    f"body not received within {seconds:g} s (timeout_seconds): {size} bytes came, slowly"
                )
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        return b"".join(chunks), f"body cut short after {size} bytes: {type(exc).__name__}: {exc}"


def fetch_window(
    site: Site,
    window: Window,
    *,
    resolve: Callable[[str], Endpoint] = resolve_endpoint,
    session: requests.Session | None = None,
) -> list[Fetched]:
    """Pull every rendered request; HTTP failures are kept as Fetched with `error` set."""
    session = session or http_session()
    answers = []
    for req in render_requests(site, requested_range(site, window)):
        try:
            endpoint = resolve(req.conn_id)
        except (ConnectionNotFound, ValueError) as exc:
            raise ExtractError(site.id, source_label(site), str(exc)) from None
        answers.extend(_fetch_pages(site, req, endpoint, session))
    return answers


def _fetch_pages(site: Site, req: RenderedRequest, endpoint: Endpoint, session: requests.Session) -> list[Fetched]:
    """One rendered request, followed page by page when the preset says the API pages."""
    paging = site.preset.request.pagination if site.preset.request else None
    url, params = endpoint.base_url + req.path, dict(req.params)
    if paging is not None:
        if paging.size_param:
            params[paging.size_param] = str(paging.size)
        if paging.strategy != "next_link":
            params[paging.param] = str(paging.start)
    answers = []
    for _ in range(paging.max_pages if paging else 1):
        answer = _fetch(site, req, endpoint, session, url, params)
        answers.append(answer)
        following = None if paging is None or answer.error else next_page(site.preset, answer.body, url, params)
        if following is None:
            return answers
        url, params = following
    assert paging is not None  # without pagination the single answer returned above
    raise ExtractError(
        site.id, source_label(site), f"{req.path} has more than {paging.max_pages} pages (pagination.max_pages)",
    )  # fmt: skip


def next_page(preset: Preset, body: bytes, url: str, params: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    """Where the page after `body` is, or None after the last one (a body that does not decode ends
    the walk: parsing then reports it)."""

    paging = preset.request.pagination if preset.request else None
    if paging is None:
        return None
    try:
        doc = decode_document(body, preset)
        if paging.strategy == "next_link":
            link = lookup(doc, str(paging.next_path).split("."))
            return None if link is MISSING or not link else (urljoin(url, str(link)), {})
        count = select_records(doc, preset).n
    except (ValueError, TypeError):
        return None
    if count < paging.size:
        return None
    step = 1 if paging.strategy == "page" else count
    return url, {**params, paging.param: str(int(params[paging.param]) + step)}


def _fetch(
    site: Site,
    req: RenderedRequest,
    endpoint: Endpoint,
    session: requests.Session,
    url: str,
    params: dict[str, str],
) -> Fetched:
    """One HTTP call, verbatim; an HTTP failure is a Fetched with `error`, a transport failure an ExtractError."""
    limit = site.preset.max_body_bytes
    params, headers = dict(params), {**endpoint.headers, **req.headers}
    timeout = (min(10.0, site.source.timeout_seconds), site.source.timeout_seconds)
    shown = requests.Request(req.method, url, params=params).prepare().url or url
    send = functools.partial(  # headers is shared: a renewed token reaches the retry
        session.request,
        req.method,
        url,
        params=params,
        headers=headers,
        data=req.body,
        timeout=timeout,
        verify=endpoint.verify,
        stream=True,
    )
    try:
        response = send(auth=_auth(endpoint, params, headers, session, timeout))
        if response.status_code == 401 and endpoint.auth_type == "oauth2":  # revoked early: renew once
            response.close()
            headers["Authorization"] = f"Bearer {oauth_token(endpoint, session, timeout=timeout, refresh=True)}"
            response = send(auth=None)
    except TokenError as exc:
        raise ExtractError(site.id, source_label(site), str(exc)) from None
    except requests.RequestException as exc:
        raise ExtractError(site.id, source_label(site), f"{req.method} {shown}: {type(exc).__name__}: {exc}") from None
    with response:
        body, error = _read_limited(response, limit, site.source.timeout_seconds)
    if error is not None:
        error = f"{error}, from {shown}"
    elif response.status_code in (401, 403):
        error = (
            f"HTTP {response.status_code} {response.reason} from {shown}"
            f" (check the credentials of connection {req.conn_id!r}, auth {endpoint.auth_type})"
        )
    elif response.status_code >= 400:
        error = f"HTTP {response.status_code} {response.reason} from {shown}"
    return Fetched(
        req.counter_ref,
        f"{req.method} {shown}",
        response.status_code,
        response.headers.get("Content-Type"),
        body,
        error,
    )
