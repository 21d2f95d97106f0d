"""Landing pushed bodies: raw_payload and the batch acknowledgement, committed before the 2xx.

Requests arriving together are landed together: one writer thread per process takes every request
waiting, lands them in one transaction (a handful of statements whatever the group's size) and
answers each once it has committed. Under load a commit is shared by many requests instead of each
paying its own round trips, and the event loop never waits on the warehouse. A group that fails is
retried request by request, so one request's failure never takes another's down.

Kept free of pandas and Great Expectations so the API process stays small and starts fast; the
DAG side (footfall.sources.push) does the parsing later.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from footfall.api.bodies import Rejected
from footfall.config import Site
from footfall.sources.fetched import push_source
from footfall.warehouse.landing import batch_acks, ensure_site, land_pushed_bodies, record_batches
from footfall.warehouse.tokens import active_token_ids

log = logging.getLogger(__name__)

MAX_GROUP = 256


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
    stored: bytes | None = None  # the body's gzip form as received, stored as is


@dataclass(frozen=True)
class Push:
    """A body to land for a site, sent with token `token_id` (re-checked in the landing transaction)."""

    site: Site
    pushed: PushedBody
    token_id: int | None = None


Outcome = dict[str, Any] | Rejected


def land_push(engine: Engine, site: Site, pushed: PushedBody) -> tuple[dict[str, Any], bool]:
    """Land one pushed body (and its batch id) in its own transaction; returns (ack, first time)."""
    outcome, first = land_group(engine, [Push(site, pushed)], {})[0]
    if isinstance(outcome, Rejected):
        raise outcome
    return outcome, first


def land_group(engine: Engine, pushes: list[Push], ensured: dict[str, Site]) -> list[tuple[Outcome, bool]]:
    """Land `pushes` in one transaction; per push (its ack or why it is refused, whether it landed now).

    The ack is stored with the batch, so a resend of the same batch id gets the very same
    acknowledgement and lands nothing new. A vendor push without an id is de-duplicated by the
    sha256 of its body (a push names its devices inside the body, so it is landed without a
    counter_ref), like any landed payload. `ensured` holds the site objects whose site and counter
    rows are known to be in step (updated here once the transaction has committed).
    """
    now = datetime.now(UTC)
    outcomes: list[tuple[Outcome, bool] | None] = [None] * len(pushes)
    newly: dict[str, Site] = {}
    with engine.begin() as conn:
        active = active_token_ids(conn, {p.token_id for p in pushes if p.token_id is not None})
        live = []
        for k, p in enumerate(pushes):
            if p.token_id is not None and p.token_id not in active:
                outcomes[k] = (Rejected(401, "token is unknown or revoked"), False)
            else:
                live.append(k)
        keys = [(pushes[k].site.id, pushes[k].pushed.batch_id) for k in live if pushes[k].pushed.batch_id]
        stored = batch_acks(conn, keys)  # type: ignore[arg-type]
        first_of: dict[tuple[str, str], int] = {}
        repeats: list[tuple[int, int]] = []
        to_land: list[int] = []
        for k in live:
            p = pushes[k]
            key = (p.site.id, p.pushed.batch_id or "")
            if p.pushed.batch_id is not None and key in stored:
                outcomes[k] = (stored[key], False)
            elif p.pushed.batch_id is not None and key in first_of:
                repeats.append((k, first_of[key]))
            else:
                first_of[key] = k
                to_land.append(k)
        for k in to_land:
            site = pushes[k].site
            if ensured.get(site.id) is not site and site.id not in newly:
                ensure_site(conn, site)
                newly[site.id] = site
        digests = [hashlib.sha256(pushes[k].pushed.body).hexdigest() for k in to_land]
        payload_ids = land_pushed_bodies(
            conn, [_payload_row(pushes[k], d, now) for k, d in zip(to_land, digests, strict=True)]
        )
        batches = []
        for k, digest, payload_id in zip(to_land, digests, payload_ids, strict=True):
            p = pushes[k]
            ack = {
                "status": "accepted",
                "site_id": p.site.id,
                "batch_id": p.pushed.batch_id,
                "payload_id": payload_id,
                "rows": p.pushed.rows,
                "bytes": len(p.pushed.body),
                "sha256": digest,
                "received_at": now.isoformat(),
            }
            outcomes[k] = (ack, True)
            if p.pushed.batch_id is not None:
                batches.append(
                    {"site_id": p.site.id, "batch_id": p.pushed.batch_id, "payload_id": payload_id,
                     "rows": p.pushed.rows, "received_at": now, "ack": ack}
                )  # fmt: skip
        inserted = record_batches(conn, batches)
        raced = [
            (str(b["site_id"]), str(b["batch_id"])) for b in batches if (b["site_id"], b["batch_id"]) not in inserted
        ]
        if raced:  # the same batch raced in on another connection: answer with the ack it stored
            theirs = batch_acks(conn, raced)
            for k in to_land:
                key = (pushes[k].site.id, pushes[k].pushed.batch_id or "")
                if key in theirs:
                    outcomes[k] = (theirs[key], False)
    ensured.update(newly)
    for k, first in repeats:
        outcome = outcomes[first]
        assert outcome is not None
        outcomes[k] = (outcome[0], False)
    assert all(o is not None for o in outcomes)
    return outcomes  # type: ignore[return-value]


def _payload_row(p: Push, digest: str, now: datetime) -> dict[str, Any]:
    body = p.pushed.stored if p.pushed.stored is not None else gzip.compress(p.pushed.body, compresslevel=6, mtime=0)
    return {
        "site_id": p.site.id,
        "source": push_source(p.pushed.preset),
        "request": p.pushed.request,
        "counter_ref": None,
        "window_start": p.pushed.first_interval if p.pushed.last_interval_end else None,
        "window_end": p.pushed.last_interval_end if p.pushed.first_interval else None,
        "received_at": now,
        "http_status": None,
        "content_type": p.pushed.content_type,
        "body": body,
        "body_bytes": len(p.pushed.body),
        "sha256": digest,
        "error": None,
    }


@dataclass
class _Waiting:
    push: Push
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


class Lander:
    """The writer thread: lands every push waiting as one group, then answers each waiting request."""

    def __init__(self, engine: Callable[[], Engine], max_group: int = MAX_GROUP) -> None:
        self._engine, self._max_group = engine, max_group
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._ensured: dict[str, Site] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def land(self, push: Push) -> dict[str, Any]:
        """The ack once the push is committed, or Rejected (revoked token; warehouse unavailable: 503)."""
        self._start()
        loop = asyncio.get_running_loop()
        waiting = _Waiting(push, loop, loop.create_future())
        self._queue.put(waiting)
        outcome = await waiting.future
        if isinstance(outcome, Rejected):
            raise outcome
        return outcome

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="footfall-lander", daemon=True)
                    self._thread.start()

    def close(self) -> None:
        """Land what waits, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < self._max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                group.append(more)
            self._land(group)
            if stop:
                return

    def _land(self, group: list[_Waiting]) -> None:
        try:
            outcomes = [o for o, _ in land_group(self._engine(), [w.push for w in group], self._ensured)]
        except Exception:
            if len(group) == 1:
                log.exception("landing a push for site %s failed", group[0].push.site.id)
                outcomes = [Rejected(503, f"site {group[0].push.site.id}: the warehouse is unavailable; retry later")]
            else:  # one bad push must not fail the others: land each on its own
                for waiting in group:
                    self._land([waiting])
                return
        for waiting, outcome in zip(group, outcomes, strict=True):
            waiting.loop.call_soon_threadsafe(_answer, waiting.future, outcome)


def _answer(future: asyncio.Future, outcome: Outcome) -> None:
    if not future.done():  # the client may have gone away
        future.set_result(outcome)
