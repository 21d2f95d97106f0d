"""A push site's DAG run: payloads received in its window are normalized, validated and merged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import test_api
from sqlalchemy import select, update
from test_api import SITE, batch, connector_site, post

from footfall.errors import ParseError
from footfall.pipeline import run_site_window
from footfall.warehouse import schema

# The HTTPS service, warehouse and token fixtures are shared with test_api.
api, push_engine, tls, token = test_api.api, test_api.push_engine, test_api.tls, test_api.token


def row(ref: str, start: str, entries: int, exits: int) -> dict:
    return {"counter_ref": ref, "interval_start": start, "interval_minutes": 15, "entries": entries, "exits": exits}


# Both Paris DST days: spring 01:45 (+01:00) is followed by 03:00 (+02:00); in autumn the wall
# clock shows 02:30 twice, first in summer time (+02:00) then in winter time (+01:00).
DST_ROWS = [
    row("GATE-A", "2026-03-29T01:45:00+01:00", 5, 1),
    row("GATE-A", "2026-03-29T03:00:00+02:00", 6, 2),
    row("GATE-B", "2026-10-25T02:30:00+02:00", 7, 3),
    row("GATE-B", "2026-10-25T02:30:00+01:00", 8, 4),
]
EXPECTED = {
    ("gate-a", "2026-03-29T00:45:00+00:00"): (5, 1),
    ("gate-a", "2026-03-29T01:00:00+00:00"): (6, 2),
    ("gate-b", "2026-10-25T00:30:00+00:00"): (7, 3),
    ("gate-b", "2026-10-25T01:30:00+00:00"): (8, 4),
}


@pytest.fixture
def old_intervals_allowed(registry):
    """The DST days are months before today; allow intervals that old to arrive."""
    registry.write(connector_site(SITE, max_late_days=400))


def counts(engine) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.count_interval)).mappings().all()
    return {(r["counter_id"], r["interval_start"].isoformat()): (r["entries"], r["exits"]) for r in rows}


def full_table(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(schema.count_interval).order_by("counter_id", "interval_start"))]


def run_now(run_id: str = "test") -> dict:
    now = datetime.now(UTC)
    return run_site_window(SITE, now - timedelta(minutes=5), now + timedelta(minutes=1), run_id=run_id)


def age_payloads(engine, hours: int) -> None:
    """Pretend everything landed so far arrived `hours` ago (outside the next run's window)."""
    with engine.begin() as conn:
        conn.execute(update(schema.raw_payload).values(received_at=datetime.now(UTC) - timedelta(hours=hours)))


def test_run_merges_what_was_received_and_latest_received_wins(api, tls, token, push_engine, old_intervals_allowed):
    assert post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=DST_ROWS)).encode(), token).ok

    summary = run_now()
    first = full_table(push_engine)
    run_now()  # the same window again changes nothing

    assert summary["rows_read"] == 4
    assert counts(push_engine) == EXPECTED
    assert full_table(push_engine) == first

    # A later batch revises one interval only: the others stay (a push is not the whole window).
    age_payloads(push_engine, hours=2)
    revised = [row("GATE-A", "2026-03-29T01:45:00+01:00", 9, 1)]
    assert post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=revised)).encode(), token).ok
    run_now()
    assert counts(push_engine) == {**EXPECTED, ("gate-a", "2026-03-29T00:45:00+00:00"): (9, 1)}

    # Re-running the older run (a backfill) cannot put the older value back.
    then = datetime.now(UTC) - timedelta(hours=2)
    run_site_window(SITE, then - timedelta(minutes=5), then + timedelta(minutes=5), run_id="backfill")
    assert counts(push_engine)[("gate-a", "2026-03-29T00:45:00+00:00")] == (9, 1)


def test_a_bad_pushed_body_fails_the_run_naming_site_and_source_and_loads_nothing(
    api, tls, token, push_engine, old_intervals_allowed
):
    good = batch(rows=DST_ROWS[:1])
    assert post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(good).encode(), token).ok
    bad = json.dumps({"not_rows": []}).encode()  # JSON, but not the preset's shape: found by normalize
    assert post(api, tls, f"/v1/push/footfall_connector/{SITE}", bad, token).ok

    with pytest.raises(ParseError) as failure:
        run_now()

    assert f"site {SITE}, source push:footfall_connector" in str(failure.value)
    assert "'rows'" in str(failure.value)
    assert counts(push_engine) == {}
    with push_engine.connect() as conn:
        errors = (
            conn.execute(select(schema.raw_payload.c.error).order_by(schema.raw_payload.c.payload_id)).scalars().all()
        )
        run = conn.execute(select(schema.sync_run)).mappings().one()
    assert errors[0] is None and "normalize" in errors[1]  # the bad body is marked, and kept
    assert (run["outcome"], run["stage"]) == ("failed", "normalize")


def test_intervals_too_old_or_in_the_future_fail_validation(api, tls, token, push_engine):
    future = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    rows = [row("GATE-A", "2026-01-05T10:00:00+01:00", 1, 1), row("GATE-A", future.isoformat(), 1, 1)]
    assert post(api, tls, f"/v1/sites/{SITE}/batches", json.dumps(batch(rows=rows)).encode(), token).ok

    with pytest.raises(Exception, match="interval_start") as failure:
        run_now()

    assert f"site {SITE}" in str(failure.value)
    assert counts(push_engine) == {}
