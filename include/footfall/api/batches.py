"""The connector's batch: footfall's own JSON format, checked in full before anything is landed.

Checking the connector's rows at the door (instead of only in the site's next DAG run) lets
the connector learn at once that a row is wrong, while it still has the context to log it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
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


# The same batch as msgspec structs: the door's fast check. Every constraint of the models above is here
# (unknown fields, lengths, ranges, the batch id's pattern, an offset on every time), and msgspec is the
# stricter of the two (no "5" or 5.0 for an int, no "10:00" without seconds, JSON only), so a body it
# accepts is one the pydantic model accepts too (tests/fuzz checks this). Whatever it refuses goes through
# the pydantic model, whose error names the field and reason, or which accepts it after all.
_FAST_BATCH_ID = BATCH_ID.removesuffix("$") + r"\Z"  # re's $ would let a final newline through
_Ref = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
_Minutes = Annotated[int, msgspec.Meta(ge=1, le=1440)]
_Count = Annotated[int, msgspec.Meta(ge=0)]


def _fast_decoder(refs: tuple[str, ...], interval: int | None) -> msgspec.json.Decoder:
    ref: Any = Literal[refs] if refs else _Ref
    minutes: Any = Annotated[int, msgspec.Meta(ge=interval, le=interval)] if interval is not None else _Minutes
    row = msgspec.defstruct(
        "FastRow",
        [
            ("counter_ref", ref),
            ("interval_start", Annotated[datetime, msgspec.Meta(tz=True)]),
            ("interval_minutes", minutes),
            ("entries", _Count | None, None),
            ("exits", _Count | None, None),
        ],
        forbid_unknown_fields=True,
        gc=False,  # strings, numbers and times only: no cycles to collect
    )
    batch = msgspec.defstruct(
        "FastBatch",
        [
            ("batch_id", Annotated[str, msgspec.Meta(pattern=_FAST_BATCH_ID)]),
            ("site_id", str),
            ("rows", Annotated[list[row], msgspec.Meta(max_length=MAX_ROWS)]),  # type: ignore[valid-type]
            ("cursor", Any, None),
            ("query", Annotated[str, msgspec.Meta(max_length=200)] | None, None),
        ],
        forbid_unknown_fields=True,
        gc=False,  # a decoded JSON document holds no cycles
    )
    return msgspec.json.Decoder(batch)


@dataclass(frozen=True)
class _SiteBatch:
    """The batch model of one site: its counter refs and interval checked by the validator itself
    (no Python loop over the rows), with the site's interval in minutes (None: each row says), and the
    same checks as a msgspec decoder (the fast path)."""

    site: Site
    model: type[ConnectorBatch]
    interval: int | None
    fast: msgspec.json.Decoder


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
    made = _site_batches[id(site)] = _SiteBatch(site, model, interval, _fast_decoder(refs, interval))
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

    The body is parsed and checked in one pass by the site's msgspec decoder (check_batch_fast); a body
    it refuses is parsed again by the site's pydantic model (check_batch_model), for the reason to give,
    or accepted by it after all (a count written 5.0, a time without seconds)."""
    pushed = check_batch_fast(body, site, content_type, stored)
    return pushed if pushed is not None else check_batch_model(body, site, content_type, stored)


def check_batch_fast(
    body: bytes, site: Site, content_type: str | None, stored: bytes | None = None
) -> PushedBody | None:
    """check_batch by the site's msgspec decoder alone: None for any body it does not accept."""
    checks = _site_batch(site)
    try:
        fast = checks.fast.decode(body)
    except Exception:  # msgspec's refusal (or its recursion limit): the model says what is wrong
        return None
    if fast.site_id != site.id:
        return None
    try:
        first, last_end = _span(fast.rows, checks.interval)
    except OverflowError:
        return None
    return _pushed(site, body, content_type, stored, fast.batch_id, len(fast.rows), first, last_end)


def check_batch_model(body: bytes, site: Site, content_type: str | None, stored: bytes | None = None) -> PushedBody:
    """check_batch by the site's pydantic model: the reference, and the words of every refusal."""
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
    try:
        first, last_end = _span(batch.rows, checks.interval)
    except OverflowError:
        raise Refused(422, f"site {site.id}, source {source}: rows: an interval starts or ends outside the years "
                           "1 to 9999 in UTC") from None  # fmt: skip
    return _pushed(site, body, content_type, stored, batch.batch_id, len(batch.rows), first, last_end)


def _span(rows: Sequence[Any], interval: int | None) -> tuple[datetime | None, datetime | None]:
    """(first interval start, last interval end) of the rows, in UTC; OverflowError past year 9999 or
    before year 1 in UTC."""
    if not rows:
        return None, None
    if interval is not None:
        starts = [r.interval_start for r in rows]
        return min(starts).astimezone(UTC), max(starts).astimezone(UTC) + timedelta(minutes=interval)
    first = min(r.interval_start for r in rows).astimezone(UTC)
    return first, max(r.interval_start + timedelta(minutes=r.interval_minutes) for r in rows).astimezone(UTC)


def _pushed(
    site: Site, body: bytes, content_type: str | None, stored: bytes | None, batch_id: str, rows: int,
    first: datetime | None, last_end: datetime | None,
) -> PushedBody:  # fmt: skip
    return PushedBody(
        preset=site.source.preset,
        body=body,
        content_type=content_type,
        request=f"POST /v1/sites/{site.id}/batches",
        batch_id=batch_id,
        rows=rows,
        first_interval=first,
        last_interval_end=last_end,
        stored=stored,
    )
