"""Source endpoints from Airflow Connections: URL, auth and TLS settings, never stored in site files.

Connections are looked up the way Airflow does (environment `AIRFLOW_CONN_<ID>` first, then
Airflow's secrets backends and metadata database), so the same site file works in a DAG run,
in the CLI and in the benchmarks. Extras understood: `auth_type` (none, basic, digest, bearer,
api_key, oauth2), `api_key_header` / `api_key_param`, `verify` (true, false or a CA bundle path),
`headers` (a mapping added to every request), `base_path`; for oauth2 (client credentials, the
client id and secret are the login and password): `token_url` (absolute, or a path on the host),
`scope`, `token_auth` (basic: id/secret in an Authorization header, the default; body: in the form).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

AUTH_TYPES = ("none", "basic", "digest", "bearer", "api_key", "oauth2")


class ConnectionNotFound(LookupError):
    """No connection with that id anywhere Airflow would look."""


@dataclass(frozen=True)
class Endpoint:
    """Everything needed to call one vendor host; `describe()` is safe to log (no secrets)."""

    conn_id: str
    base_url: str
    auth_type: str = "none"
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict)
    api_key_header: str | None = None
    api_key_param: str | None = None
    verify: bool | str = True
    token_url: str | None = None
    scope: str | None = None
    token_auth: str = "basic"

    def describe(self) -> str:
        return f"{self.conn_id} ({self.base_url}, auth {self.auth_type})"


def endpoint_from_fields(
    conn_id: str,
    conn_type: str | None,
    host: str | None,
    port: int | None = None,
    login: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Endpoint:
    """Build an endpoint from an Airflow connection's fields (http/https conn types)."""
    extra = dict(extra or {})
    host = (host or "").rstrip("/")
    if not host:
        raise ValueError(f"connection {conn_id!r} has no host")
    if "://" in host:
        base = host
    else:
        scheme = schema if schema in ("http", "https") else (conn_type if conn_type in ("http", "https") else "https")
        base = f"{scheme}://{host}"
    if port:
        base = f"{base}:{port}"
    base += str(extra.pop("base_path", "")).rstrip("/")
    auth_type = str(extra.get("auth_type") or ("basic" if login else "none")).lower()
    if auth_type not in AUTH_TYPES:
        raise ValueError(f"connection {conn_id!r}: auth_type {auth_type!r} is not one of {', '.join(AUTH_TYPES)}")
    verify = extra.get("verify", True)
    if isinstance(verify, str) and verify.lower() in ("true", "false"):
        verify = verify.lower() == "true"
    headers = extra.get("headers") or {}
    if isinstance(headers, str):
        headers = json.loads(headers)
    token_url = extra.get("token_url")
    if auth_type == "oauth2" and not token_url:
        raise ValueError(f"connection {conn_id!r}: auth_type oauth2 needs a token_url in the extra")
    if token_url and "://" not in token_url:
        parts = urlsplit(base)
        token_url = f"{parts.scheme}://{parts.netloc}/{str(token_url).lstrip('/')}"
    token_auth = str(extra.get("token_auth", "basic")).lower()
    if token_auth not in ("basic", "body"):
        raise ValueError(f"connection {conn_id!r}: token_auth {token_auth!r} is not basic or body")
    return Endpoint(
        conn_id=conn_id,
        base_url=base,
        auth_type=auth_type,
        login=login,
        password=password,
        headers={str(k): str(v) for k, v in headers.items()},
        api_key_header=extra.get("api_key_header"),
        api_key_param=extra.get("api_key_param"),
        verify=verify,
        token_url=token_url,
        scope=extra.get("scope"),
        token_auth=token_auth,
    )


def parse_connection(conn_id: str, value: str) -> Endpoint:
    """Parse an `AIRFLOW_CONN_*` value: Airflow's URI form or its JSON form."""
    value = value.strip()
    if value.startswith("{"):
        doc = json.loads(value)
        doc_extra = doc.get("extra") or {}
        if isinstance(doc_extra, str):
            doc_extra = json.loads(doc_extra)
        return endpoint_from_fields(
            conn_id,
            doc.get("conn_type"),
            doc.get("host"),
            doc.get("port"),
            doc.get("login"),
            doc.get("password"),
            doc.get("schema"),
            doc_extra,
        )
    parts = urlsplit(value)
    extra: dict[str, Any] = dict(parse_qsl(parts.query))
    if "__extra__" in extra:
        extra = json.loads(extra["__extra__"])
    # Airflow puts the connection's "schema" in the URI path; for HTTP it names the scheme,
    # anything else is a path prefix on the vendor host.
    path = unquote(parts.path.lstrip("/"))
    schema = path if path in ("http", "https") else None
    if path and not schema:
        extra.setdefault("base_path", "/" + path)
    return endpoint_from_fields(
        conn_id,
        parts.scheme.replace("-", "_"),
        parts.hostname,
        parts.port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        schema,
        extra,
    )


def resolve_endpoint(conn_id: str) -> Endpoint:
    """Find a connection as Airflow would: environment first, then Airflow itself (inside a task)."""
    env = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if env:
        return parse_connection(conn_id, env)
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # the CLI without Airflow installed
        raise ConnectionNotFound(f"connection {conn_id!r} not found: set AIRFLOW_CONN_{conn_id.upper()}") from None
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:
        raise ConnectionNotFound(
            f"connection {conn_id!r} not found in Airflow (create it, or set AIRFLOW_CONN_{conn_id.upper()}): {exc}"
        ) from None
    return endpoint_from_fields(
        conn_id,
        conn.conn_type,
        conn.host,
        conn.port,
        conn.login,
        conn.password,
        conn.schema,
        conn.extra_dejson,
    )
