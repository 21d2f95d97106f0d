"""footfall-connector end to end: an on-site database -> the connector (a real subprocess) -> the
ingestion service over verified HTTPS on loopback -> the warehouse -> the push site's DAG run.

The on-site systems are stood in for by real databases on this machine (SQLite, MariaDB,
PostgreSQL), each with a gate-counter table whose rows carry an auto-increment id as cursor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import test_api
from sqlalchemy import create_engine, func, select, text
from test_api import SITE, connector_site

from footfall.api.app import create_app
from footfall.api.tokens import create_token
from footfall.pipeline import run_site_window
from footfall.warehouse import schema
from footfall.warehouse.engine import normalize_url
from footfall_devtools.api_thread import ApiThread

tls, push_engine = test_api.tls, test_api.push_engine  # shared fixtures

CONNECTOR_SRC = Path(__file__).resolve().parents[2] / "connector" / "src"
MARIADB_URL = os.environ.get("FOOTFALL_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
QUERY = (
    "SELECT id AS row_id, gate AS counter_ref, period_start AS interval_start, minutes AS interval_minutes, "
    "ins AS entries, outs AS exits FROM {table} WHERE id > :cursor ORDER BY id"
)


# --- the on-site database ------------------------------------------------------------------------


class GateTable:
    """A gate counter's table in a site database: one row per gate and 15-minute period, local time."""

    def __init__(self, url: str, table: str, more_columns: str = "") -> None:
        self.url, self.table = url, table
        self.engine = create_engine(url)
        self.rows: list[tuple[str, datetime, int, int]] = []
        autoinc = {
            "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
            "mysql": "INTEGER PRIMARY KEY AUTO_INCREMENT",
            "postgresql": "SERIAL PRIMARY KEY",
        }[self.engine.dialect.name]
        stamp = "TIMESTAMP" if self.engine.dialect.name == "postgresql" else "DATETIME"
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"CREATE TABLE {table} (id {autoinc}, gate VARCHAR(20) NOT NULL, period_start {stamp} NOT NULL, "
                    f"minutes INTEGER NOT NULL, ins INTEGER NOT NULL, outs INTEGER NOT NULL{more_columns})"
                )
            )

    def add(self, rows: list[tuple[str, datetime, int, int]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(f"INSERT INTO {self.table} (gate, period_start, minutes, ins, outs) VALUES (:g, :p, 15, :i, :o)"),
                [{"g": g, "p": p, "i": i, "o": o} for g, p, i, o in rows],
            )
        self.rows.extend(rows)

    def totals(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for gate, _, ins, outs in self.rows:
            e, x = out.get(gate.lower(), (0, 0))
            out[gate.lower()] = (e + ins, x + outs)
        return out

    def drop(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {self.table}"))
        self.engine.dispose()


def local_rows(day: datetime, hours: int, seed: int = 1) -> list[tuple[str, datetime, int, int]]:
    """Naive local 15-minute periods for two gates, as a gate controller writes them."""
    rows = []
    for step in range(hours * 4):
        start = day + timedelta(minutes=15 * step)
        for n, gate in enumerate(("GATE-A", "GATE-B")):
            rows.append((gate, start, (seed * 7 + step * 3 + n) % 23, (seed * 5 + step * 2 + n) % 19))
    return rows


def site_db_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The site database of that kind: an SQLite file (WAL, as a workstation's counting software keeps
    it), the machine's MariaDB (fails in CI when it is not there) or a fresh PostgreSQL database."""
    if kind == "sqlite":
        sqlite3.connect(tmp_path / "site.db").execute("PRAGMA journal_mode=WAL").close()
        return f"sqlite:///{tmp_path / 'site.db'}"
    if kind == "mariadb":
        try:
            create_engine(MARIADB_URL).connect().close()
        except Exception as exc:  # any driver error means "not here"
            if os.environ.get("CI"):
                pytest.fail(f"MariaDB is required in CI: {exc}")
            pytest.skip(f"MariaDB not reachable: {exc}")
        return MARIADB_URL
    return normalize_url(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "mariadb", pytest.param("postgres", marks=pytest.mark.postgres)])
def site_db(request, tmp_path) -> Iterator[GateTable]:
    gates = GateTable(site_db_url(request.param, request, tmp_path), f"gate_counts_{uuid.uuid4().hex[:8]}")
    yield gates
    gates.drop()


@pytest.fixture
def sqlite_site_db(tmp_path) -> Iterator[GateTable]:
    sqlite3.connect(tmp_path / "site.db").execute("PRAGMA journal_mode=WAL").close()
    gates = GateTable(f"sqlite:///{tmp_path / 'site.db'}", "gate_counts")
    yield gates
    gates.drop()


# --- the service and the connector ---------------------------------------------------------------


@pytest.fixture
def warehouse_engine(sqlite_url, warehouse, registry, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)
    registry.write(connector_site(SITE, max_late_days=400))
    return warehouse(sqlite_url)


class SlowAcks:
    """The real app, with a switchable pause between landing a batch and answering (to kill the
    connector exactly while it waits for an acknowledgement) and a count of batch POSTs."""

    def __init__(self, app: Any) -> None:
        self.app, self.delay, self.batch_posts = app, 0.0, 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/batches"):
            return await self.app(scope, receive, send)
        self.batch_posts += 1

        async def delayed_send(message: dict) -> None:
            if message["type"] == "http.response.start" and self.delay:
                await asyncio.sleep(self.delay)
            await send(message)

        return await self.app(scope, receive, delayed_send)


@pytest.fixture
def service(warehouse_engine, tls) -> Iterator[tuple[ApiThread, SlowAcks]]:
    app = SlowAcks(create_app(warehouse_engine))
    server = ApiThread(app, certfile=tls["certfile"], keyfile=tls["certfile"]).start()
    yield server, app
    server.stop()


def write_config(folder: Path, url: str, server_url: str, gates: GateTable, token: str, **extra: Any) -> Path:
    token_file = folder / "token"
    token_file.write_text(token + "\n", encoding="utf-8")
    settings = {
        "poll_interval_seconds": 0.3,
        "retry_base_seconds": 0.1,
        "retry_max_seconds": 0.5,
        "timeout_seconds": 10,
        "batch_size": 50,
        **extra,
    }
    lines = [
        f'server_url = "{server_url}"',
        f'site_id = "{SITE}"',
        'token_file = "token"',
        f'database_url = "{url}"',
        'timezone = "Europe/Paris"',
        f'ca_bundle = "{folder / "ca.pem"}"',
        'state_dir = "state"',
        'log_file = "logs/connector.log"',
        *(f"{k} = {v!r}" for k, v in settings.items()),
        "",
        "[[queries]]",
        'name = "gates"',
        'cursor_column = "row_id"',
        f'sql = "{QUERY.format(table=gates.table)}"',
    ]
    path = folder / "connector.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def connector(config: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "footfall_connector", "-c", str(config), *args],
        env=_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def start_connector(config: Path) -> subprocess.Popen:
    log = open(config.parent / "run.out", "ab")  # noqa: SIM115 - owned by the child process
    return subprocess.Popen(
        [sys.executable, "-m", "footfall_connector", "-c", str(config), "run"], env=_env(), stdout=log, stderr=log
    )


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(CONNECTOR_SRC), os.environ.get("PYTHONPATH")])),
    }


@pytest.fixture
def config_folder(tmp_path, tls) -> Path:
    folder = tmp_path / "connector"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(Path(tls["ca"]).read_bytes())
    return folder


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def batch_rows_received(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(schema.ingest_batch.c.rows), 0))).scalar_one())


def outbox_pending(folder: Path) -> int:
    path = folder / "state" / "outbox.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=10) as conn:
        return conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]


def run_push_dag(engine) -> dict[str, Any]:
    now = datetime.now(UTC)
    return run_site_window(SITE, now - timedelta(minutes=5), now + timedelta(minutes=1), run_id="test")


def warehouse_counts(engine) -> tuple[int, dict[str, tuple[int, int]]]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.count_interval)).mappings().all()
    totals: dict[str, tuple[int, int]] = {}
    for r in rows:
        e, x = totals.get(r["counter_id"], (0, 0))
        totals[r["counter_id"]] = (e + r["entries"], x + r["exits"])
    return len(rows), totals


# --- tests ---------------------------------------------------------------------------------------

PARIS_SPRING = datetime(2026, 3, 29, 0, 0)  # noqa: DTZ001 - naive local, as the site database stores it
PARIS_AUTUMN = datetime(2026, 10, 25, 0, 0)  # noqa: DTZ001


NOV_20_8AM = datetime(2026, 11, 20, 8, 0)  # noqa: DTZ001
# Spring: 02:00-03:00 local does not exist (the controller skips it); autumn: it happens twice.


def dst_rows() -> list[tuple[str, datetime, int, int]]:
    spring = [r for r in local_rows(PARIS_SPRING, 4, seed=2) if r[1].hour != 2]
    autumn = local_rows(PARIS_AUTUMN, 3, seed=3)
    repeated = [(g, p, i + 1, o + 1) for g, p, i, o in autumn if p.hour == 2]  # the second 02:xx, in winter time
    late = local_rows(PARIS_AUTUMN + timedelta(hours=3), 1, seed=4)
    return spring + autumn + repeated + late


def test_site_database_to_warehouse_over_https_on_both_dst_days(site_db, service, warehouse_engine, config_folder):
    server, _ = service
    token = create_token(warehouse_engine, SITE)[1]
    config = write_config(config_folder, site_db.url, server.url, site_db, token, batch_size=500)
    site_db.add(dst_rows())

    check = connector(config, "check")
    first = connector(config, "once")
    run_push_dag(warehouse_engine)
    again = connector(config, "once")

    assert check.returncode == 0, check.stdout + check.stderr
    assert [line.split()[0] for line in check.stdout.splitlines()] == ["ok"] * 4
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"read {len(site_db.rows)} row(s)" in first.stdout
    assert "read 0 row(s)" in again.stdout
    count, totals = warehouse_counts(warehouse_engine)
    assert count == len(site_db.rows) and totals == site_db.totals()
    with warehouse_engine.connect() as conn:
        starts = {
            (r.counter_id, r.interval_start.isoformat(), r.entries)
            for r in conn.execute(select(schema.count_interval).where(schema.count_interval.c.counter_id == "gate-a"))
        }
    spring = sorted(s for _, s, _ in starts if "2026-03-28T23" <= s < "2026-03-29T03")
    autumn = {s: e for _, s, e in starts if "2026-10-24T22" <= s < "2026-10-25T03"}
    # Spring: 00:00-01:45 local (+01:00) then 03:00-03:45 local (+02:00): 12 consecutive UTC quarters.
    assert spring == [
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC) + timedelta(minutes=15 * k)).isoformat() for k in range(12)
    ]
    # Autumn: 00:00-02:45 local in summer time, 02:00-02:45 again in winter time, then 03:00-03:45:
    # 20 consecutive UTC quarters; the second 02:00 (01:00Z) is the repeated row, one more than the first (00:00Z).
    assert sorted(autumn) == [
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC) + timedelta(minutes=15 * k)).isoformat() for k in range(20)
    ]
    assert autumn["2026-10-25T01:00:00+00:00"] == autumn["2026-10-25T00:00:00+00:00"] + 1


def test_check_reports_each_failure_on_its_own_line(sqlite_site_db, service, warehouse_engine, config_folder):
    server, _ = service
    create_token(warehouse_engine, SITE)
    config = write_config(config_folder, sqlite_site_db.url, server.url, sqlite_site_db, "fft_wrong")
    text_ = config.read_text().replace("gate AS counter_ref", "gate AS door")
    config.write_text(text_)

    result = connector(config, "check")

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok") and "database" in lines[0]
    assert lines[1].startswith("FAILED") and "missing column(s) counter_ref" in lines[1]
    assert lines[2].startswith("ok") and "verified TLS" in lines[2]
    assert lines[3].startswith("FAILED") and "401" in lines[3]


def test_outage_the_connector_keeps_reading_and_every_row_arrives_once(
    sqlite_site_db, service, warehouse_engine, config_folder
):
    server, _ = service
    token = create_token(warehouse_engine, SITE)[1]
    config = write_config(config_folder, sqlite_site_db.url, server.url, sqlite_site_db, token, batch_size=10)
    day = NOV_20_8AM
    sqlite_site_db.add(local_rows(day, 2))
    process = start_connector(config)
    try:
        wait_for(lambda: batch_rows_received(warehouse_engine) == 16, 15, "the first rows")
        server.stop()
        for wave in range(1, 4):  # rows keep coming for several poll cycles while the server is down
            sqlite_site_db.add(local_rows(day + timedelta(hours=2 * wave), 2, seed=wave))
            time.sleep(0.8)
        wait_for(lambda: outbox_pending(config_folder) >= 4, 10, "batches to queue in the outbox")
        assert batch_rows_received(warehouse_engine) == 16
        server.start()
        wait_for(lambda: batch_rows_received(warehouse_engine) == len(sqlite_site_db.rows), 20, "the backlog")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    run_push_dag(warehouse_engine)

    assert outbox_pending(config_folder) == 0
    count, totals = warehouse_counts(warehouse_engine)
    assert count == len(sqlite_site_db.rows) == 64
    assert totals == sqlite_site_db.totals()
    log = (config_folder / "logs" / "connector.log").read_text()
    assert "will retry" in log and "acknowledged" in log


def test_sigkill_while_waiting_for_the_ack_loses_nothing_and_doubles_nothing(
    sqlite_site_db, service, warehouse_engine, config_folder
):
    server, app = service
    token = create_token(warehouse_engine, SITE)[1]
    config = write_config(config_folder, sqlite_site_db.url, server.url, sqlite_site_db, token, batch_size=8)
    sqlite_site_db.add(local_rows(NOV_20_8AM, 4))  # 32 rows: 4 batches
    app.delay = 30.0  # the server lands the first batch, then holds its answer
    process = start_connector(config)
    wait_for(lambda: batch_rows_received(warehouse_engine) == 8, 15, "the first batch to be landed")
    process.kill()  # SIGKILL: landed on the server, never acknowledged to the connector
    process.wait(5)
    assert outbox_pending(config_folder) >= 1

    app.delay = 0.0
    sqlite_site_db.add(local_rows(NOV_20_8AM + timedelta(hours=4), 2, seed=9))
    process = start_connector(config)
    time.sleep(0.5)
    process.kill()  # and once more at an arbitrary moment
    process.wait(5)
    process = start_connector(config)
    try:
        wait_for(lambda: batch_rows_received(warehouse_engine) == len(sqlite_site_db.rows), 20, "every row")
        wait_for(lambda: outbox_pending(config_folder) == 0, 10, "an empty outbox")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    run_push_dag(warehouse_engine)

    with warehouse_engine.connect() as conn:
        batches = conn.execute(select(func.count()).select_from(schema.ingest_batch)).scalar_one()
    assert app.batch_posts > batches  # the unacknowledged batch was sent again...
    assert batch_rows_received(warehouse_engine) == len(sqlite_site_db.rows) == 48  # ...and counted once
    count, totals = warehouse_counts(warehouse_engine)
    assert count == 48 and totals == sqlite_site_db.totals()


class ConnectProxy:
    """A minimal HTTPS proxy (HTTP CONNECT tunnels) on loopback that counts the tunnels it opens."""

    def __init__(self) -> None:
        import socket
        import threading

        self.tunnels: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self._threads = threading
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self._threads.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: Any) -> None:
        import socket

        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = client.recv(1024)
            if not chunk:
                return client.close()
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return client.close()
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.tunnels.append(target)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(src: Any, dst: Any) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                dst.close()

        self._threads.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def close(self) -> None:
        self.server.close()


def test_https_proxy_from_the_environment_is_used_and_tls_still_verified(
    sqlite_site_db, service, warehouse_engine, config_folder, monkeypatch
):
    server, _ = service
    token = create_token(warehouse_engine, SITE)[1]
    config = write_config(config_folder, sqlite_site_db.url, server.url, sqlite_site_db, token)
    sqlite_site_db.add(local_rows(NOV_20_8AM, 1))
    proxy = ConnectProxy()
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    try:
        result = connector(config, "once")
    finally:
        proxy.close()

    assert result.returncode == 0, result.stdout + result.stderr
    assert proxy.tunnels and set(proxy.tunnels) == {f"127.0.0.1:{server.port}"}
    assert batch_rows_received(warehouse_engine) == 8


def test_a_batch_the_server_refuses_is_set_aside_and_the_next_ones_go_through(
    sqlite_site_db, service, warehouse_engine, config_folder
):
    server, _ = service
    token = create_token(warehouse_engine, SITE)[1]
    config = write_config(config_folder, sqlite_site_db.url, server.url, sqlite_site_db, token)
    sqlite_site_db.add([("GATE-Z", NOV_20_8AM, 1, 1)])  # not a counter of this site
    refused = connector(config, "once")
    sqlite_site_db.add(local_rows(NOV_20_8AM, 1))

    result = connector(config, "once")

    assert refused.returncode == 1 and "1 refused by the server" in refused.stdout  # a scheduled task shows it
    assert result.returncode == 0, result.stdout + result.stderr
    assert batch_rows_received(warehouse_engine) == 8
    with sqlite3.connect(config_folder / "state" / "outbox.sqlite3") as conn:
        state, error = conn.execute("SELECT state, last_error FROM outbox").fetchone()
    assert state == "rejected" and "HTTP 422" in error and "GATE-Z" in error
