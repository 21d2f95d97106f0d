"""A group of pushes landed by one PostgreSQL statement (footfall.api.landing.land_group_pg), against the
same group landed statement by statement (land_group_pg_steps), on a real server: revoked tokens,
resends, repeats inside the group, vendor bodies without a batch id, and a real race with another
connection that commits the same body and batch id while the statement runs."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from footfall.api.batches import check_batch
from footfall.api.landing import Lander, Push, PushedBody, land_group_pg, land_group_pg_steps
from footfall.api.tokens import create_token, revoke_token
from footfall.config import load_site, site_path
from footfall.errors import Refused
from footfall.warehouse import schema
from footfall.warehouse.landing import ensure_site, land_pushed_bodies, libpq_url, record_batches

pytestmark = pytest.mark.postgres

SITE = "group-site"


def batch_body(batch_id: str, entries: int = 1) -> bytes:
    return json.dumps(
        {
            "batch_id": batch_id,
            "site_id": SITE,
            "rows": [
                {"counter_ref": "GATE-A", "interval_start": "2026-11-20T10:00:00+01:00", "interval_minutes": 15,
                 "entries": entries, "exits": 0},
            ],
        }
    ).encode()  # fmt: skip


@pytest.fixture
def setup(pg_url, warehouse, registry, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", pg_url)
    registry.write(
        {
            "id": SITE,
            "name": "Group site",
            "timezone": "Europe/Paris",
            "counters": [{"id": "a", "ref": "GATE-A"}],
            "source": {"kind": "push", "preset": "footfall_connector"},
        }
    )
    engine = warehouse(pg_url)
    site = load_site(site_path(SITE))
    with engine.begin() as conn:
        ensure_site(conn, site)
    good = create_token(engine, SITE, "good")[0]
    bad = create_token(engine, SITE, "revoked")[0]
    revoke_token(engine, SITE, bad)
    return engine, site, good, bad


def connector_push(site, batch_id: str, token_id: int, entries: int = 1) -> Push:
    return Push(site, check_batch(batch_body(batch_id, entries), site, "application/json"), token_id)


def vendor_push(site, body: bytes, token_id: int) -> Push:
    pushed = PushedBody(preset="footfall_connector", body=body, content_type="application/json", request="POST x")
    return Push(site, pushed, token_id)


def run(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own: the suite's browser tests hold an event loop in the main thread
    (playwright's sync API, session-wide), where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


async def _land(engine, pushes: list[Push], steps: bool = False) -> list[tuple[Any, bool]]:
    async with await psycopg.AsyncConnection.connect(libpq_url(engine) or "", autocommit=True) as aconn:
        return await (land_group_pg_steps if steps else land_group_pg)(aconn, pushes)


def landed(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        payloads = conn.execute(select(func.count()).select_from(schema.raw_payload)).scalar_one()
        batches = conn.execute(select(func.count()).select_from(schema.ingest_batch)).scalar_one()
    return payloads, batches


def summary(outcomes: list[tuple[Any, bool]]) -> list[tuple[Any, bool]]:
    """Outcomes without the parts that differ between two landings (ids, times)."""
    return [
        ((o.status, o.reason) if isinstance(o, Refused) else (o["batch_id"], o["rows"], o["sha256"]), first)
        for o, first in outcomes
    ]


def test_one_statement_lands_a_group_as_the_step_by_step_transaction_does(setup):
    engine, site, good, bad = setup
    earlier = connector_push(site, "b-earlier", good)
    first = run(_land(engine, [earlier]))
    vendor = b'{"counts": [1, 2, 3]}'
    group = [
        connector_push(site, "b-1", good),
        connector_push(site, "b-1", good),  # the same batch twice in the group: landed once, one answer
        connector_push(site, "b-2", bad),  # a revoked token: refused, nothing landed
        connector_push(site, "b-earlier", good),  # a resend: the stored ack, nothing landed
        connector_push(site, "b-3", good, entries=5),
        vendor_push(site, vendor, good),
        vendor_push(site, vendor, good),  # the same vendor body twice: one payload
        connector_push(site, "b-2", good),  # the revoked push's batch id, with a good token: lands
    ]
    outcomes = run(_land(engine, group))

    assert summary(outcomes) == [
        (("b-1", 1, outcomes[0][0]["sha256"]), True),
        (("b-1", 1, outcomes[0][0]["sha256"]), False),
        ((401, "token is unknown or revoked"), False),
        (("b-earlier", 1, first[0][0]["sha256"]), False),
        (("b-3", 1, outcomes[4][0]["sha256"]), True),
        ((None, 0, outcomes[5][0]["sha256"]), True),
        ((None, 0, outcomes[5][0]["sha256"]), True),
        (("b-2", 1, outcomes[7][0]["sha256"]), True),
    ]
    assert outcomes[1][0] == outcomes[0][0]
    assert outcomes[3][0] == first[0][0]  # the very same acknowledgement as the first time
    assert outcomes[5][0]["payload_id"] == outcomes[6][0]["payload_id"]
    assert landed(engine) == (5, 4)  # earlier, b-1, b-3, the vendor body, b-2

    again = run(_land(engine, group))  # everything resent: the stored acks, nothing new
    assert [o for o, _ in again if not isinstance(o, Refused) and o["batch_id"]] == [
        o for o, _ in outcomes if not isinstance(o, Refused) and o["batch_id"]
    ]
    assert [first for _, first in again] == [False, False, False, False, False, True, True, False]
    assert landed(engine) == (5, 4)

    # the same group on a fresh site state, statement by statement, answers the same
    with engine.begin() as conn:
        conn.execute(schema.ingest_batch.delete())
        conn.execute(schema.raw_payload.delete())
    run(_land(engine, [earlier], steps=True))
    stepped = run(_land(engine, group, steps=True))
    assert summary(stepped) == summary(outcomes)
    assert landed(engine) == (5, 4)


def test_a_body_and_batch_committed_by_another_connection_meanwhile_get_their_stored_answer(setup):
    """Another API process lands the same batch and holds its keys uncommitted while the group's statement
    runs: the statement waits, then sees the conflicts but not the rows (they are newer than the statement),
    and the push is landed again by statements that see them: it is answered with the stored ack."""
    engine, site, good, _ = setup
    push = connector_push(site, "raced", good)
    body = push.pushed.body
    digest = hashlib.sha256(body).hexdigest()
    now = datetime.now(UTC)
    theirs = {"status": "accepted", "site_id": SITE, "batch_id": "raced", "rows": 1, "bytes": len(body),
              "sha256": digest, "received_at": now.isoformat()}  # fmt: skip
    other = engine.connect()
    transaction = other.begin()
    (payload_id,) = land_pushed_bodies(
        other,
        [{"site_id": SITE, "source": "push:footfall_connector", "request": "POST", "window_start": None,
          "window_end": None, "received_at": now, "content_type": None, "body": gzip.compress(body),
          "body_bytes": len(body), "sha256": digest}],
    )  # fmt: skip
    theirs["payload_id"] = payload_id
    record_batches(
        other,
        [
            {
                "site_id": SITE,
                "batch_id": "raced",
                "payload_id": payload_id,
                "rows": 1,
                "received_at": now,
                "ack": theirs,
            }
        ],
    )
    outcome: list[Any] = []
    runner = threading.Thread(target=lambda: outcome.extend(run(_land(engine, [push]))))
    runner.start()
    time.sleep(1)
    waited = runner.is_alive()  # the statement waits on the other transaction's keys
    transaction.commit()
    other.close()
    runner.join(10)

    assert waited
    assert outcome == [(theirs, False)]
    assert landed(engine) == (1, 1)


def test_the_lander_lands_many_concurrent_pushes_in_few_statements(setup):
    engine, site, good, _ = setup
    lander = Lander(lambda: engine, threads=2)

    async def main() -> list[dict[str, Any]]:
        return await asyncio.gather(*(lander.land(connector_push(site, f"c-{n}", good, n)) for n in range(200)))

    acks = run(main())
    assert sorted(a["batch_id"] for a in acks) == sorted(f"c-{n}" for n in range(200))
    assert landed(engine) == (200, 200)
