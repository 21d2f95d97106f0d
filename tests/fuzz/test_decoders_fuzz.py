"""Hostile bodies against every decoder and every preset: the only exception is the documented parse
error (ValueError from the decoders, footfall's SiteDataError from the interpreter), every input ends
within a bounded time, and no input makes the process hold more than a bounded amount of memory.

Inputs are the presets' own sample bodies mutated (bytes flipped, cut, repeated, spliced with other
samples), arbitrary bytes, and structure-aware documents (random JSON values, deep nesting, huge
numbers). FOOTFALL_FUZZ_EXAMPLES sets the examples per test (default: a quick run for the suite;
`make fuzz` runs thousands).
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from footfall.config import load_presets
from footfall.decode import decode
from footfall.errors import SiteDataError
from footfall.normalize import parse_bodies

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "presets"
EXAMPLES = int(os.environ.get("FOOTFALL_FUZZ_EXAMPLES", "25"))
SECONDS_PER_INPUT = 5.0  # generous: the machine running the suite is shared
PEAK_BYTES = 64 * 2**20  # traced Python allocations while one input is read, whatever the input
DOCUMENTED = (ValueError, SiteDataError)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # timed below, per input, with the bound stated there
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    derandomize=os.environ.get("FOOTFALL_FUZZ_RANDOM") is None,  # the suite is repeatable; `make fuzz` is not
)


def samples(name: str) -> tuple[list[bytes], dict]:
    folder = FIXTURES / name
    case = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8")) or {}
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in ("case.yaml", "expected.csv")], case


PRESETS = sorted(load_presets())
ALL_SAMPLES = [body for name in PRESETS for body in samples(name)[0]]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A sample body, mutated a few times."""
    body = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "splice", "delete"]))
        at = draw(st.integers(0, max(0, len(body) - 1)))
        if kind == "flip" and body:
            body[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del body[at:]
        elif kind == "insert":
            body[at:at] = draw(st.sampled_from([b"{", b"[", b"<", b'"', b",", b"\n", b";", b"\xff\xfe", b"&lt;",
                                                b"-1", b"1e999", b"NaN", b"null", b"<![CDATA[", b"\x00"]))  # fmt: skip
        elif kind == "repeat":
            end = draw(st.integers(at, min(len(body), at + 200)))
            body[at:at] = body[at:end] * draw(st.integers(2, 50))
        elif kind == "splice":
            other = draw(st.sampled_from(ALL_SAMPLES))
            body[at:] = other[draw(st.integers(0, max(0, len(other) - 1))) :]
        elif kind == "delete":
            del body[at : at + draw(st.integers(1, 40))]
    return bytes(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=40,
)


@st.composite
def json_like(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A sample JSON document with one value swapped for an arbitrary one (keeps most of the shape)."""
    try:
        doc = json.loads(draw(st.sampled_from(seeds)))
    except ValueError:
        return draw(mutated(seeds))
    node, path = doc, []
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    replacement = draw(json_values)
    if not path:
        return json.dumps(replacement).encode()
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = replacement
    return json.dumps(doc).encode()


def bounded(read, body: bytes) -> None:
    """Run `read(body)`: only documented errors, within the time and memory bounds."""
    tracemalloc.start()
    began = time.monotonic()
    try:
        read(body)
    except DOCUMENTED:
        pass
    finally:
        elapsed = time.monotonic() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < SECONDS_PER_INPUT, f"{elapsed:.1f} s on a {len(body)}-byte input starting {body[:60]!r}"
    assert peak < PEAK_BYTES, f"{peak / 2**20:.0f} MiB traced on a {len(body)}-byte input starting {body[:60]!r}"


DEEP = [b"[" * 100_000, b'{"a":' * 50_000, b"<a>" * 50_000, b"1" * 100_000, b"<" + b"a " * 50_000 + b">",
        b'"' + b"\\u0000" * 20_000 + b'"', b"a,b\n" + b'"' * 10_001, b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY'
        b' a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>']  # fmt: skip


@pytest.mark.parametrize("fmt", ["json", "xml", "csv"])
@FUZZ
@given(body=st.one_of(st.binary(max_size=2000), mutated(ALL_SAMPLES), st.sampled_from(DEEP)))
def test_decoders_raise_only_their_parse_error(fmt, body):
    bounded(lambda b: decode(b, fmt, 5 * 2**20), body)


@pytest.mark.parametrize("name", PRESETS)
@FUZZ
@given(data=st.data())
def test_presets_raise_only_the_documented_parse_error(name, data):
    seeds, case = samples(name)
    body = data.draw(st.one_of(mutated(seeds), json_like(seeds), st.sampled_from(DEEP), st.binary(max_size=500)))
    options = case.get("options") or {}
    received = datetime.fromisoformat(case["received_at"]) if case.get("received_at") else None
    bounded(lambda b: parse_bodies(name, [b], site_id="fuzz", timezone=case.get("timezone", "UTC"),
                                   options=options, received_at=received), body)  # fmt: skip
