"""Validate: the Great Expectations suite passes a sound batch and names each broken rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from footfall.normalize import Payload, empty_counts, normalize_counts
from footfall.timewindow import Window
from footfall.validate import validate_counts

# 10:00-11:00 local in Paris (CET) is 09:00-10:00 UTC.
WINDOW = Window(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), datetime(2026, 11, 20, 10, 0, tzinfo=UTC))


@pytest.fixture
def good(make_site, axis_body) -> pd.DataFrame:
    site = make_site(counters=[{"id": "a", "ref": "R1"}, {"id": "b", "ref": "R2"}])
    rows = [("20261120100000", 1, 2), ("20261120101500", 3, 4), ("20261120104500", 5, 0)]
    return normalize_counts(site, [Payload(1, axis_body("R1", rows)), Payload(2, axis_body("R2", rows[:2]))])


def test_good_batch_passes(good):
    report = validate_counts(good, WINDOW)
    assert report.success, report.summary()
    assert report.rows == 5
    assert report.problems == []
    assert report.summary().startswith("5 rows passed ")
    assert report.statistics["evaluated_expectations"] >= 10


def test_empty_batch_passes():
    assert validate_counts(empty_counts(), WINDOW).success


def failing(rows: pd.DataFrame, window: Window = WINDOW) -> str:
    report = validate_counts(rows, window)
    assert not report.success
    assert len(report.problems) == 1, report.problems
    return report.summary()


def test_negative_count(good):
    good.loc[1, "exits"] = -3
    summary = failing(good)
    assert "exits: column_values_to_be_between failed for 1 row(s), e.g. -3" in summary
    assert summary.startswith("1 rule(s) broken in 5 rows: ")


@pytest.mark.parametrize("missing", [False, True], ids=["numpy-ints", "nullable-ints"])
def test_negative_count_is_named_whether_or_not_the_column_has_missing_values(good, missing):
    """Complete integer columns are handed to GX as numpy int64 (its vectorized path), columns with a
    missing value as pandas' nullable ints: both report the same rule, count and examples."""
    good.loc[1, "exits"] = -3
    good.loc[2, "entries"] = -1
    if missing:
        good.loc[0, "exits"] = pd.NA
        good.loc[0, "entries"] = pd.NA
    report = validate_counts(good, WINDOW)
    assert not report.success
    assert "exits: column_values_to_be_between failed for 1 row(s), e.g. -3" in report.problems
    assert "entries: column_values_to_be_between failed for 1 row(s), e.g. -1" in report.problems
    assert len(report.problems) == 2
    assert str(good["exits"].dtype) == "Int64"  # the caller's frame is left as it was


def test_non_integer_count(good):
    """Normalize refuses a fraction naming its record (test_presets_inputs); the suite still refuses one
    that reaches it by another way (an import's frame, a hook)."""
    rows = good.astype({"entries": "float64"})
    rows.loc[0, "entries"] = 2.5
    summary = failing(rows)
    assert "entries: column_values_to_be_in_type_list failed (observed float64)" in summary


def test_duplicate_key(good):
    summary = failing(pd.concat([good, good.iloc[[2]]], ignore_index=True))
    assert "site_id,counter_id,interval_start: compound_columns_to_be_unique failed for 2 row(s)" in summary
    assert "'counter_id': 'a'" in summary


@pytest.mark.parametrize(
    "window",
    [
        Window(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), datetime(2026, 11, 20, 9, 45, tzinfo=UTC)),
        Window(datetime(2026, 11, 20, 9, 15, tzinfo=UTC), datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ],
    ids=["after-end", "before-start"],
)
def test_interval_outside_requested_window(good, window):
    summary = failing(good, window)
    assert "interval_start: column_values_to_be_between failed" in summary
    outside = "2026-11-20 09:45:00+00:00" if window.end.minute == 45 else "2026-11-20 09:00:00+00:00"
    assert outside in summary


def test_interval_starting_at_window_end_is_outside(good):
    """The window is half-open: an interval starting exactly at its end does not belong to it."""
    window = Window(WINDOW.start, datetime(2026, 11, 20, 9, 45, tzinfo=UTC))
    inside = good[good["interval_start"] < pd.Timestamp(window.end)]
    assert validate_counts(inside, window).success
    assert not validate_counts(good, window).success


def test_interval_shorter_than_five_minutes(good):
    good["interval_minutes"] = pd.array([1] * len(good), dtype="Int64")
    summary = failing(good)
    assert "interval_minutes: column_values_to_be_between failed for 5 row(s)" in summary


def test_null_key(good):
    good["counter_id"] = good["counter_id"].astype(object)
    good.loc[0, "counter_id"] = None
    summary = failing(good)
    assert "counter_id: column_values_to_not_be_null failed for 1 row(s)" in summary


def test_several_broken_rules_are_all_reported(good):
    good.loc[0, "entries"] = -1
    good.loc[1, "exits"] = -2
    report = validate_counts(good, WINDOW)
    assert not report.success
    assert sorted(p.split(":")[0] for p in report.problems) == ["entries", "exits"]
    assert report.summary().startswith("2 rule(s) broken in 5 rows: ")


def test_many_sites_in_one_batch_fail_exactly_where_one_site_alone_fails(good):
    """Bulk paths validate many sites at once: the same keys at two sites are no duplicates, and a
    broken row of one site is reported as it is when that site is validated alone."""
    other = good.assign(site_id="other-site")
    both = pd.concat([good, other], ignore_index=True)
    report = validate_counts(both, WINDOW)
    assert report.success, report.summary()
    assert report.rows == 10
    other.loc[2, "exits"] = -7
    alone = validate_counts(other, WINDOW)
    together = validate_counts(pd.concat([good, other], ignore_index=True), WINDOW)
    assert not together.success and validate_counts(good, WINDOW).success
    assert together.problems == alone.problems == ["exits: column_values_to_be_between failed for 1 row(s), e.g. -7"]
