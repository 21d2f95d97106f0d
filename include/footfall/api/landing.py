"""Landing pushed bodies: raw_payload and the batch acknowledgement, committed before the 2xx.

Requests arriving together are landed together, in one transaction per group, and each is answered
once its group has committed. On PostgreSQL a group is one statement (one round trip, its own
commit) run by a landing task on the event loop; on SQLite a writer thread lands it in a handful of
statements. Under load a commit is shared by many requests instead of each paying its own round
trips, and the event loop never waits on the warehouse. A group that fails is retried request by
request, so one request's failure never takes another's down.

Kept free of pandas and Great Expectations so the API process stays small and starts fast; the
DAG side (footfall.sources.push) does the parsing later.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from footfall.config import Site
from footfall.errors import Refused
from footfall.sources.fetched import push_source
from footfall.warehouse.engine import single_writer
from footfall.warehouse.landing import (
    batch_acks,
    ensure_site,
    land_pushed_bodies,
    libpq_url,
    pg_active_token_ids,
    pg_batch_acks,
    pg_land_group,
    pg_land_pushed_bodies,
    pg_record_batches,
    record_batches,
)
from footfall.warehouse.tokens import active_token_ids

log = logging.getLogger(__name__)

MAX_GROUP = 64  # one statement lands a group; past this, the statement's own joins grow faster than its rows
DEFAULT_LANDERS = 4
MIN_PARALLEL_GROUP = 16  # another landing task starts only for this many pushes waiting


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


Outcome = dict[str, Any] | Refused


def land_push(engine: Engine, site: Site, pushed: PushedBody) -> tuple[dict[str, Any], bool]:
    """Land one pushed body (and its batch id) in its own transaction; returns (ack, first time)."""
    outcome, first = land_group(engine, [Push(site, pushed)], {})[0]
    if isinstance(outcome, Refused):
        raise outcome
    return outcome, first


@dataclass
class _Plan:
    """What a group's transaction does, decided from what the warehouse already holds."""

    outcomes: list[tuple[Outcome, bool] | None]
    to_land: list[int]
    repeats: list[tuple[int, int]]  # (push, the earlier push of the group with the same batch id)


def _plan(pushes: list[Push], active: set[int], stored: dict[tuple[str, str], dict[str, Any]]) -> _Plan:
    plan = _Plan([None] * len(pushes), [], [])
    first_of: dict[tuple[str, str], int] = {}
    for k, p in enumerate(pushes):
        key = (p.site.id, p.pushed.batch_id or "")
        if p.token_id is not None and p.token_id not in active:
            plan.outcomes[k] = (Refused(401, "token is unknown or revoked"), False)
        elif p.pushed.batch_id is not None and key in stored:
            plan.outcomes[k] = (stored[key], False)
        elif p.pushed.batch_id is not None and key in first_of:
            plan.repeats.append((k, first_of[key]))
        else:
            first_of[key] = k
            plan.to_land.append(k)
    return plan


def _batch_keys(pushes: list[Push]) -> list[tuple[str, str]]:
    return [(p.site.id, p.pushed.batch_id) for p in pushes if p.pushed.batch_id is not None]


def _acks(pushes: list[Push], plan: _Plan, digests: list[str], payload_ids: list[int], now: datetime) -> list[dict]:
    """Fill in the acks of the pushes landed now; returns their ingest_batch rows."""
    batches, received = [], now.isoformat()
    for k, digest, payload_id in zip(plan.to_land, digests, payload_ids, strict=True):
        p = pushes[k]
        ack = _ack(p, digest, payload_id, received)
        plan.outcomes[k] = (ack, True)
        if p.pushed.batch_id is not None:
            batches.append(
                {"site_id": p.site.id, "batch_id": p.pushed.batch_id, "payload_id": payload_id,
                 "rows": p.pushed.rows, "received_at": now, "ack": ack}
            )  # fmt: skip
    return batches


def _raced(batches: list[dict], inserted: set[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(str(b["site_id"]), str(b["batch_id"])) for b in batches if (b["site_id"], b["batch_id"]) not in inserted]


def _finish(pushes: list[Push], plan: _Plan, theirs: dict[tuple[str, str], dict]) -> list[tuple[Outcome, bool]]:
    for k in plan.to_land:  # a batch that raced in on another connection: answer with the ack it stored
        key = (pushes[k].site.id, pushes[k].pushed.batch_id or "")
        if key in theirs:
            plan.outcomes[k] = (theirs[key], False)
    for k, first in plan.repeats:
        outcome = plan.outcomes[first]
        assert outcome is not None
        plan.outcomes[k] = (outcome[0], False)
    assert all(o is not None for o in plan.outcomes)
    return plan.outcomes  # type: ignore[return-value]


def _digests(pushes: list[Push], plan: _Plan) -> list[str]:
    return [hashlib.sha256(pushes[k].pushed.body).hexdigest() for k in plan.to_land]


def land_group(engine: Engine, pushes: list[Push], ensured: dict[str, Site]) -> list[tuple[Outcome, bool]]:
    """Land `pushes` in one transaction; per push (its ack or why it is refused, whether it landed now).

    The ack is stored with the batch, so a resend of the same batch id gets the very same
    acknowledgement and lands nothing new. A vendor push without an id is de-duplicated by the
    sha256 of its body (a push names its devices inside the body, so it is landed without a
    counter_ref), like any landed payload. `ensured` holds the site objects whose site and counter
    rows are known to be in step (updated here once the transaction has committed).
    """
    now = datetime.now(UTC)
    newly: dict[str, Site] = {}
    with engine.begin() as conn:
        active = active_token_ids(conn, {p.token_id for p in pushes if p.token_id is not None})
        plan = _plan(pushes, active, batch_acks(conn, _batch_keys(pushes)))
        for k in plan.to_land:
            site = pushes[k].site
            if ensured.get(site.id) is not site and site.id not in newly:
                ensure_site(conn, site)
                newly[site.id] = site
        digests = _digests(pushes, plan)
        rows = [_payload_row(pushes[k], d, now) for k, d in zip(plan.to_land, digests, strict=True)]
        batches = _acks(pushes, plan, digests, land_pushed_bodies(conn, rows), now)
        raced = _raced(batches, record_batches(conn, batches))
        theirs = batch_acks(conn, raced) if raced else {}
    ensured.update(newly)
    return _finish(pushes, plan, theirs)


async def land_group_pg(aconn: Any, pushes: list[Push]) -> list[tuple[Outcome, bool]]:
    """land_group on an autocommit asyncio psycopg connection (PostgreSQL): one statement, committed on its
    own, for the whole group; the sites' rows must be in step already (Lander.land sees to it).

    A push whose body or batch id another connection committed while the statement ran is landed again
    by land_group_pg_steps, whose statements see it (it then gets the payload id or ack stored there)."""
    now = datetime.now(UTC)
    received = now.isoformat()
    digests = [hashlib.sha256(p.pushed.body).hexdigest() for p in pushes]
    rows = [_group_row(p, digest) for p, digest in zip(pushes, digests, strict=True)]
    outcomes: list[tuple[Outcome, bool] | None] = [None] * len(pushes)
    lands: dict[tuple[str, str | None], int] = {}
    again: list[int] = []
    for k, (refused, prior, landing, payload_id, recorded) in enumerate(await pg_land_group(aconn, rows, now)):
        p = pushes[k].pushed
        if refused:
            outcomes[k] = (Refused(401, "token is unknown or revoked"), False)
        elif prior is not None:
            outcomes[k] = (prior, False)
        elif not landing:
            continue  # the same batch id as an earlier push of the group: its answer, below
        elif payload_id is None or (p.batch_id is not None and not recorded):
            again.append(k)
        else:
            outcomes[k] = (_ack(pushes[k], digests[k], payload_id, received), True)
        if landing:
            lands[(pushes[k].site.id, p.batch_id)] = k
    if again:
        redone = await land_group_pg_steps(aconn, [pushes[k] for k in again])
        for k, redone_k in zip(again, redone, strict=True):
            outcomes[k] = redone_k
    for k, outcome in enumerate(outcomes):
        if outcome is None:
            first = outcomes[lands[(pushes[k].site.id, pushes[k].pushed.batch_id)]]
            assert first is not None
            outcomes[k] = (first[0], False)
    return outcomes  # type: ignore[return-value]


def _ack(p: Push, digest: str, payload_id: int, received: str) -> dict[str, Any]:
    """What a landed push is answered (and, with a batch id, what is stored to answer its resends)."""
    return {
        "status": "accepted",
        "site_id": p.site.id,
        "batch_id": p.pushed.batch_id,
        "payload_id": payload_id,
        "rows": p.pushed.rows,
        "bytes": len(p.pushed.body),
        "sha256": digest,
        "received_at": received,
    }


async def land_group_pg_steps(aconn: Any, pushes: list[Push]) -> list[tuple[Outcome, bool]]:
    """land_group_pg in one transaction of several statements, each seeing what was committed before it."""
    now = datetime.now(UTC)
    async with aconn.transaction():
        active = await pg_active_token_ids(aconn, {p.token_id for p in pushes if p.token_id is not None})
        plan = _plan(pushes, active, await pg_batch_acks(aconn, _batch_keys(pushes)))
        digests = _digests(pushes, plan)
        rows = [_payload_row(pushes[k], d, now) for k, d in zip(plan.to_land, digests, strict=True)]
        batches = _acks(pushes, plan, digests, await pg_land_pushed_bodies(aconn, rows), now)
        raced = _raced(batches, await pg_record_batches(aconn, batches))
        theirs = await pg_batch_acks(aconn, raced) if raced else {}
    return _finish(pushes, plan, theirs)


def _stored_body(p: Push) -> bytes:
    """The body as raw_payload keeps it: gzip (as received when it came so)."""
    return p.pushed.stored if p.pushed.stored is not None else gzip.compress(p.pushed.body, compresslevel=6, mtime=0)


def _window(pushed: PushedBody) -> tuple[datetime | None, datetime | None]:
    """raw_payload's window of a push: its rows' span, or none when it does not have both ends."""
    if pushed.first_interval is None or pushed.last_interval_end is None:
        return None, None
    return pushed.first_interval, pushed.last_interval_end


def _group_row(p: Push, digest: str) -> tuple[Any, ...]:
    """A push as pg_land_group takes it: its columns in the order of pg_land_group's docstring."""
    pushed = p.pushed
    return (
        p.site.id, pushed.batch_id, p.token_id, push_source(pushed.preset), pushed.request, *_window(pushed),
        pushed.content_type, _stored_body(p), len(pushed.body), digest, pushed.rows,
    )  # fmt: skip


def _payload_row(p: Push, digest: str, now: datetime) -> dict[str, Any]:
    body = _stored_body(p)
    window_start, window_end = _window(p.pushed)
    return {
        "site_id": p.site.id,
        "source": push_source(p.pushed.preset),
        "request": p.pushed.request,
        "counter_ref": None,
        "window_start": window_start,
        "window_end": window_end,
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
    """Lands every push waiting as one group, then answers each waiting request: landing tasks on the
    event loop (PostgreSQL) or writer threads (SQLite, one: it takes one writer at a time).

    Up to FOOTFALL_API_LANDERS (default 4) keep several groups in flight, so the round trips of one
    group overlap those of the next."""

    def __init__(self, engine: Callable[[], Engine], max_group: int = MAX_GROUP, threads: int | None = None) -> None:
        self._engine, self._max_group = engine, max_group
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._ensured: dict[str, Site] = {}
        self._threads: list[threading.Thread] = []
        self._wanted = threads
        self._lock = threading.Lock()
        self._async: bool | None = None
        self._waiting: list[tuple[Push, asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()
        self._draining = 0  # landing tasks running (or about to)
        self._idle: list[Any] = []  # open asyncio psycopg connections

    def _ensure(self, site: Site) -> None:
        with self._engine().begin() as conn:
            ensure_site(conn, site)
        self._ensured[site.id] = site

    # PostgreSQL: no threads at all. The pushes wait in a list; a landing task on the event loop takes every
    # push waiting (up to max_group) as its group, on its own asyncio connection, and goes on while pushes
    # wait. Another task (up to `threads`) starts only when MIN_PARALLEL_GROUP pushes wait: big groups cost
    # the least per push, and under load they form by themselves while a statement is in flight. (Threads
    # would hand the GIL back and forth at every round trip, which on a busy core costs more than the
    # statements themselves.)

    async def _land_async(self, push: Push) -> dict[str, Any]:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((push, future))
        if self._draining == 0 or (
            len(self._waiting) >= MIN_PARALLEL_GROUP
            and self._draining < (self._wanted or int(os.environ.get("FOOTFALL_API_LANDERS", DEFAULT_LANDERS)))
        ):
            self._draining += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        outcome = await future
        if isinstance(outcome, Refused):
            raise outcome
        return outcome

    async def _drain(self) -> None:
        """Land groups while pushes wait. `_draining` drops in the same step as the last look at the list
        (no await between them), so a push added later always finds a task, or starts one."""
        import psycopg

        aconn = self._idle.pop() if self._idle else None
        try:
            while self._waiting:
                if len(self._waiting) < MIN_PARALLEL_GROUP:
                    await asyncio.sleep(0)  # one turn of the loop: requests already read join the group
                group, self._waiting = self._waiting[: self._max_group], self._waiting[self._max_group :]
                try:
                    if aconn is None or aconn.closed:
                        url = libpq_url(self._engine()) or ""
                        aconn = await psycopg.AsyncConnection.connect(url, autocommit=True)
                    outcomes = await self._land_async_group(aconn, group)
                except Exception:  # no connection to the warehouse: answered, never left waiting
                    log.exception("landing %d push(es) failed: no connection to the warehouse", len(group))
                    outcomes = [_unavailable(p) for p, _ in group]
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._draining -= 1
            if aconn is not None and not aconn.closed:
                self._idle.append(aconn)

    async def _land_async_group(self, aconn: Any, group: list[tuple[Push, asyncio.Future]]) -> list[Outcome]:
        try:
            return [o for o, _ in await land_group_pg(aconn, [p for p, _ in group])]
        except Exception:
            if aconn.closed or len(group) == 1:
                log.exception("landing %d push(es) failed", len(group))
                return [_unavailable(p) for p, _ in group]
            # one bad push must not fail the others: land each on its own
            return [(await self._land_async_group(aconn, [item]))[0] for item in group]

    async def land(self, push: Push) -> dict[str, Any]:
        """The ack once the push is committed, or Refused (revoked token; warehouse unavailable: 503)."""
        if self._ensured.get(push.site.id) is not push.site:  # once per site file: the site and counter rows
            await run_in_threadpool(self._ensure, push.site)
        if self._async is None:
            self._async = libpq_url(self._engine()) is not None
        if self._async:
            return await self._land_async(push)
        self._start()
        loop = asyncio.get_running_loop()
        waiting = _Waiting(push, loop, loop.create_future())
        self._queue.put(waiting)
        outcome = await waiting.future
        if isinstance(outcome, Refused):
            raise outcome
        return outcome

    def _start(self) -> None:
        if self._threads:
            return
        with self._lock:
            if self._threads:
                return
            count = self._wanted or int(os.environ.get("FOOTFALL_API_LANDERS", DEFAULT_LANDERS))
            if single_writer(self._engine()):
                count = 1
            for n in range(max(1, count)):
                thread = threading.Thread(target=self._run, name=f"footfall-lander-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def close(self) -> None:
        """Land what waits, then stop the threads."""
        with self._lock:
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join(30)
            self._threads = []

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
                outcomes = [Refused(503, f"site {group[0].push.site.id}: the warehouse is unavailable; retry later")]
            else:  # one bad push must not fail the others: land each on its own
                for waiting in group:
                    self._land([waiting])
                return
        for waiting, outcome in zip(group, outcomes, strict=True):
            waiting.loop.call_soon_threadsafe(_answer, waiting.future, outcome)


def _unavailable(p: Push) -> Refused:
    return Refused(503, f"site {p.site.id}: the warehouse is unavailable; retry later")


def _answer(future: asyncio.Future, outcome: Outcome) -> None:
    if not future.done():  # the client may have gone away
        future.set_result(outcome)
