"""The numpy fast path for vendor times gives exactly what pandas gives, and steps aside when unsure."""

from __future__ import annotations

import pandas as pd
import pytest

from footfall.normalize import _fixed_width, _parse_text

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
