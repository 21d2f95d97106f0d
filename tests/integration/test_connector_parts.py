"""The connector's parts on their own: config checks, local times to instants, backoff, the outbox."""

from __future__ import annotations

import random
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "connector" / "src"))

from footfall_connector.config import ConfigError, load_config
from footfall_connector.outbox import Outbox
from footfall_connector.sender import backoff_delay
from footfall_connector.source import to_batch_rows

PARIS = ZoneInfo("Europe/Paris")


def naive(text: str) -> datetime:
    """A wall-clock time without zone, as a site database's DATETIME column returns it."""
    return datetime.fromisoformat(text)


BASE = """
server_url = "https://ingest.example.org"
site_id = "s1"
token_file = "token"
database_url = "sqlite:///site.db"
timezone = "Europe/Paris"

[[queries]]
name = "gates"
sql = "SELECT * FROM t WHERE id > :cursor ORDER BY id"
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "token").write_text("fft_secret\n")
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_config_reads_token_file_and_expands_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "p@ss")
    text = BASE.replace('"sqlite:///site.db"', '"mysql+pymysql://u:${DB_PASSWORD}@127.0.0.1/gates"')
    config = load_config(write(tmp_path, text))

    assert config.token == "fft_secret"
    assert config.database_url == "mysql+pymysql://u:p@ss@127.0.0.1/gates"
    assert config.poll_interval_seconds == 300  # five minutes unless told otherwise
    assert config.outbox_path == tmp_path / "state" / "outbox.sqlite3"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("https://ingest", "http://ingest"), "must be https://"),
        (("id > :cursor", "id > 0"), "must bind :cursor"),
        (('site_id = "s1"', 'site_id = "s1"\npoll_intervall = 5'), r"unknown key\(s\) poll_intervall"),
        (('"Europe/Paris"', '"Paris"'), "not an IANA zone"),
        (('token_file = "token"', 'token_file = "missing"'), "token_file"),
        (("sqlite:///site.db", "mysql://u:${NOPE_UNSET}@h/db"), "environment variable that is not set"),
        (('site_id = "s1"', 'site_id = "s1" "'), "not valid TOML"),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path, change, message):
    path = write(tmp_path, BASE.replace(*change))
    with pytest.raises(ConfigError, match=message) as failure:
        load_config(path)
    assert str(path) in str(failure.value)


def test_naive_local_times_become_instants_on_both_dst_days():
    records = [
        {"counter_ref": "A", "interval_start": naive("2026-03-29T01:45"), "interval_minutes": 15, "entries": 1,
         "exits": 0},
        {"counter_ref": "A", "interval_start": "2026-03-29 03:00:00", "interval_minutes": 15, "entries": 2,
         "exits": 0},
        {"counter_ref": "A", "interval_start": naive("2026-10-25T02:30"), "interval_minutes": 15, "entries": 3,
         "exits": 1},
        {"counter_ref": "B", "interval_start": naive("2026-10-25T02:30"), "interval_minutes": 15, "entries": 4,
         "exits": 1},
        {"counter_ref": "A", "interval_start": naive("2026-10-25T02:30"), "interval_minutes": 15, "entries": 5,
         "exits": None},
        {"counter_ref": "A", "interval_start": "2026-10-25T02:30:00+00:00", "interval_minutes": 15, "entries": 6,
         "exits": 0},
    ]  # fmt: skip

    rows = to_batch_rows(records, PARIS)

    assert [r["interval_start"] for r in rows] == [
        "2026-03-29T01:45:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-10-25T02:30:00+02:00",  # first 02:30 of counter A: summer time
        "2026-10-25T02:30:00+02:00",  # counter B's own first 02:30
        "2026-10-25T02:30:00+01:00",  # counter A's second 02:30: winter time
        "2026-10-25T02:30:00+00:00",  # an offset in the database is kept as it is
    ]
    assert rows[4]["exits"] is None


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 60.0), (30, 60.0)]:
        draws = [backoff_delay(attempt, 2.0, 60.0, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8 and min(draws) < ceiling * 0.2  # spread, so connectors do not sync up


def test_outbox_moves_the_cursor_only_with_its_batch_and_survives_reopening(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.enqueue("b1", "gates", 2, b'{"rows": 2}', 17)
    with pytest.raises(Exception, match="UNIQUE"):
        outbox.enqueue("b1", "gates", 3, b"{}", 99)  # a failed enqueue must not move the cursor
    assert outbox.cursor("gates", 0) == 17
    outbox.close()

    reopened = Outbox(tmp_path / "outbox.sqlite3")
    assert [(p.batch_id, p.rows) for p in reopened.pending()] == [("b1", 2)]
    reopened.enqueue("b2", "gates", 1, b"{}", "2026-11-20T10:00:00")
    reopened.acknowledge("b1", {"status": "accepted"})
    reopened.reject("b2", "HTTP 422: counter_ref 'X' is unknown")
    assert reopened.pending() == []
    assert reopened.counts() == {"rejected": 1}
    assert reopened.cursor("gates", 0) == "2026-11-20T10:00:00"
    assert reopened.cursor("other", 5) == 5
