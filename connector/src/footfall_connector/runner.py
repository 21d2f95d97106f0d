"""One cycle = read every query into the outbox, then send what the outbox holds, oldest first.

Reading and sending are independent: while the server is down the connector keeps reading
into the outbox, and when it returns the backlog drains in order.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from dataclasses import dataclass

import requests
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from footfall_connector.config import Config
from footfall_connector.outbox import Outbox, OutboxFull
from footfall_connector.sender import ACKED, REJECTED, backoff_delay, send_batch
from footfall_connector.source import SourceError, bind_cursor, read_new_rows

log = logging.getLogger(__name__)


@dataclass
class CycleResult:
    rows_read: int = 0
    batches_sent: int = 0
    rows_sent: int = 0
    pending: int = 0
    rejected: int = 0
    read_ok: bool = True
    send_ok: bool = True
    read_paused: str | None = None  # why the source was not read this cycle (the outbox is full)


def outbox_room(config: Config, outbox: Outbox) -> str | None:
    """Why the outbox takes no new batch now (outbox_max_bytes reached), or None."""
    if config.outbox_max_bytes is None:
        return None
    waiting = outbox.pending_bytes()
    if waiting < config.outbox_max_bytes:
        return None
    return f"outbox holds {waiting} bytes waiting to be sent, outbox_max_bytes is {config.outbox_max_bytes}"


def poll(config: Config, engine: Engine, outbox: Outbox) -> tuple[int, bool, str | None]:
    """Read new rows of every query into the outbox; returns (rows read, every query worked, why
    reading paused). A full outbox pauses reading: the cursor stays, so the rows are read again
    once the outbox has room, and none is lost."""
    total, ok = 0, True
    for query in config.queries:
        for _ in range(config.max_batches_per_poll):
            full = outbox_room(config, outbox)
            if full is not None:
                log.error("not reading the source: %s; reading resumes once batches are sent", full)
                return total, ok, full
            cursor = outbox.cursor(query.name, query.initial_cursor)
            try:
                read = read_new_rows(engine, query, bind_cursor(cursor), config.batch_size, config.zone)
            except (SQLAlchemyError, SourceError, ValueError, TypeError) as exc:
                log.error("query %s: cannot read: %s", query.name, exc)
                ok = False
                break
            if not read.rows:
                break
            batch_id = str(uuid.uuid4())
            body = json.dumps(
                {
                    "batch_id": batch_id,
                    "site_id": config.site_id,
                    "query": query.name,
                    "cursor": read.cursor,
                    "rows": read.rows,
                },
                separators=(",", ":"),
            ).encode("utf-8")
            try:
                outbox.enqueue(batch_id, query.name, len(read.rows), body, read.cursor)
            except OutboxFull as exc:
                log.error(
                    "not reading the source: %s (disk full?); the cursor of query %s stays at %s, reading resumes"
                    " when the outbox can write again",
                    exc, query.name, cursor,
                )  # fmt: skip
                return total, ok, str(exc)
            log.info("query %s: %d row(s) into batch %s (cursor %s)", query.name, len(read.rows), batch_id, read.cursor)
            total += len(read.rows)
            if len(read.rows) < config.batch_size:
                break
    return total, ok, None


def flush(config: Config, session: requests.Session, outbox: Outbox) -> tuple[int, int, int, bool]:
    """Send pending batches in order; stop at the first that must be retried.

    Returns (batches acknowledged, their rows, batches set aside, every pending batch was answered).
    """
    batches = rows = rejected = 0
    for item in outbox.pending():
        outcome = send_batch(session, config, item.body)
        if outcome.kind == ACKED:
            try:
                outbox.acknowledge(item.batch_id, outcome.ack or {})
            except sqlite3.OperationalError as exc:  # disk full: the batch is sent again, the server knows its id
                outbox.reopen()
                log.error(
                    "batch %s acknowledged but the outbox cannot record it (%s); it will be re-sent", item.batch_id, exc
                )
                return batches, rows, rejected, False
            batches += 1
            rows += item.rows
            log.info("batch %s acknowledged (%d rows)", item.batch_id, item.rows)
        elif outcome.kind == REJECTED:
            outbox.reject(item.batch_id, outcome.detail)
            rejected += 1
            log.error("batch %s refused by the server, set aside: %s", item.batch_id, outcome.detail)
        else:
            outbox.failed_attempt(item.batch_id, outcome.detail)
            log.warning("batch %s not sent, will retry: %s", item.batch_id, outcome.detail)
            return batches, rows, rejected, False
    return batches, rows, rejected, True


def cycle(config: Config, engine: Engine, session: requests.Session, outbox: Outbox) -> CycleResult:
    result = CycleResult()
    result.rows_read, result.read_ok, result.read_paused = poll(config, engine, outbox)
    result.batches_sent, result.rows_sent, result.rejected, result.send_ok = flush(config, session, outbox)
    result.pending = outbox.counts().get("pending", 0)
    return result


def run_forever(
    config: Config,
    engine: Engine,
    session: requests.Session,
    outbox: Outbox,
    stop: threading.Event,
    max_cycles: int | None = None,
) -> None:
    """Cycle every poll interval; after a failed send, retry sooner (backoff with jitter, capped)."""
    failures = 0
    cycles = 0
    while not stop.is_set() and (max_cycles is None or cycles < max_cycles):
        cycles += 1
        result = cycle(config, engine, session, outbox)
        if result.send_ok:
            failures = 0
            delay = config.poll_interval_seconds
        else:
            failures += 1
            delay = min(
                config.poll_interval_seconds,
                backoff_delay(failures, config.retry_base_seconds, config.retry_max_seconds),
            )
        stop.wait(delay)
