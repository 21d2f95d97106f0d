"""The durable outbox: a batch is written here, with the new cursor, before it is sent.

One SQLite transaction stores the batch and advances the cursor, so a crash at any moment either
keeps both or neither: rows are never skipped (cursor moved, batch lost) nor read twice into two
batches. A batch leaves the outbox only when the server has acknowledged its id; a resend after
a crash carries the same id, which the server treats as already received.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL UNIQUE,
    query TEXT NOT NULL,
    rows INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS cursor (
    query TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (
    batch_id TEXT PRIMARY KEY,
    rows INTEGER NOT NULL,
    acked_at TEXT NOT NULL,
    ack TEXT NOT NULL
);
"""


class OutboxFull(Exception):
    """The outbox cannot take another batch (disk full, a file size limit, or outbox_max_bytes):
    the connector stops reading the source until it can write again, so nothing read is lost."""


KEEP_SENT = 1000  # recent acknowledgements kept for inspection


@dataclass(frozen=True)
class Pending:
    seq: int
    batch_id: str
    query: str
    rows: int
    body: bytes
    attempts: int


class Outbox:
    """The connector's only state: cursors, batches not yet acknowledged, recent acknowledgements."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives a power cut
        db.executescript(SCHEMA)
        return db

    def close(self) -> None:
        self.db.close()

    def reopen(self) -> None:
        """A fresh connection after a failed write (SQLite may keep an I/O error on the old one)."""
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        self.db = self._open()

    def pending_bytes(self) -> int:
        """Bytes of batches waiting to be sent (what outbox_max_bytes bounds)."""
        row = self.db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM outbox WHERE state = 'pending'").fetchone()
        return int(row[0])

    def cursor(self, query: str, initial: Any) -> Any:
        row = self.db.execute("SELECT value FROM cursor WHERE query = ?", (query,)).fetchone()
        return initial if row is None else json.loads(row[0])

    def enqueue(self, batch_id: str, query: str, rows: int, body: bytes, new_cursor: Any) -> None:
        """Store the batch and move the cursor past its rows, atomically; OutboxFull when the disk
        (or a file size limit) refuses the write: then neither the batch nor the cursor moved."""
        try:
            self._enqueue(batch_id, query, rows, body, new_cursor)
        except sqlite3.OperationalError as exc:
            self.reopen()
            raise OutboxFull(f"outbox {self.path} cannot store {len(body)} bytes: {exc}") from None

    def _enqueue(self, batch_id: str, query: str, rows: int, body: bytes, new_cursor: Any) -> None:
        with self._transaction():
            self.db.execute(
                "INSERT INTO outbox (batch_id, query, rows, body, created_at) VALUES (?, ?, ?, ?, ?)",
                (batch_id, query, rows, body, datetime.now(UTC).isoformat()),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO cursor (query, value) VALUES (?, ?)",
                (query, json.dumps(new_cursor)),
            )

    def pending(self) -> list[Pending]:
        rows = self.db.execute(
            "SELECT seq, batch_id, query, rows, body, attempts FROM outbox WHERE state = 'pending' ORDER BY seq"
        ).fetchall()
        return [Pending(*row) for row in rows]

    def acknowledge(self, batch_id: str, ack: dict[str, Any]) -> None:
        with self._transaction():
            row = self.db.execute("SELECT rows FROM outbox WHERE batch_id = ?", (batch_id,)).fetchone()
            self.db.execute("DELETE FROM outbox WHERE batch_id = ?", (batch_id,))
            if row is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO sent (batch_id, rows, acked_at, ack) VALUES (?, ?, ?, ?)",
                    (batch_id, row[0], datetime.now(UTC).isoformat(), json.dumps(ack)),
                )
            self.db.execute(
                "DELETE FROM sent WHERE batch_id NOT IN (SELECT batch_id FROM sent ORDER BY acked_at DESC LIMIT ?)",
                (KEEP_SENT,),
            )

    def failed_attempt(self, batch_id: str, error: str) -> None:
        """Bookkeeping only: on a full disk the count is not kept, the batch stays pending."""
        try:
            self.db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE batch_id = ?", (error[:2000], batch_id)
            )
        except sqlite3.OperationalError:
            self.reopen()

    def reject(self, batch_id: str, error: str) -> None:
        """The server refused the batch itself (4xx): keep it aside for a person, send the rest
        (on a full disk it stays pending and is refused again next time)."""
        try:
            self.db.execute(
                "UPDATE outbox SET state = 'rejected', attempts = attempts + 1, last_error = ? WHERE batch_id = ?",
                (error[:2000], batch_id),
            )
        except sqlite3.OperationalError:
            self.reopen()

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        return {state: n for state, n in rows}

    def _transaction(self) -> _Tx:
        return _Tx(self.db)


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit sqlite3 connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
