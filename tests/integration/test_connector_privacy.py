"""Only counts leave a site: the connector refuses a query whose result carries more than the count
schema (badge ids, card holders' names), names the columns, and sends nothing.

The site database is real (SQLite, MariaDB): a gate system's table that logs badge ids and names
beside the counts, as some do; the connector is a real subprocess against the real service.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_api
import test_connector
from sqlalchemy import func, select, text
from test_api import SITE
from test_connector import connector, write_config

from footfall.api.tokens import create_token
from footfall.warehouse import schema

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "connector" / "src"))

from footfall_connector.outbox import Outbox

tls, push_engine = test_api.tls, test_api.push_engine  # shared fixtures
warehouse_engine, service, config_folder = (
    test_connector.warehouse_engine,
    test_connector.service,
    test_connector.config_folder,
)

LEAKY_QUERY = (
    "SELECT id AS row_id, gate AS counter_ref, period_start AS interval_start, minutes AS interval_minutes, "
    "ins AS entries, outs AS exits, badge_id, holder_name FROM {table} WHERE id > :cursor ORDER BY id"
)


class BadgeTable(test_connector.GateTable):
    """A gate system's log with personal data beside each count row."""

    def __init__(self, url: str, table: str) -> None:
        super().__init__(url, table, ", badge_id VARCHAR(20) NOT NULL, holder_name VARCHAR(80) NOT NULL")
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO {table} (gate, period_start, minutes, ins, outs, badge_id, holder_name) "
                    "VALUES (:g, :p, 15, :i, :o, :b, :n)"
                ),
                [
                    {"g": "GATE-A", "p": "2026-11-02 09:00:00", "i": 3, "o": 1, "b": "B-100234", "n": "Ada L."},
                    {"g": "GATE-B", "p": "2026-11-02 09:00:00", "i": 2, "o": 0, "b": "B-100977", "n": "Alan T."},
                ],
            )


@pytest.fixture(params=["sqlite", "mariadb"])
def badge_db(request, tmp_path) -> Iterator[BadgeTable]:
    table = BadgeTable(
        test_connector.site_db_url(request.param, request, tmp_path), f"badge_log_{uuid.uuid4().hex[:8]}"
    )
    yield table
    table.drop()


def leaky_config(folder: Path, db: BadgeTable, server_url: str, token: str) -> Path:
    config = write_config(folder, db.url, server_url, db, token)
    good = test_connector.QUERY.format(table=db.table)
    text_ = config.read_text(encoding="utf-8")
    assert good in text_
    config.write_text(text_.replace(good, LEAKY_QUERY.format(table=db.table)), encoding="utf-8")
    return config


def test_a_query_returning_badge_ids_and_names_is_refused_and_nothing_leaves(
    badge_db, service, warehouse_engine, config_folder
):
    server, app = service
    _, token = create_token(warehouse_engine, SITE)
    config = leaky_config(config_folder, badge_db, server.url, token)

    result = connector(config, "once", "--attempts", "1")

    assert result.returncode == 1
    log = (config_folder / "logs" / "connector.log").read_text(encoding="utf-8")
    assert "badge_id, holder_name" in log and "not part of the count schema" in log
    assert "B-100234" not in log and "Ada L." not in log  # the refusal names columns, never their values
    assert app.batch_posts == 0  # nothing was sent ...
    outbox = Outbox(config_folder / "state" / "outbox.sqlite3")
    try:
        assert outbox.counts() == {} and outbox.pending() == []  # ... nor queued to be sent later
        assert outbox.cursor("gates", "untouched") == "untouched"
    finally:
        outbox.close()
    with warehouse_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.raw_payload)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(schema.ingest_batch)).scalar_one() == 0


def test_check_names_the_extra_columns(badge_db, service, warehouse_engine, config_folder):
    server, app = service
    _, token = create_token(warehouse_engine, SITE)
    config = leaky_config(config_folder, badge_db, server.url, token)

    result = connector(config, "check")

    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if "query gates" in x)
    assert line.startswith("FAILED") and "badge_id, holder_name" in line
    assert app.batch_posts == 0
