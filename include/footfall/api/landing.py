"""Landing a pushed body: raw_payload and the batch acknowledgement, in one transaction, before the 2xx.

Kept free of pandas and Great Expectations so the API process stays small and starts fast; the
DAG side (footfall.sources.push) does the parsing later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from footfall.config import Site
from footfall.sources.fetched import push_source
from footfall.warehouse.landing import batch_ack, ensure_site, land_body, record_batch


@dataclass(frozen=True)
class PushedBody:
    """One accepted request body, as it is landed."""

    preset: str
    body: bytes
    content_type: str | None
    request: str
    batch_id: str | None = None
    rows: int = 0
    first_interval: datetime | None = None
    last_interval_end: datetime | None = None


def land_push(engine: Engine, site: Site, pushed: PushedBody) -> tuple[dict[str, Any], bool]:
    """Land a pushed body (and its batch id) in one transaction; returns (ack, first time).

    The ack is stored with the batch, so a resend of the same batch id gets the very same
    acknowledgement and lands nothing new. A vendor push without an id is de-duplicated by the
    sha256 of its body (a push names its devices inside the body, so it is landed without a
    counter_ref), like any landed payload.
    """
    now = datetime.now(UTC)
    digest = hashlib.sha256(pushed.body).hexdigest()
    with engine.begin() as conn:
        if pushed.batch_id is not None:
            ack = batch_ack(conn, site.id, pushed.batch_id)
            if ack is not None:
                return ack, False
        ensure_site(conn, site)
        window = (
            (pushed.first_interval, pushed.last_interval_end)
            if pushed.first_interval and pushed.last_interval_end
            else (None, None)
        )
        payload_id = land_body(
            conn,
            site_id=site.id,
            source=push_source(pushed.preset),
            body=pushed.body,
            received_at=now,
            request=pushed.request,
            window_start=window[0],
            window_end=window[1],
            content_type=pushed.content_type,
        )
        ack = {
            "status": "accepted",
            "site_id": site.id,
            "batch_id": pushed.batch_id,
            "payload_id": int(payload_id),
            "rows": pushed.rows,
            "bytes": len(pushed.body),
            "sha256": digest,
            "received_at": now.isoformat(),
        }
        if pushed.batch_id is not None:
            inserted = record_batch(
                conn, site.id, pushed.batch_id, payload_id=payload_id, rows=pushed.rows, received_at=now, ack=ack
            )
            if not inserted:  # the same batch raced in on another connection
                return batch_ack(conn, site.id, pushed.batch_id) or ack, False
    return ack, True
