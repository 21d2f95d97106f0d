"""Malformed bytes: every way a body can be broken comes out of normalize as a ParseError naming the site,
the source, the reason and the payload at fault (whose raw body stays kept), never as a raw csv.Error,
LookupError, AttributeError or the like that would crash the run without saying which body or why."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from footfall import decode
from footfall.config import Site, load_presets
from footfall.errors import ParseError
from footfall.normalize import Payload, normalize_counts, parse_payload, site_of_bodies

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "presets"
PARSE_FAMILY = (ValueError, TypeError, OverflowError, RecursionError)  # what parse_payload's callers catch

CSV_GOOD = b"Interval start,In,Out\n2026-11-20 10:00,4,1\n2026-11-20 10:15,6,2\n"
XML_GOOD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<tvpc serial="R1"><data>'
    b'<item timestamp="20261120100000" in="4" out="1"/></data></tvpc>'
)
JSON_GOOD = json.dumps({"serial": "R1", "data": [{"timestamp": "20261120100000", "in": 1, "out": 2}]}).encode()


def site_for(make_site, kind: str, preset: str) -> Site:
    return make_site(
        counters=[{"id": "main-door", "ref": "R1"}],
        source={"kind": kind, "preset": preset, "connection_id": "c", "options": {"res": "15m"}},
    )


SOURCES = {
    "csv": ("file", "axis_tvpc_export_csv", CSV_GOOD),
    "xml": ("http_xml", "axis_tvpc_export_xml", XML_GOOD),
    "json": ("http_json", "axis_tvpc_export_json", JSON_GOOD),
}

CASES = [
    # CSV: csv.Error is not a ValueError; these used to escape raw.
    ("csv", b"a,b\rc,d", "not CSV: line 1: a carriage return (\\r) inside an unquoted field"),
    ("csv", b"Interval start,In,Out\n2026-11-20 10:00,4\r5,1\n", "not CSV: line 2: a carriage return"),
    ("csv", CSV_GOOD.replace(b"\n", b"\r"), "a lone \\r is not a line break"),
    ("csv", b'Interval start,In,Out\n"' + b"x" * 200_000 + b'",1,2\n', "not CSV: line 2: field larger than"),
    ("csv", "Intervalle début,In,Out\n".encode("latin-1"), "body is not UTF-8 text"),
    ("csv", b"Interval start,In,Out\n2026-11-20 10:00,4\n", "CSV line 2: 2 cells, the header has 3"),
    ("csv", b"Interval start,In,Out\n2026-11-20 10:00,lots,1\n", "CSV line 2: In: count 'lots' is not a number"),
    # XML: Python's codec lookup raises LookupError (not a ValueError) for a declared encoding it lacks.
    ("xml", b'<?xml version="1.0" encoding="nope-8"?><tvpc/>', "not XML: unknown encoding: nope-8"),
    ("xml", b'<?xml version="1.0" encoding="rot13"?><tvpc/>', "not XML: 'rot13' is not a text encoding"),
    ("xml", b'<?xml version="1.0" encoding="utf-7"?><tvpc/>', "not XML: multi-byte encodings are not supported"),
    ("xml", XML_GOOD[:70], "not XML: unclosed token: line 2"),
    ("xml", b'<!DOCTYPE x [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]><tvpc>&b;</tvpc>', "XML refused"),
    ("xml", XML_GOOD.replace(b'in="4"', b'in="four"'), "record 0: in: count 'four' is not a number"),
    # JSON: too deep for the C scanner (RecursionError), a number Python will not convert (ValueError).
    ("json", b"[" * 100_000 + b"]" * 100_000, "not JSON: nested too deeply to read"),
    ("json", JSON_GOOD.replace(b'"in": 1', b'"in": ' + b"9" * 5000), "not JSON: Exceeds the limit (4300 digits)"),
    ("json", JSON_GOOD[:-7], "not JSON: Unterminated string"),
    ("json", JSON_GOOD.replace(b'"in": 1', b'"in": [1]'), "record 0: in: count [1] is not a number"),
]


@pytest.mark.parametrize(("fmt", "body", "reason"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_malformed_body_is_a_parse_error_naming_site_source_reason_and_payload(make_site, fmt, body, reason):
    kind, preset, good = SOURCES[fmt]
    site = site_for(make_site, kind, preset)
    assert len(normalize_counts(site, [Payload(1, good)])) >= 1  # the site reads a good body

    with pytest.raises(ParseError) as info:
        normalize_counts(site, [Payload(1, good), Payload(42, body)])

    err = info.value
    assert (err.site_id, err.source, err.stage) == ("test-site", f"{kind}:{preset}", "normalize")
    assert err.payload_ids == [42]  # the body at fault, whose raw bytes stay in raw_payload
    assert reason in err.reason, err.reason
    assert str(err).startswith(f"site test-site, source {kind}:{preset}: normalize failed: ")
    assert str(err).endswith("(raw payload 42 kept)")


@pytest.mark.parametrize(("fmt", "body", "reason"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_parse_payload_raises_a_value_error_with_the_same_reason(make_site, fmt, body, reason):
    """The push API's span reader catches the ValueError family: a raw csv.Error would fail its request."""
    kind, preset, _ = SOURCES[fmt]
    with pytest.raises(PARSE_FAMILY) as info:
        parse_payload(site_for(make_site, kind, preset), Payload(42, body))
    assert reason in str(info.value)


def test_lone_carriage_return_from_the_csv_reader_itself():
    """decode_csv's csv.reader path (the split reader steps aside on a lone CR) words csv.Error."""
    for plain in (True, False):
        with pytest.raises(ValueError, match=r"not CSV: line 1: a carriage return"):
            decode.decode_csv(b"a,b\rc,d", plain=plain)
    assert decode.decode_csv(b"a,b\r\nc,d\r\n").columns == {"a": ["c"], "b": ["d"]}  # CRLF still reads


def test_hook_meeting_an_unexpected_shape_is_a_parse_error(make_site):
    site = make_site(
        counters=[{"id": "c7", "ref": "7"}],
        source={"kind": "push", "preset": "xovis_live_push", "options": {}},
    )
    frame = {"time": 1774745700000, "events": [{"category": "COUNT", "attributes": ["not", "a", "mapping"]}]}
    body = json.dumps({"live_data": {"sensor_info": {}, "frames": [frame]}}).encode()
    with pytest.raises(ParseError) as info:
        normalize_counts(site, [Payload(5, body)])
    assert info.value.payload_ids == [5]
    assert "wrong shape for hook xovis_live_frames: AttributeError" in info.value.reason


# --- fuzz: garbled versions of every preset's real fixture --------------------------------------------

HOSTILE = [b"\r", b"\x00", b"\xff", b"\xc3", b'"', b",", b";", b"<", b">", b"{", b"}", b"[", b"]", b"\r\n", b"NaN",
           b"-1e999", b"9" * 40, b"&amp;", b"\xef\xbb\xbf", b"\t", b"x", b"-", b":", b"+25:00"]  # fmt: skip
SWAPS = [[], {}, "x", "", -1, 1.5, None, True, [1], {"a": 1}, "20261120100000", 10**30, "1e999"]


def sample(name: str) -> tuple[list[bytes], dict]:
    folder = FIXTURES / name
    case = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8")) or {}
    bodies = [p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in ("case.yaml", "expected.csv")]
    return bodies, case


def _json_paths(node: object, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _json_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _json_paths(v, (*path, i))
    return out


def garbled(body: bytes, rng: random.Random) -> list[bytes]:
    """Truncations, hostile bytes inserted or overwritten, bit flips, and (JSON) values of another type."""
    n = len(body)
    out = [body[:k] for k in sorted({0, 1, n // 2, n - 1, *(rng.randrange(n) for _ in range(8))})]
    for junk in HOSTILE:  # each one, somewhere
        i = rng.randrange(n)
        out += [body[:i] + junk + body[i:], body[:i] + junk + body[i + 1 :]]
    for _ in range(6):
        i = rng.randrange(n)
        out.append(body[:i] + bytes([body[i] ^ (1 << rng.randrange(8))]) + body[i + 1 :])
    try:
        doc = json.loads(body)
    except ValueError:
        return out
    for _ in range(40):
        changed = json.loads(body)
        path = rng.choice(_json_paths(changed)[1:])
        node = changed
        for key in path[:-1]:
            node = node[key]
        if rng.random() < 0.3:
            del node[path[-1]]
        else:
            node[path[-1]] = rng.choice(SWAPS)
        out.append(json.dumps(changed).encode())
    assert doc is not None
    return out


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")  # pandas' per-element date guess
@pytest.mark.parametrize("name", sorted(load_presets()))
def test_garbled_fixtures_give_only_parse_errors(name):
    bodies, case = sample(name)
    received = datetime.fromisoformat(case["received_at"]) if case.get("received_at") else None
    site = site_of_bodies(
        name, bodies, site_id="fuzz", timezone=case.get("timezone", "UTC"), options=case.get("options") or {},
        received_at=received,
    )  # fmt: skip
    rng = random.Random(f"{name}-20261120")
    failures = 0
    for at, body in enumerate(bodies):
        for bad in garbled(body, rng):
            batch = [Payload(i + 1, b, received_at=received) for i, b in enumerate(bodies)]
            batch[at] = Payload(at + 1, bad, received_at=received)
            try:
                normalize_counts(site, batch)
            except ParseError as err:
                failures += 1
                assert err.site_id == "fuzz" and err.source == f"{site.preset.label_kind}:{name}"
                assert err.payload_ids == [at + 1], (bad[:200], err)  # the garbled body, not a good one
                assert err.reason
            with contextlib.suppress(*PARSE_FAMILY):  # the push API's span reader catches these
                parse_payload(site, Payload(99, bad, received_at=received))
    assert failures > 0  # the garbling did break bodies
