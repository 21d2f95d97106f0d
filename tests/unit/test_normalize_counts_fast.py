"""Counts written as digit strings and fixed-width times are read from one joined buffer; the result equals
what float() and pandas give, or the fast path steps aside and the general conversion decides (and words
the error)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from footfall.normalize import count_column
from footfall.normalize.common import digit_integers
from footfall.normalize.interpretation import _digit_strings
from footfall.normalize.times import _epoch_times, _fixed_width


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**15 - 1).map(str) | st.text("0123456789", min_size=1, max_size=15), min_size=1))
def test_digit_strings_equal_float(values):
    got = _digit_strings(values)
    assert got is not None
    np.testing.assert_array_equal(got, np.array([float(v) for v in values]))
    assert got.dtype == np.float64


@pytest.mark.parametrize(
    "values",
    [
        ["1", ""],  # empty: a missing count
        ["12", " 3"],  # spaces
        ["1.5"],
        ["-3", "4"],
        ["1\n2", "3"],  # a newline inside a value
        ["1234567890123456"],  # 16 digits
        ["١٢", "3"],  # non-ASCII digits
        ["1e3"],
    ],
)
def test_digit_strings_step_aside(values):
    assert _digit_strings(values) is None


def test_count_column_same_with_and_without_fast_path():
    values = ["0", "07", "123456789012345", "42"]
    np.testing.assert_array_equal(count_column(values, "in"), [0.0, 7.0, 123456789012345.0, 42.0])
    np.testing.assert_array_equal(count_column(["1", "", " 3"], "in"), [1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match=r"record 1: in: count 'x' is not a number"):
        count_column(["1", "x"], "in")


@pytest.mark.parametrize(
    "values",
    [
        ["2026-11-20 10:0", "02026-11-20 10:00"],  # one short, one long: the total length fits
        ["2026-11-20 10:00\n2026-11-20 11:00", "2026-11-20 12:00"],  # a newline inside a value
        ["2026-11-20 10:00", "2026-11-20 10:00\n"],
    ],
)
def test_fixed_width_times_step_aside_unless_every_value_has_the_width(values):
    assert _fixed_width(values, "%Y-%m-%d %H:%M", False) is None


def test_fixed_width_times_one_and_many():
    one = _fixed_width(["2026-11-20 10:00"], "%Y-%m-%d %H:%M", False)
    np.testing.assert_array_equal(one, np.array(["2026-11-20T10:00"], dtype="datetime64[us]"))
    many = _fixed_width(["2026-11-20T10:00:00.5Z", "2026-03-29T01:00:00.0Z"], "iso", True)
    np.testing.assert_array_equal(many, np.array(["2026-11-20T10:00:00.5", "2026-03-29T01:00"], dtype="datetime64[us]"))


def test_fixed_width_times_signs_offsets_and_fractions():
    assert _fixed_width(["2026-10-25T02:00:00,02:00"], "iso", True) is None  # ',' sits between '+' and '-'
    values = ["2026-12-31T23:59:59.999999-23:59", "1970-01-01T00:00:00.000001+23:59"]
    expected = pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    np.testing.assert_array_equal(_fixed_width(values, "iso", True), expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**18 - 1).map(str), min_size=1))
def test_digit_integers_equal_int(values):
    got = digit_integers(values, 18)
    assert got is not None and got.dtype == np.int64
    assert got.tolist() == [int(v) for v in values]


def test_epoch_digit_strings_as_pandas_reads_them():
    values = ["1767225600", "0", "1767226500", "0000000001"]
    expected = pd.to_datetime(pd.to_numeric(pd.Series(values)), unit="s").to_numpy().astype("datetime64[us]")
    np.testing.assert_array_equal(_epoch_times(values, "epoch_s"), expected)
    assert digit_integers(["1" * 19], 18) is None
    assert digit_integers(["12", 3], 18) is None
