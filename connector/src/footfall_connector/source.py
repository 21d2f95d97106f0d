"""Read new rows from the site's database and shape them into footfall's batch rows.

The query says which rows are new (`WHERE id > :cursor ORDER BY id`); this module only binds
the cursor, checks the columns and turns local times into instants with a UTC offset, so the
server never has to guess the zone of a site's database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, create_engine, text

from footfall_connector.config import Query

log = logging.getLogger(__name__)

ROW_COLUMNS = ("counter_ref", "interval_start", "interval_minutes", "entries", "exits")


class SourceError(Exception):
    """The site database or a query cannot be used as configured."""


@dataclass(frozen=True)
class Read:
    """Rows read by one query, ready to send, and the cursor to store once they are in the outbox."""

    rows: list[dict[str, Any]]
    cursor: Any


def source_engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=0)


def missing_columns(columns: list[str], query: Query) -> list[str]:
    return [c for c in (*ROW_COLUMNS, query.cursor_column) if c not in columns]


def extra_columns(columns: list[str], query: Query) -> list[str]:
    """Result columns beyond the count schema and the cursor (a badge id, a name, a card number...).

    Only counts may leave a site: a query that returns anything else is refused before a row is read,
    so personal data never reaches the outbox, let alone the server."""
    allowed = {*ROW_COLUMNS, query.cursor_column}
    return [c for c in columns if c not in allowed]


def column_problem(columns: list[str], query: Query) -> str | None:
    """Why a query's result columns cannot be sent (missing or extra columns), or None."""
    missing = missing_columns(columns, query)
    if missing:
        return f"query {query.name}: missing column(s) {', '.join(missing)} (got {', '.join(columns)})"
    extra = extra_columns(columns, query)
    if extra:
        return (
            f"query {query.name}: column(s) {', '.join(extra)} are not part of the count schema "
            f"({', '.join(ROW_COLUMNS)} and the cursor column {query.cursor_column}); only counts may leave "
            "the site, so nothing was read or sent: select only those columns"
        )
    return None


def read_new_rows(engine: Engine, query: Query, cursor: Any, limit: int, zone: ZoneInfo) -> Read:
    """At most `limit` rows after `cursor` (the query must ORDER BY its cursor column)."""
    with engine.connect() as conn:
        result = conn.execute(text(query.sql), {"cursor": cursor})
        columns = list(result.keys())
        problem = column_problem(columns, query)
        if problem:
            result.close()
            raise SourceError(problem)
        records = [dict(r._mapping) for r in result.fetchmany(limit)]
        result.close()
    if not records:
        return Read([], cursor)
    rows = to_batch_rows(records, zone)
    return Read(rows, cursor_value(records[-1][query.cursor_column]))


def cursor_value(value: Any) -> Any:
    """A cursor as JSON can hold it (and bind it back): ints stay ints, instants become ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def bind_cursor(value: Any) -> Any:
    """The stored cursor, as the parameter bound to :cursor (ISO text back to a datetime)."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def to_instant(value: Any, zone: ZoneInfo, fold: int = 0) -> datetime:
    """A database time as an aware instant; naive values are wall-clock time in the site's zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise SourceError(f"interval_start {value!r} is not a date-time")
    if value.tzinfo is not None:
        return value
    local = value.replace(tzinfo=zone, fold=fold)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        log.warning("local time %s does not exist in %s (spring DST gap); sent as %s", value, zone, local.isoformat())
    return local


def to_batch_rows(records: list[dict[str, Any]], zone: ZoneInfo) -> list[dict[str, Any]]:
    """footfall batch rows; a naive local time seen twice for one counter (the repeated autumn
    hour) is taken as summer time the first time and winter time the second, in query order."""
    seen: set[tuple[str, Any]] = set()
    rows = []
    for record in records:
        ref = str(record["counter_ref"])
        raw_start = record["interval_start"]
        key = (ref, raw_start)
        fold = 1 if key in seen else 0
        seen.add(key)
        rows.append(
            {
                "counter_ref": ref,
                "interval_start": to_instant(raw_start, zone, fold).isoformat(),
                "interval_minutes": int(record["interval_minutes"]),
                "entries": None if record["entries"] is None else int(record["entries"]),
                "exits": None if record["exits"] is None else int(record["exits"]),
            }
        )
    return rows
