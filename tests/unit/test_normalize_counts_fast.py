"""Counts written as digit strings are read from one buffer; the result equals float() of each, or the
fast path steps aside and the general conversion decides (and words the error)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from footfall.normalize import count_column
from footfall.normalize.interpretation import _digit_strings


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
