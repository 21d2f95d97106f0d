"""Vendor devices that push (Xovis JSON, Brickstream XML) through the ingestion API to the warehouse.

The same HTTPS service the connector uses lands the device's body verbatim; the site's DAG run
then parses it with the site's preset and merges its intervals, exactly as for connector batches.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import test_api
from sqlalchemy import select
from test_api import post

from footfall.api.tokens import create_token
from footfall.pipeline import run_site_window
from footfall.warehouse import schema

api, tls = test_api.api, test_api.tls
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "presets"
CASES = {
    "xovis_count_push": ("application/json", {"1": "1", "2": "2"}),
    "brickstream_xml": ("application/xml", {"bs1-0": "BS1:0", "bs1-1": "BS1:1"}),
}


def vendor_site(site_id: str, preset: str, counters: dict[str, str]) -> dict:
    return {
        "id": site_id,
        "name": f"Pushing site {site_id}",
        "timezone": "Europe/Paris",
        "counters": [{"id": cid, "ref": ref} for cid, ref in counters.items()],
        "source": {"kind": "push", "preset": preset, "lookback_minutes": 30, "options": {"max_late_days": 400}},
    }


@pytest.fixture
def push_engine(db_url, warehouse, registry, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    for preset, (_, counters) in CASES.items():
        registry.write(vendor_site(preset.replace("_", "-"), preset, counters))
    return warehouse(db_url)


def expected_rows(preset: str) -> set[tuple]:
    rows = csv.DictReader(io.StringIO((FIXTURES / preset / "expected.csv").read_text(encoding="utf-8")))
    return {
        (
            r["counter_id"],
            datetime.fromisoformat(r["interval_start"].replace("Z", "+00:00")),
            int(r["entries"]),
            int(r["exits"]),
        )
        for r in rows
    }


@pytest.mark.parametrize("preset", sorted(CASES))
def test_vendor_push_lands_and_the_site_run_loads_it(api, tls, push_engine, preset):
    site_id = preset.replace("_", "-")
    content_type, _ = CASES[preset]
    token = create_token(push_engine, site_id, "device")[1]
    bodies = sorted(p for p in (FIXTURES / preset).iterdir() if p.name not in ("case.yaml", "expected.csv"))

    for body in bodies:
        answer = post(
            api, tls, f"/v1/push/{preset}/{site_id}", body.read_bytes(), token, **{"Content-Type": content_type}
        )
        assert answer.status_code in (200, 201, 202), answer.text

    now = datetime.now(UTC)
    run_site_window(site_id, now - timedelta(minutes=5), now + timedelta(minutes=1), run_id="push-test")

    with push_engine.connect() as conn:
        loaded = {
            (r.counter_id, r.interval_start, r.entries, r.exits)
            for r in conn.execute(select(schema.count_interval).where(schema.count_interval.c.site_id == site_id))
        }
    assert loaded == expected_rows(preset)


def test_vendor_push_for_another_sites_preset_is_refused_and_nothing_lands(api, tls, push_engine):
    token = create_token(push_engine, "xovis-count-push", "device")[1]
    body = (FIXTURES / "xovis_count_push" / "1.json").read_bytes()

    answer = post(
        api, tls, "/v1/push/xovis_count_push/brickstream-xml", body, token, **{"Content-Type": "application/json"}
    )

    assert 400 <= answer.status_code < 500
    assert "reason" in answer.json()
    with push_engine.connect() as conn:
        assert conn.execute(select(schema.raw_payload)).first() is None
