"""The connector's outbox runs out of space: the connector stops reading the source, says why,
keeps running, and once space returns every row arrives once (no row skipped, none doubled).

Three ways to run out: a file size limit on the connector process (RLIMIT_FSIZE, raised again
from outside with prlimit), a real full filesystem (a small tmpfs, where mounting is allowed), and
the connector's own `outbox_max_bytes`.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import test_api
import test_connector
from fault_figures import record
from test_connector import (
    NOV_20_8AM,
    batch_rows_received,
    connector,
    local_rows,
    outbox_pending,
    run_push_dag,
    wait_for,
    warehouse_counts,
    write_config,
)

from footfall.api.tokens import create_token

tls, push_engine = test_api.tls, test_api.push_engine
service, warehouse_engine, config_folder, sqlite_site_db = (
    test_connector.service,
    test_connector.warehouse_engine,
    test_connector.config_folder,
    test_connector.sqlite_site_db,
)


class Connector:
    """`footfall-connector run` logging to a pipe (a full disk must not silence its log)."""

    def __init__(self, config: Path) -> None:
        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past a size limit fails instead of killing

        self.state = config.parent / "state"

        self.process = subprocess.Popen(
            [sys.executable, "-m", "footfall_connector", "-c", str(config), "run"],
            env=test_connector._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=limit,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def log(self) -> str:
        return "".join(self.lines)

    def disk_full(self) -> None:
        """From now on no outbox file may grow by more than a page (prlimit on the running process)."""
        largest = max(p.stat().st_size for p in self.state.iterdir())
        resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, (largest + 4096, resource.RLIM_INFINITY))

    def space_returns(self) -> None:
        resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(15)
        self.reader.join(5)
        assert code == 0, f"the connector ended with {code}:\n{self.log()[-3000:]}"
        return code


def config_without_log_file(config: Path, **extra: object) -> Path:
    text = config.read_text(encoding="utf-8").replace('log_file = "logs/connector.log"\n', "")
    for key, value in extra.items():
        text = text.replace("\n[[queries]]", f"{key} = {value!r}\n\n[[queries]]", 1)
    config.write_text(text, encoding="utf-8")
    return config


def steady(read, seconds: float) -> bool:
    """`read()` gives the same value over `seconds`."""
    first = read()
    time.sleep(seconds)
    return read() == first


def assert_every_row_once(engine, gates) -> int:
    run_push_dag(engine)
    count, totals = warehouse_counts(engine)
    assert count == len(gates.rows)
    assert totals == gates.totals()
    assert batch_rows_received(engine) == len(gates.rows)
    return count


def test_a_file_size_limit_pauses_reading_and_nothing_is_lost_when_it_is_lifted(
    sqlite_site_db, service, warehouse_engine, config_folder
):
    server, _ = service
    token = create_token(warehouse_engine, test_connector.SITE)[1]
    config = config_without_log_file(
        write_config(config_folder, sqlite_site_db.url, server.url, sqlite_site_db, token, batch_size=10)
    )
    sqlite_site_db.add(local_rows(NOV_20_8AM, 2))  # 16 rows
    conn = Connector(config)
    try:
        wait_for(lambda: batch_rows_received(warehouse_engine) == 16, 20, "the first rows")
        wait_for(lambda: outbox_pending(config_folder) == 0, 10, "their acknowledgement")
        conn.disk_full()
        sqlite_site_db.add(local_rows(NOV_20_8AM + timedelta(hours=2), 8, seed=3))  # 64 rows, 7 batches
        wait_for(lambda: "not reading the source" in conn.log(), 20, "the connector to say the outbox is full")
        assert conn.process.poll() is None, "the connector must keep running"
        # Batches stored before the limit may still be in flight when the connector says so: once they are
        # sent, nothing more arrives, and some rows are still unread.
        wait_for(lambda: steady(lambda: batch_rows_received(warehouse_engine), 1.5), 20, "it stopped reading")
        assert batch_rows_received(warehouse_engine) < len(sqlite_site_db.rows)
        assert "cannot store" in conn.log() and "disk full?" in conn.log()
        sqlite_site_db.add(local_rows(NOV_20_8AM + timedelta(hours=10), 2, seed=5))  # rows keep coming meanwhile
        conn.space_returns()
        wait_for(lambda: batch_rows_received(warehouse_engine) == len(sqlite_site_db.rows), 30, "every row")
        wait_for(lambda: outbox_pending(config_folder) == 0, 10, "an empty outbox")
    finally:
        assert conn.stop() == 0
    count = assert_every_row_once(warehouse_engine, sqlite_site_db)
    record("connector outbox file size limit", faults=1, tried=count, lost=0, doubled=0, half_loaded=0)


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(config_folder) -> Iterator[Path]:
    """The connector's state folder on a 160 KiB tmpfs (needs the right to mount)."""
    folder = config_folder / "state"
    folder.mkdir()
    if not _mount_tmpfs(folder, "160k"):
        if os.environ.get("CI"):
            pytest.fail("CI runs as root and must be able to mount a tmpfs for the full-disk scenario")
        pytest.skip("cannot mount a tmpfs here (needs root); the file size limit test covers the same path")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_filesystem_pauses_reading_and_nothing_is_lost_when_space_returns(
    sqlite_site_db, service, warehouse_engine, config_folder, small_disk
):
    server, _ = service
    token = create_token(warehouse_engine, test_connector.SITE)[1]
    config = config_without_log_file(
        write_config(config_folder, sqlite_site_db.url, server.url, sqlite_site_db, token, batch_size=10)
    )
    server.stop()  # the backlog piles up in the outbox until the disk is full
    sqlite_site_db.add(local_rows(NOV_20_8AM, 48))  # 384 rows, about 80 KiB of batches
    conn = Connector(config)
    try:
        wait_for(lambda: "not reading the source" in conn.log(), 20, "the connector to say the disk is full")
        assert "full" in conn.log()
        assert conn.process.poll() is None
        pending = outbox_pending(config_folder)
        assert 0 < pending * 10 < len(sqlite_site_db.rows)
        subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
        server.start()
        wait_for(lambda: batch_rows_received(warehouse_engine) == len(sqlite_site_db.rows), 30, "every row")
        wait_for(lambda: outbox_pending(config_folder) == 0, 10, "an empty outbox")
    finally:
        assert conn.stop() == 0
    count = assert_every_row_once(warehouse_engine, sqlite_site_db)
    record("connector outbox disk full (tmpfs)", faults=1, tried=count, lost=0, doubled=0, half_loaded=0)


def test_outbox_max_bytes_pauses_reading_says_why_and_resumes(sqlite_site_db, service, warehouse_engine, config_folder):
    server, _ = service
    token = create_token(warehouse_engine, test_connector.SITE)[1]
    config = write_config(
        config_folder, sqlite_site_db.url, server.url, sqlite_site_db, token, batch_size=10, outbox_max_bytes=3000
    )
    sqlite_site_db.add(local_rows(NOV_20_8AM, 8))  # 64 rows, 7 batches of about 1 KB
    server.stop()
    down = connector(config, "once", "--attempts", "1")
    assert down.returncode == 1
    assert "reading paused: outbox holds" in down.stdout and "outbox_max_bytes is 3000" in down.stdout
    assert 0 < outbox_pending(config_folder) < 7
    server.start()
    for _ in range(6):
        if connector(config, "once").returncode == 0:
            break
    assert outbox_pending(config_folder) == 0
    count = assert_every_row_once(warehouse_engine, sqlite_site_db)
    record("connector outbox_max_bytes", faults=1, tried=count, lost=0, doubled=0, half_loaded=0)


@pytest.mark.parametrize("value", ["0", "-5", "1.5", '"big"', "true"])
def test_outbox_max_bytes_must_be_a_positive_whole_number(config_folder, value):
    from footfall_connector.config import ConfigError, load_config

    path = config_folder / "c.toml"
    path.write_text(
        'server_url = "https://x"\nsite_id = "s"\ntoken = "t"\ndatabase_url = "sqlite://"\n'
        f'outbox_max_bytes = {value}\n\n[[queries]]\nname = "q"\nsql = "SELECT 1 WHERE 1 > :cursor"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="outbox_max_bytes must be a whole number of bytes above 0"):
        load_config(path)
