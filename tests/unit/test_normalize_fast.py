"""The fast paths (numpy vendor times, split CSV) give exactly what pandas and csv.reader give, or step aside."""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from footfall import decode
from footfall.normalize.times import _fixed_width, _parse_text

CASES = [
    ("%Y%m%d%H%M%S", False, ["20261025013000", "20240229235959", "19700101000000"]),
    ("%Y-%m-%d %H:%M:%S", False, ["2026-11-20 10:00:00", "2026-03-29 02:30:00"]),
    ("%Y-%m-%d %H:%M", False, ["2026-03-29 01:45", "2026-12-31 23:59"]),
    ("%d/%m/%Y - %H:%M", False, ["20/11/2026 - 10:00", "01/02/2026 - 00:15"]),
    ("iso", True, ["2026-11-20T09:00:00.000Z", "2026-11-20T10:00:00.123Z"]),
    ("iso", True, ["2026-11-20T09:00:00Z", "2026-01-01T00:00:00Z"]),
    ("iso", True, ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-01-01T00:00:00-05:30"]),
    ("iso", True, ["2026-10-25T02:00:00", "2026-10-25T03:00:00"]),
    ("iso", False, ["2026-10-25T02:00:00", "2026-10-25T03:00:00"]),
]


@pytest.mark.parametrize(("fmt", "utc", "values"), CASES)
def test_fast_path_matches_pandas(fmt, utc, values):
    fast = _fixed_width(values, fmt, utc)
    assert fast is not None
    expected = pd.to_datetime(pd.Series(values), format=None if fmt == "iso" else fmt, utc=utc)
    got = _parse_text(pd.Series(values, dtype=object), fmt, utc)
    pd.testing.assert_series_equal(got, expected)


@pytest.mark.parametrize(
    ("fmt", "utc", "values"),
    [
        ("%Y%m%d%H%M%S", False, ["20261025013000", "2026102501300"]),  # ragged
        ("%Y%m%d%H%M%S", False, ["20261025013000", 20261025013000]),  # not text
        ("%Y%m%d%H%M%S", False, ["20260231000000"]),  # 31 February
        ("%Y%m%d%H%M%S", False, ["20261325000000"]),  # month 13
        ("%Y%m%d%H%M%S", False, ["20261025246000"]),  # hour 24
        ("%Y-%m-%d %H:%M", False, ["2026-03-29T01:45"]),  # wrong literal
        ("%Y-%m-%d %H:%M", False, ["2026-03-29 01:4x"]),  # not a digit
        ("iso", False, ["2026-10-25T02:00:00+02:00"]),  # offset where local time is expected
        ("iso", True, ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00Z+0:00"]),
        ("iso", True, ["2026-10-25 02:00:00Z"]),
        ("%Y %j", False, ["2026 001"]),  # fields it does not handle
        ("iso", True, []),
    ],
)
def test_fast_path_steps_aside(fmt, utc, values):
    assert _fixed_width(values, fmt, utc) is None


def test_fast_path_matches_the_calendar_over_ten_thousand_years():
    rng = np.random.default_rng(20261120)
    lo, hi = (np.datetime64(d, "us").astype(np.int64) for d in ("0001-01-01", "9999-12-31"))
    instants = (rng.integers(lo, hi, 20_000) // 1_000_000 * 1_000_000).view("datetime64[us]")
    text = pd.Series(instants).dt.strftime("%Y-%m-%d %H:%M:%S").tolist()
    assert (_fixed_width(text, "%Y-%m-%d %H:%M:%S", False) == instants).all()


@pytest.mark.parametrize("day", ["2023-02-29", "1900-02-29", "2026-04-31", "2026-06-31"])
def test_fast_path_steps_aside_on_a_day_the_month_does_not_have(day):
    assert _fixed_width([f"{day} 00:00:00"], "%Y-%m-%d %H:%M:%S", False) is None


CSV_TEXTS = [
    "a,b\n1,2\n3,4\n",
    "a;b\r\n1;2\r\n\r\n3;4",  # CRLF, a blank line, no final newline
    "a,b\n1,2\n\n\n",
    'a,b\n"1,5",2\n',  # quoted: csv.reader reads it
    "a,b\n1\r2,3\n",  # a lone CR ends a line for csv.reader
    "a,b\n1,2,3\n",  # ragged: csv.reader words the error
    " a , b \n x , y \n",
    "a,b\n",
    # every field quoted (portal exports): split on the quote pairs, or csv.reader when the quoting is other
    '\ufeff"a","b"\r\n"1","x,y"\r\n"",""\r\n',
    'a;b\n"1";"2"\n"3";"4"\n',
    '"a","b"\n"1","2"\n3,"4"\n',  # one field unquoted
    '"a","b"\n"1","2""x"\n',  # an escaped quote inside a field
    '"a","b"\n"1\n2","3"\n',  # a line break inside a field
    '"a","b"\n"1", "2"\n',  # a space after the separator
    '"a","b"\n"1","2","3"\n',  # ragged
    '"a","b"\n"1"\n',  # short
    '"a""b"\n"1","2"\n',  # the header's quoting is other
    '"a","b"\n',
    '"a"\n"1"\n""\n',
]


def assert_split_reads_like_csv_reader(body: bytes) -> None:
    """The split readers give csv.reader's table, or the same error."""
    try:
        expected = decode.decode_csv(body, plain=False)
    except (ValueError, csv.Error) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            decode.decode_csv(body)
        return
    assert decode.decode_csv(body) == expected


@pytest.mark.parametrize("text", CSV_TEXTS)
def test_plain_csv_split_reads_what_csv_reader_reads(text):
    assert_split_reads_like_csv_reader(text.encode())


FIELD = st.text(alphabet='ab1 ,;"\n\r', max_size=4)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    rows=st.lists(st.lists(FIELD, min_size=2, max_size=2), min_size=1, max_size=5),
    quote_all=st.booleans(),
    delimiter=st.sampled_from([",", ";"]),
)
def test_split_csv_reads_what_csv_reader_reads_whatever_the_quoting(rows, quote_all, delimiter):
    """Written by csv.writer (every field quoted, or only where needed), the split readers give csv.reader's
    table or the same error."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(
        [["h1", "h2"], *rows]
    )
    assert_split_reads_like_csv_reader(out.getvalue().encode())


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.text(alphabet="ab1 ,;\n\r", max_size=40) | st.text(alphabet="a1,\né", max_size=30))
def test_unquoted_csv_split_reads_what_csv_reader_reads_whatever_the_rows(text):
    """Any unquoted text (ragged and short rows, blank lines, CR, LF, non-ASCII): the split readers,
    the byte-checked ASCII one included, give csv.reader's table or the same error."""
    assert_split_reads_like_csv_reader(text.encode())


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_json_decoder_reads_what_json_reads(value, ascii_only):
    """msgspec first, json.loads for what it refuses: the document is json's, to the type (1 is not 1.0,
    Infinity reads as json reads it)."""
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert repr(decode.decode_json(body)) == repr(json.loads(body))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet='{}[]",:.-+eE0123456789 \\ua\t\n\x01', max_size=24) | st.binary(max_size=24))
def test_json_decoder_refuses_what_json_refuses(text):
    body = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        expected = json.loads(body)
    except (ValueError, RecursionError):
        with pytest.raises(ValueError):
            decode.decode_json(body)
        return
    assert repr(decode.decode_json(body)) == repr(expected)


@pytest.mark.parametrize(
    "body",
    [
        b"NaN",
        b"[1e400, -Infinity]",
        b'"\\ud800"',
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": 1, "a": 2}',
        b"123456789012345678901234567890",
    ],
)
def test_json_decoder_reads_what_only_json_reads(body):
    assert repr(decode.decode_json(body)) == repr(json.loads(body))


LARGE_XML = b"<a>" + b"<b>1</b>" * 10_000  # over the size from which the collector is paused
LARGE_JSON = b'{"a": [' + b"[1]," * 20_000


@pytest.mark.parametrize(
    "decoder, body",
    [
        (decode.decode_xml, LARGE_XML + b"</a>"),
        (decode.decode_xml, LARGE_XML),
        (decode.decode_json, LARGE_JSON + b"[1]]}"),
        (decode.decode_json, LARGE_JSON),
    ],
)
@pytest.mark.parametrize("enabled", [True, False])
def test_decoding_leaves_the_cycle_collector_as_it_found_it(decoder, body, enabled):
    """The collector is paused while a document is built, and restored after, whether it parsed or not."""
    (gc.enable if enabled else gc.disable)()
    try:
        with contextlib.suppress(ValueError):
            decoder(body)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
