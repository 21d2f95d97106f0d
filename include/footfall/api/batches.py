"""The connector's batch: footfall's own JSON format, checked in full before anything is landed.

Checking the connector's rows at the door (instead of only in the site's next DAG run) lets
the connector learn at once that a row is wrong, while it still has the context to log it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, create_model

from footfall.api.bodies import parse_json
from footfall.api.landing import PushedBody
from footfall.config import Site
from footfall.errors import Refused
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
    interval_start: AwareDatetime
    interval_minutes: Annotated[int, Field(ge=1, le=1440)]
    entries: Annotated[int, Field(ge=0)] | None = None
    exits: Annotated[int, Field(ge=0)] | None = None


class ConnectorBatch(BaseModel):
    """The connector's batch; unknown fields are refused, as in its rows."""

    model_config = ConfigDict(extra="forbid")

    batch_id: Annotated[str, Field(pattern=BATCH_ID)]
    site_id: str
    rows: Annotated[list[BatchRow], Field(max_length=MAX_ROWS)]
    cursor: Any = None
    query: Annotated[str, Field(max_length=200)] | None = None  # the connector query that read the rows


@dataclass(frozen=True)
class _SiteBatch:
    """The batch model of one site: its counter refs and interval checked by the validator itself
    (no Python loop over the rows), with the site's interval in minutes (None: each row says)."""

    site: Site
    model: type[ConnectorBatch]
    interval: int | None


_site_batches: dict[int, _SiteBatch] = {}


def _site_batch(site: Site) -> _SiteBatch:
    """The site's batch model, made once per site object (a changed site file is a new object)."""
    found = _site_batches.get(id(site))
    if found is not None and found.site is site:
        return found
    refs = tuple(c.ref for c in site.counters)
    interval = site_interval_minutes(site)
    fields: dict[str, Any] = {}
    if refs:
        fields["counter_ref"] = (Literal[refs], ...)
    if interval is not None:
        fields["interval_minutes"] = (Annotated[int, Field(ge=interval, le=interval)], ...)
    row = create_model(f"BatchRow_{site.id}", __base__=BatchRow, **fields)
    model = create_model(
        f"ConnectorBatch_{site.id}",
        __base__=ConnectorBatch,
        rows=(Annotated[list[row], Field(max_length=MAX_ROWS)], ...),
    )
    if len(_site_batches) > 4096:
        _site_batches.clear()
    made = _site_batches[id(site)] = _SiteBatch(site, model, interval)
    return made


def _fields(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = BatchRow if "rows" in loc[:1] else ConnectorBatch
    return ", ".join(model.model_fields)


def _problem(e: Any, interval: int | None) -> str:
    loc = e["loc"]
    where = ".".join(str(p) for p in loc) or "(body)"
    field = loc[-1] if loc else None
    row = ".".join(str(p) for p in loc[:-1])
    if e["type"] == "extra_forbidden":
        return f"{where}: unknown field, refused (accepted: {_fields(loc)})"
    if field == "counter_ref" and e["type"] == "literal_error":
        return f"{row}: counter_ref {e['input']!r} is unknown"
    if field == "interval_minutes" and interval is not None and e["type"] in ("greater_than_equal", "less_than_equal"):
        return f"{row}: interval_minutes {e['input']}, but the site is configured for {interval}"
    if field == "interval_start" and e["type"] == "timezone_aware":
        return f"{where}: needs a UTC offset (the connector adds its configured zone's offset)"
    return f"{where}: {e['msg'].removeprefix('Value error, ')}"


def _describe(err: ValidationError, interval: int | None = None) -> str:
    problems = [_problem(e, interval) for e in err.errors()[:5]]
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
    """A landable PushedBody, or Refused naming the site, the source and what is wrong.

    The body is parsed and validated in one pass (pydantic's JSON parser); only a body that is not
    JSON at all goes through json.loads, for its message."""
    source = f"push:{site.source.preset}"
    checks = _site_batch(site)
    try:
        batch = checks.model.model_validate_json(body)
    except ValidationError as err:
        if any(e["type"] == "json_invalid" for e in err.errors()):
            try:
                parse_json(body)  # json's own words for what is wrong
            except Refused as bad:
                raise Refused(400, f"site {site.id}, source {source}: {bad.reason}") from None
            raise Refused(400, f"site {site.id}, source {source}: malformed JSON") from None
        raise Refused(422, f"site {site.id}, source {source}: {_describe(err, checks.interval)}") from None
    if batch.site_id != site.id:
        raise Refused(422, f"site {site.id}, source {source}: batch says site_id {batch.site_id!r}")
    first = last_end = None
    if batch.rows:
        starts = [r.interval_start.astimezone(UTC) for r in batch.rows]  # one tzinfo: cheap comparisons
        first = min(starts)
        if checks.interval is not None:
            last_end = max(starts) + timedelta(minutes=checks.interval)
        else:
            last_end = max(r.interval_start + timedelta(minutes=r.interval_minutes) for r in batch.rows)
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
