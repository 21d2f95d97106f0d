"""The connector batch's two checks against each other: the msgspec decoder that checks every batch at the
door (check_batch_fast) must never accept a body that the pydantic model (check_batch_model, the
reference, whose words every refusal uses) refuses, and must read the same batch from it. A body the
fast check refuses goes through the model, so the service accepts exactly what the model accepts.

Inputs: batches built field by field from valid and hostile values (times in every ISO 8601 spelling,
counts as floats, strings, booleans and huge numbers, unknown fields, missing fields, batch ids with a
final newline...), serialized as JSON, sometimes with duplicate keys or bytes mutated.
FOOTFALL_FUZZ_EXAMPLES sets the examples per test (`make fuzz` runs thousands).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from footfall.api.batches import check_batch, check_batch_fast, check_batch_model
from footfall.config import Site, load_site
from footfall.errors import Refused

EXAMPLES = int(os.environ.get("FOOTFALL_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES * 8,  # cheap examples (no I/O): many more than the decoders' fuzz
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FOOTFALL_FUZZ_RANDOM") is None,
)
SITE = "fuzz-site"
REFS = ["GATE-A", "GATE-B"]
TIMES = [
    "2026-11-20T10:00:00+01:00", "2026-11-20t10:00:00+01:00", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00z",
    "2026-11-20 10:00:00+01:00", "2026-11-20T10:00:00.5+01:00", "2026-11-20T10:00:00.1234567+01:00",
    "2026-11-20T23:59:60Z", "2026-11-20T10:00+01:00", "2026-11-20T10:00:00+0100", "2026-11-20T10:00:00+01",
    "2026-11-20T10:00:00-00:00", "2026-11-20T10:00:00+24:00", "2026-11-20T10:00:00+23:59", "2026-11-20T24:00:00Z",
    "2026-02-29T10:00:00Z", "2028-02-29T10:00:00Z", "2026-11-20T10:00:00,5Z", "2026-11-20_10:00:00Z",
    "2026-11-20T10:00:00", "2026-11-20", "20261120T100000Z", "2026-11-20T10:00:00+01:00\n", " 2026-11-20T10:00:00Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "2026-11-20T10:00:00.000000000001Z",
]  # fmt: skip
HOSTILE = [None, True, False, -1, 0, 1, 15, 60, 1440, 1441, 2**63, -(2**63), 10**30, 1.0, 15.0, 1.5, 1e2, "15", "", []]


@pytest.fixture(scope="module", params=["15m", "1h"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Site:
    import yaml

    path = tmp_path_factory.mktemp("sites") / f"{SITE}.yaml"
    doc = {
        "id": SITE,
        "name": "Fuzz",
        "timezone": "Europe/Paris",
        "counters": [{"id": r.lower(), "ref": r} for r in REFS],
        "source": {"kind": "push", "preset": "footfall_connector", "options": {"interval": request.param}},
    }
    path.write_text(yaml.safe_dump(doc))
    return load_site(path)


def value(draw: st.DrawFn, good: Any, *others: st.SearchStrategy) -> Any:
    """Mostly the good value (so that many batches pass and the batches read are compared), else another."""
    if draw(st.integers(0, 19)) < 19:
        return good
    return draw(st.one_of(st.sampled_from(HOSTILE), *others))


def reshape(draw: st.DrawFn, doc: dict[str, Any], unknown: str) -> None:
    """Now and then a field dropped or an unknown one added."""
    if draw(st.integers(0, 9)) == 0:
        key = draw(st.sampled_from([*doc, unknown]))
        if key in doc and draw(st.booleans()):
            del doc[key]
        else:
            doc[key] = 1


@st.composite
def batches(draw: st.DrawFn) -> bytes:
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        row = {
            "counter_ref": value(draw, draw(st.sampled_from(REFS)), st.text(max_size=4), st.just("NOPE")),
            "interval_start": value(draw, "2026-11-20T10:00:00+01:00", st.sampled_from(TIMES)),
            "interval_minutes": value(draw, draw(st.sampled_from([15, 60]))),
            "entries": value(draw, draw(st.integers(0, 500))),
            "exits": value(draw, draw(st.integers(0, 500))),
        }
        reshape(draw, row, "badge_id")
        rows.append(row)
    batch_ids = st.sampled_from(["b-1\n", "", "x" * 65, "x" * 64, "é", "a b", "a/b", "A.b:c-d_e"])
    doc: dict[str, Any] = {
        "batch_id": value(draw, "batch-1", batch_ids),
        "site_id": value(draw, SITE, st.just("other-site")),
        "rows": value(draw, rows, st.just({"0": rows})),
        "cursor": draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3))),
        "query": value(draw, "gates", st.just("q" * 201), st.just("q" * 200)),
    }
    reshape(draw, doc, "holders")
    body = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    trick = draw(st.sampled_from(["none"] * 6 + ["duplicate", "flip", "cut", "space"]))
    if trick == "duplicate":  # the same key twice: both must keep the same one
        body = body.replace(b'{"batch_id": ', b'{"batch_id": "dup", "batch_id": ', 1)
    elif trick == "flip" and body:
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    elif trick == "cut":
        body = body[: draw(st.integers(0, len(body)))]
    elif trick == "space":
        body = b" \n" + body + b"\t\r\n"
    return body


def agree(body: bytes, site: Site) -> bool:
    """True when the fast check accepted the body (and read it as the model does)."""
    fast = check_batch_fast(body, site, "application/json")
    try:
        model = check_batch_model(body, site, "application/json")
    except Refused as refused:
        assert fast is None, f"fast check accepted what the model refuses ({refused.reason}): {body!r}"
        assert check_batch_or_reason(body, site) == refused.reason
        return False
    if fast is None:
        assert check_batch(body, site, "application/json") == model  # the model accepts it after all
        return False
    assert (fast.batch_id, fast.rows) == (model.batch_id, model.rows), body
    for ours, theirs in (
        (fast.first_interval, model.first_interval),
        (fast.last_interval_end, model.last_interval_end),
    ):
        # the same instant; beyond microseconds msgspec rounds where pydantic truncates
        assert (ours is None) == (theirs is None) and (ours is None or abs(ours - theirs) <= timedelta(microseconds=1))
    return True


def check_batch_or_reason(body: bytes, site: Site) -> str:
    try:
        check_batch(body, site, "application/json")
    except Refused as refused:
        return refused.reason
    return "accepted"


@FUZZ
@given(body=batches())
def test_the_fast_check_never_accepts_what_the_model_refuses(site: Site, body: bytes) -> None:
    agree(body, site)


@pytest.mark.parametrize("time", TIMES)
def test_every_spelling_of_a_time_is_taken_or_refused_as_the_model_does(site: Site, time: str) -> None:
    minutes = 15 if site.options().get("interval") == "15m" else 60
    row = {"counter_ref": "GATE-A", "interval_start": time, "interval_minutes": minutes, "entries": 1, "exits": 2}
    body = json.dumps({"batch_id": "b", "site_id": SITE, "rows": [row]})
    agree(body.encode(), site)


def test_a_plain_batch_takes_the_fast_path(site: Site) -> None:
    minutes = 15 if site.options().get("interval") == "15m" else 60
    body = json.dumps({"batch_id": "b", "site_id": SITE, "cursor": 3, "query": "gates", "rows": [
        {"counter_ref": ref, "interval_start": f"2026-11-20T1{n}:00:00+01:00", "interval_minutes": minutes,
         "entries": n, "exits": None} for n, ref in enumerate(REFS * 2)]})  # fmt: skip
    assert agree(body.encode(), site)
