"""The `sql` source kind: an incremental query on a site's own database, landed as a JSON payload.

The database URL lives in an Airflow connection (its URI, or `url` in its extra), never in the
site file. The query comes from the site file's `source.options.query` and is run with bound
parameters `:window_start` and `:window_end` only (never string formatting). Its columns are
aliased `counter_ref, interval_start, interval_minutes, entries, exits`. The rows become one JSON
body (`{interval_minutes, rows}`), landed verbatim like an HTTP answer and parsed by the
`sql_rows` preset, so replay, de-duplication and errors work as for every other source.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from footfall.config import Site
from footfall.errors import ExtractError
from footfall.timewindow import Window

REQUIRED = ("counter_ref", "interval_start", "entries", "exits")
DRIVERS = {"mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql", "postgres": "postgresql+psycopg",
           "postgresql": "postgresql+psycopg"}  # fmt: skip


def database_url(conn_id: str) -> str:
    """The SQLAlchemy URL of an Airflow connection: extra `url` wins, else the connection's URI."""
    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if value is None:
        try:
            from airflow.sdk import BaseHook
        except ImportError:
            raise LookupError(f"connection {conn_id!r} not found: set AIRFLOW_CONN_{conn_id.upper()}") from None
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:
            raise LookupError(f"connection {conn_id!r} not found in Airflow: {exc}") from None
        value = str(conn.extra_dejson.get("url") or conn.get_uri())
    value = value.strip()
    if value.startswith("{"):
        doc = json.loads(value)
        extra = doc.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else extra
        if not extra.get("url"):
            raise LookupError(f"connection {conn_id!r}: a JSON connection for a database needs extra.url")
        value = str(extra["url"])
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise LookupError(f"connection {conn_id!r} is not a database URL")
    return f"{DRIVERS.get(scheme, scheme)}://{rest}"


def _zone(site: Site) -> ZoneInfo:
    """Zone of the database's naive timestamps: `db_timezone` (UTC, local = the site's zone, or an IANA name)."""
    name = str(site.options().get("db_timezone", "UTC"))
    if name == "local":
        return site.zone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"source.options.db_timezone {name!r} is not an IANA zone, UTC or local") from None


def _instant(value: Any, zone: ZoneInfo) -> str:
    """ISO 8601 with offset: naive database values are read in the database's zone (first of a repeated hour)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


def _count(value: Any) -> int | float | None:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def query_rows(site: Site, window: Window) -> tuple[str, bytes]:
    """Run the site's query for `window`; returns what was asked (no secrets) and the JSON body."""
    options = site.options()
    label = f"sql:{site.source.preset}"
    query = options.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ExtractError(site.id, label, "source.options.query is missing (a SELECT with :window_start, :window_end)")
    if ":window_start" not in query or ":window_end" not in query:
        raise ExtractError(site.id, label, "the query must bind :window_start and :window_end (incremental reads)")
    conn_id = site.source.connection_id or ""
    try:
        zone = _zone(site)
        url = make_url(database_url(conn_id))
    except (LookupError, ValueError, ArgumentError) as exc:
        raise ExtractError(site.id, label, str(exc)) from None
    shown = url.render_as_string(hide_password=True)
    bounds = {  # naive, in the database's zone: what a DATETIME column without zone compares with
        "window_start": window.start.astimezone(zone).replace(tzinfo=None),
        "window_end": window.end.astimezone(zone).replace(tzinfo=None),
    }
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(text(query), bounds)
            columns = list(result.keys())
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                raise ExtractError(
                    site.id, label, f"the query returns {', '.join(columns)}; missing alias(es): {', '.join(missing)}"
                )
            records = result.mappings().all()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ExtractError(site.id, label, f"query on {shown} failed: {type(exc).__name__}: {reason}") from None
    finally:
        engine.dispose()
    minutes = {int(r["interval_minutes"]) for r in records if r.get("interval_minutes") is not None}
    if len(minutes) > 1:
        raise ExtractError(site.id, label, f"rows mix interval lengths {sorted(minutes)}: use one per site")
    try:
        rows = [
            {
                "counter_ref": None if r["counter_ref"] is None else str(r["counter_ref"]),
                "interval_start": _instant(r["interval_start"], zone),
                "entries": _count(r["entries"]),
                "exits": _count(r["exits"]),
            }
            for r in records
        ]
    except (ValueError, TypeError) as exc:
        raise ExtractError(site.id, label, f"interval_start is not a date-time: {exc}") from None
    rows.sort(key=lambda r: (r["interval_start"], r["counter_ref"] or ""))
    doc: dict[str, Any] = {"rows": rows}
    if minutes:
        doc["interval_minutes"] = minutes.pop()
    asked = f"SQL {shown} [{window.start:%Y-%m-%dT%H:%MZ}, {window.end:%Y-%m-%dT%H:%MZ})"
    return asked, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")
