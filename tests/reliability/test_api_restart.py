"""The ingestion API killed and restarted while 50 connectors push (PostgreSQL warehouse).

Each connector sends its batches with the connector package's own client (`send_batch`, the
outbox's rule: a batch is done only when acknowledged, otherwise re-sent with the same id). The
API process is SIGKILLed once and stopped with SIGTERM once, each time restarted on the same port.
Afterwards every acknowledged batch is in raw_payload, every batch that went unanswered was sent
again and landed once (one raw_payload and one ingest_batch per batch), and no answer was a 5xx.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from fault_figures import record, scale
from private_pg import free_port
from sqlalchemy import func, select
from test_api import connector_site

from footfall.api.tokens import create_token
from footfall.warehouse import schema
from footfall_connector.config import Config, Query
from footfall_connector.sender import ACKED, REJECTED, backoff_delay, make_session, send_batch

CONNECTORS = 50
BASE = datetime(2026, 11, 20, 7, tzinfo=UTC)

pytestmark = pytest.mark.postgres


class ApiProcess:
    """`footfall api serve --only ingest` as a child process, on one port across restarts."""

    def __init__(self, db_url: str, sites_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FOOTFALL_DB_URL": db_url, "FOOTFALL_SITES_DIR": str(sites_dir)}
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        footfall = Path(sys.executable).parent / "footfall"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(footfall), "api", "serve", "--host", "127.0.0.1", "--port", str(self.port), "--only", "ingest"],
                env=self.env,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.1)
        raise AssertionError("the API did not come up")

    def stop(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(30)


class Pusher(threading.Thread):
    """One connector: its batches in order, each re-sent until acknowledged (or refused)."""

    def __init__(self, config: Config, batches: list[bytes], statuses: Counter, lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.config, self.batches = config, batches
        self.statuses, self.lock = statuses, lock
        self.acked: dict[str, dict] = {}
        self.unanswered = 0  # attempts that got no answer (connection refused, reset, timeout)
        self.refused: list[str] = []

    def run(self) -> None:
        session = make_session(self.config)
        session.hooks["response"].append(self._count)
        for body in self.batches:
            batch_id = json.loads(body)["batch_id"]
            attempt = 0
            while True:
                outcome = send_batch(session, self.config, body)
                if outcome.kind == ACKED:
                    self.acked[batch_id] = outcome.ack or {}
                    break
                if outcome.kind == REJECTED:
                    self.refused.append(outcome.detail)
                    break
                if not outcome.detail.startswith("HTTP "):
                    self.unanswered += 1
                attempt += 1
                time.sleep(backoff_delay(attempt, 0.05, 0.5))

    def _count(self, response: requests.Response, *_args: object, **_kwargs: object) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1


def batches_for(site_id: str, n: int) -> list[bytes]:
    out = []
    for j in range(n):
        start = BASE + timedelta(minutes=15 * j)
        rows = [
            {"counter_ref": ref, "interval_start": start.isoformat(), "interval_minutes": 15, "entries": j % 7 + k,
             "exits": j % 5}
            for k, ref in enumerate(("GATE-A", "GATE-B"))
        ]  # fmt: skip
        doc = {"batch_id": str(uuid.uuid4()), "site_id": site_id, "query": "gates", "cursor": j, "rows": rows}
        out.append(json.dumps(doc, separators=(",", ":")).encode())
    return out


def test_api_killed_and_restarted_under_50_connectors_every_batch_lands_once(
    pg_url, warehouse, registry, tmp_path, monkeypatch
):
    monkeypatch.setenv("FOOTFALL_DB_URL", pg_url)
    engine = warehouse(pg_url)
    per_connector = 6 * scale()
    sites = [f"conn-{i:02d}" for i in range(CONNECTORS)]
    for site_id in sites:
        registry.write(connector_site(site_id))
    api = ApiProcess(pg_url, registry.path, tmp_path / "api.log")
    api.start()
    statuses: Counter = Counter()
    lock = threading.Lock()
    pushers = []
    for site_id in sites:
        token = create_token(engine, site_id)[1]
        config = Config(
            server_url=api.url, site_id=site_id, token=token, database_url="sqlite://", queries=(Query("gates", "-"),),
            timeout_seconds=5.0,
        )  # fmt: skip
        pushers.append(Pusher(config, batches_for(site_id, per_connector), statuses, lock))
    total = CONNECTORS * per_connector

    def acked() -> int:
        return sum(len(p.acked) for p in pushers)

    for p in pushers:
        p.start()
    restarts = 0
    for fraction, sig in ((0.3, signal.SIGKILL), (0.6, signal.SIGTERM)):
        deadline = time.monotonic() + 120
        while acked() < total * fraction and time.monotonic() < deadline:
            time.sleep(0.02)
        api.stop(sig)  # mid-load: batches are in flight on many of the 50 connections
        time.sleep(0.5)
        api.start()
        restarts += 1
    for p in pushers:
        p.join(180)
    api.stop(signal.SIGTERM)

    assert all(not p.is_alive() for p in pushers)
    assert [r for p in pushers for r in p.refused] == []
    assert acked() == total
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    with engine.connect() as conn:
        landed = dict(
            conn.execute(
                select(schema.ingest_batch.c.batch_id, schema.ingest_batch.c.payload_id).where(
                    schema.ingest_batch.c.site_id.in_(sites)
                )
            ).all()
        )
        payloads = conn.execute(
            select(func.count()).select_from(schema.raw_payload).where(schema.raw_payload.c.site_id.in_(sites))
        ).scalar_one()
        rows = conn.execute(
            select(func.coalesce(func.sum(schema.ingest_batch.c.rows), 0)).where(
                schema.ingest_batch.c.site_id.in_(sites)
            )
        ).scalar_one()
    every_acked = {batch_id for p in pushers for batch_id in p.acked}
    lost = len(every_acked - set(landed))
    doubled = payloads - len(landed)
    unanswered = sum(p.unanswered for p in pushers)
    assert lost == 0, "an acknowledged batch is not in raw_payload"
    assert set(landed) == every_acked
    assert doubled == 0, "a re-sent batch landed a second payload"
    assert rows == 2 * total
    assert unanswered > 0, "the restarts must have left batches unanswered (else the test proves nothing)"
    assert server_errors == 0, f"5xx answers: {dict(statuses)}"
    record(
        "ingestion API killed + restarted, 50 connectors",
        faults=restarts,
        tried=sum(statuses.values()) + unanswered,
        server_errors=server_errors,
        lost=lost,
        doubled=doubled,
        half_loaded=0,
        batches=total,
        resent=unanswered,
    )
