"""A raw body is stored once per (site, sha256, counter): two doors can answer the same bytes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select

from footfall.pipeline import sync_window
from footfall.replay import replay
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.landing import ensure_site, land_bodies, land_body

SPACES = {"hall": "spc_hall", "lab": "spc_lab"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def payloads(engine) -> list[tuple[int, str | None, str]]:
    with engine.connect() as conn:
        t = schema.raw_payload.c
        return [tuple(r) for r in conn.execute(select(t.payload_id, t.counter_ref, t.sha256).order_by(t.payload_id))]


def test_the_same_body_is_one_payload_per_counter(db_url, warehouse, make_site):
    engine = warehouse(db_url)
    site = make_site()
    now = datetime.now(UTC)

    def land(*refs: str | None) -> list[int]:
        with engine.begin() as conn:
            ensure_site(conn, site)
            bodies = [(b"same bytes", {"counter_ref": ref}) for ref in refs]
            return land_bodies(conn, site_id=site.id, source="test", received_at=now, bodies=bodies)

    a, b, none, a_again, none_again = land("A", "B", None, "A", None)
    assert len({a, b, none}) == 3 and (a_again, none_again) == (a, none)  # a repeat within one batch too
    assert land("B", "A", None, "") == [b, a, none, none]  # later landings find theirs; '' is no counter, as NULL
    with engine.begin() as conn:
        other = land_body(conn, site_id=site.id, source="test", body=b"other bytes", received_at=now)
    assert other not in (a, b, none)
    digest = hashlib.sha256(b"same bytes").hexdigest()
    assert [(ref, sha == digest) for _, ref, sha in payloads(engine)] == [
        ("A", True), ("B", True), (None, True), (None, False)
    ]  # fmt: skip


def test_two_spaces_answering_the_same_bytes_keep_two_payloads(simulator, make_site, db_url, warehouse, monkeypatch):
    """Density answers do not name their space; in a closed night both spaces answer the same zeros."""
    monkeypatch.setenv("AIRFLOW_CONN_DENSITY", f"{simulator.url}/devices/density-account")
    site = make_site(
        counters=[{"id": cid, "ref": ref} for cid, ref in SPACES.items()],
        source={"kind": "http_json", "preset": "density_counts", "connection_id": "density"},
    )
    engine = warehouse(db_url)
    night = Window(utc(2026, 11, 20, 1, 0), utc(2026, 11, 20, 1, 30))  # 02:00-02:30 in Paris

    first = sync_window(site, night, engine=engine)

    landed = payloads(engine)
    assert [ref for _, ref, _ in landed] == ["spc_hall", "spc_lab"]
    assert landed[0][2] == landed[1][2]  # byte for byte the same answer
    expected = {(cid, utc(2026, 11, 20, 1, m)): (0, 0) for cid in SPACES for m in range(0, 30, 5)}

    def loaded() -> dict:
        with engine.connect() as conn:
            rows = conn.execute(select(schema.count_interval)).mappings().all()
        return {(r["counter_id"], r["interval_start"]): (r["entries"], r["exits"]) for r in rows}

    assert loaded() == expected and sorted(first.payload_ids) == [p for p, _, _ in landed]
    assert sorted(sync_window(site, night, engine=engine).payload_ids) == sorted(first.payload_ids)  # re-read: known
    assert payloads(engine) == landed

    simulator.stop()  # replay reads only what was landed
    with engine.begin() as conn:
        conn.execute(schema.count_interval.delete())
    (result,) = replay(site, night, engine=engine)
    assert result.rows_loaded == len(expected) and loaded() == expected
