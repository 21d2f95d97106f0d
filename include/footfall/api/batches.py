"""The connector's batch: footfall's own JSON format, checked in full before anything is landed.

Checking the connector's rows at the door (instead of only in the site's next DAG run) lets
the connector learn at once that a row is wrong, while it still has the context to log it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from footfall.api.bodies import Rejected, parse_json
from footfall.api.landing import PushedBody
from footfall.config import Site
from footfall.templates import render

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h)?\s*$", re.IGNORECASE)
BATCH_ID = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_ROWS = 50_000


class BatchRow(BaseModel):
    """One interval of one counter, as the connector's query returns it.

    Unknown fields are refused, not ignored: only counts may leave a site, so a row that carries a
    badge id or a name is an error to report to the sender, never something to land quietly."""

    model_config = ConfigDict(extra="forbid")

    counter_ref: Annotated[str, Field(min_length=1, max_length=200)]
    interval_start: datetime
    interval_minutes: Annotated[int, Field(ge=1, le=1440)]
    entries: Annotated[int, Field(ge=0)] | None = None
    exits: Annotated[int, Field(ge=0)] | None = None

    @field_validator("interval_start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a UTC offset (the connector adds its configured zone's offset)")
        return value


class ConnectorBatch(BaseModel):
    """The connector's batch; unknown fields are refused, as in its rows."""

    model_config = ConfigDict(extra="forbid")

    batch_id: Annotated[str, Field(pattern=BATCH_ID)]
    site_id: str
    rows: Annotated[list[BatchRow], Field(max_length=MAX_ROWS)]
    cursor: Any = None
    query: Annotated[str, Field(max_length=200)] | None = None  # the connector query that read the rows


def _fields(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = BatchRow if "rows" in loc[:1] else ConnectorBatch
    return ", ".join(model.model_fields)


def _describe(err: ValidationError) -> str:
    problems = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "(body)"
        if e["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown field, refused (accepted: {_fields(e['loc'])})")
        else:
            problems.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    more = len(err.errors()) - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def site_interval_minutes(site: Site) -> int | None:
    """The site's interval in minutes ('15m', '1h'), or None when it is not a whole number of minutes."""
    if site.preset.interval is None:  # each record gives its own length
        return None
    m = _DURATION.match(render(site.preset.interval, site.options()))
    if not m:
        return None
    return int(m.group(1)) * (60 if (m.group(2) or "").lower() == "h" else 1)


def check_batch(body: bytes, site: Site, content_type: str | None, stored: bytes | None = None) -> PushedBody:
    """A landable PushedBody, or Rejected naming the site, the source and what is wrong.

    The body is parsed and validated in one pass (pydantic's JSON parser); only a body that is not
    JSON at all goes through json.loads, for its message."""
    source = f"push:{site.source.preset}"
    try:
        batch = ConnectorBatch.model_validate_json(body)
    except ValidationError as err:
        if any(e["type"] == "json_invalid" for e in err.errors()):
            try:
                parse_json(body)  # json's own words for what is wrong
            except Rejected as bad:
                raise Rejected(400, f"site {site.id}, source {source}: {bad.reason}") from None
            raise Rejected(400, f"site {site.id}, source {source}: malformed JSON") from None
        raise Rejected(422, f"site {site.id}, source {source}: {_describe(err)}") from None
    if batch.site_id != site.id:
        raise Rejected(422, f"site {site.id}, source {source}: batch says site_id {batch.site_id!r}")
    known = {c.ref for c in site.counters}
    expected = site_interval_minutes(site)
    for i, row in enumerate(batch.rows):
        if row.counter_ref not in known:
            raise Rejected(
                422, f"site {site.id}, source {source}: rows.{i}: counter_ref {row.counter_ref!r} is unknown"
            )
        if expected is not None and row.interval_minutes != expected:
            raise Rejected(
                422,
                f"site {site.id}, source {source}: rows.{i}: interval_minutes {row.interval_minutes}, "
                f"but the site is configured for {expected}",
            )
    first = min((r.interval_start for r in batch.rows), default=None)
    last_end = max((r.interval_start + timedelta(minutes=r.interval_minutes) for r in batch.rows), default=None)
    return PushedBody(
        preset=site.source.preset,
        body=body,
        content_type=content_type,
        request=f"POST /v1/sites/{site.id}/batches",
        batch_id=batch.batch_id,
        rows=len(batch.rows),
        first_interval=first,
        last_interval_end=last_end,
        stored=stored,
    )
