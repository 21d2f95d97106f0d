"""schemathesis against the service's own OpenAPI document (ingestion and sharing routes): generated
requests, valid and invalid, with and without a real token, must never get a 5xx nor an answer the
document does not describe.

FOOTFALL_FUZZ_EXAMPLES sets the examples per operation (default: a quick run for the suite; `make fuzz`
runs thousands and reports them). FOOTFALL_FUZZ_REPORT names a JSON file that gets the status counts.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_api import OTHER, SITE, batch, connector_site

from footfall.api.app import create_app
from footfall.api.tokens import create_token

EXAMPLES = int(os.environ.get("FOOTFALL_FUZZ_EXAMPLES", "25"))
STATUSES: Counter[str] = Counter()


def _labels() -> list[str]:
    """The document's operations (the app is only built, never called, for this)."""
    spec = schemathesis.openapi.from_asgi("/openapi.json", create_app())
    return sorted(op.ok().label for op in spec.get_all_operations())


@pytest.fixture
def api_schema(sqlite_url, warehouse, registry, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)
    monkeypatch.setenv("FOOTFALL_API_AUTH_FAILURES_PER_MINUTE", "1000000")  # the limiter has its own tests
    registry.write(connector_site(SITE))
    registry.write(connector_site(OTHER, refs=("OTHER-1",)))
    engine = warehouse(sqlite_url)
    app = create_app(engine)
    app.state.fuzz_token = create_token(engine, SITE)[1]
    return schemathesis.openapi.from_asgi("/openapi.json", app), app.state.fuzz_token


def _aimed(case, token: str) -> None:
    """Aim part of the cases at the real site, with its real token (random ids only ever get 401/403)."""
    knob = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode()) % 4
    if knob == 0:
        return  # as generated (no or a random Authorization header)
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    params = case.path_parameters or {}
    if "site_id" in params and knob >= 2:
        params["site_id"] = SITE
    if "preset" in params and knob == 3:
        params["preset"] = "footfall_connector"
    if knob == 3 and case.operation.path == "/v1/sites/{site_id}/batches" and isinstance(case.body, dict):
        case.body = {**batch(), **{k: v for k, v in case.body.items() if k not in ("site_id", "batch_id")}}


@pytest.mark.parametrize("label", _labels())
def test_no_5xx_and_every_answer_is_in_the_document(api_schema, label):
    spec, token = api_schema
    operation = next(op.ok() for op in spec.get_all_operations() if op.ok().label == label)
    seen: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=operation.as_strategy())
    def run(case) -> None:
        _aimed(case, token)
        response = case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])
        seen[str(response.status_code)] += 1
        assert response.status_code < 500, response.text

    try:
        run()
    finally:
        STATUSES.update(seen)
    assert sum(seen.values()) >= 1  # the operation was really called (one with no parameters is one case)


def teardown_module() -> None:
    report = os.environ.get("FOOTFALL_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(dict(STATUSES)), encoding="utf-8")
