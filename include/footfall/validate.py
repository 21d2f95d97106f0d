"""Validate: the row-level Great Expectations suite every batch passes before it is loaded.

These are structural rules (columns and types, non-negative whole counts, one row per key,
intervals inside the requested range): a batch that breaks one is not loaded, and the summary
names each broken rule with examples. Counting discrepancies (imbalance, gaps, spikes...) are
flags, not failures, and live elsewhere.

Great Expectations costs ~2.4 s to import, so the context and suite are built once per process
(the Airflow worker preloads this module through the footfall plugin, so forked task processes
inherit it) and each batch is validated with its window passed as suite parameters. Its fixed cost
per validation (~50 ms, whatever the rows) is why bulk paths validate many sites' rows in one call:
`validate_counts` takes any number of sites.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pandas as pd

from footfall.timewindow import Window
from footfall.warehouse.schema import MEASURED_COLUMNS

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.data_context.types.base import ProgressBarsConfig

log = logging.getLogger(__name__)

SUITE_NAME = "count_interval"
KEY = ["site_id", "counter_id", "interval_start"]
INTEGER_TYPES = ["int64", "int32", "Int64Dtype", "Int32Dtype"]  # numpy and pandas nullable ints
EXAMPLES = 5


@dataclass
class ValidationReport:
    """Outcome of one batch: success, and a line per broken rule for people to read."""

    success: bool
    rows: int
    problems: list[str] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    gx_result: Any = field(default=None, repr=False)  # the full GX result, stored for Data Docs

    def summary(self) -> str:
        if self.success:
            return f"{self.rows} rows passed {self.statistics.get('evaluated_expectations', 0)} expectations"
        return f"{len(self.problems)} rule(s) broken in {self.rows} rows: " + "; ".join(self.problems)


def build_suite() -> gx.ExpectationSuite:
    """The suite, with the window as parameters so one suite serves every batch."""
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=[*KEY, *MEASURED_COLUMNS], exact_match=False))
    for column in KEY:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=KEY))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="interval_start",
            min_value={"$PARAMETER": "window_start"},
            max_value={"$PARAMETER": "window_last"},
        )
    )
    suite.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column="interval_minutes", type_list=INTEGER_TYPES))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="interval_minutes", min_value=5, max_value=1440))
    for column in ("entries", "exits", "occupancy"):
        suite.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=INTEGER_TYPES))
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    return suite


@cache
def _validator() -> tuple[Any, gx.ExpectationSuite]:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("footfall")
        .add_dataframe_asset("count_interval")
        .add_batch_definition_whole_dataframe("batch")
    )
    suite = context.suites.add(build_suite())
    return batch_definition, suite


def warm_up() -> None:
    """Build the context and suite now and validate one tiny batch (called by the Airflow plugin before
    workers fork): GX fills its metric and expectation caches on the first validation of a process, which
    a forked task would otherwise pay on every run."""
    _validator()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    sample = pd.DataFrame(
        {
            "site_id": ["warm-up"],
            "counter_id": ["warm-up"],
            "interval_start": pd.to_datetime([start], utc=True),
            **{column: [5 if column == "interval_minutes" else 0] for column in MEASURED_COLUMNS},
        }
    )
    report = validate_counts(sample, Window(start, start + timedelta(minutes=5)))
    if not report.success:  # the suite itself is wrong: say so at start, not in every task
        raise RuntimeError(f"the validation suite refuses its own warm-up batch: {report.summary()}")


def _describe(result: Any) -> str:
    config = result.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or ",".join(kwargs.get("column_list", []) or [])
    name = config.type.removeprefix("expect_")
    detail = result.result or {}
    if "unexpected_count" in detail:
        examples = [str(v) for v in (detail.get("partial_unexpected_list") or [])[:EXAMPLES]]
        return f"{column}: {name} failed for {detail['unexpected_count']} row(s), e.g. {', '.join(examples)}"
    if "observed_value" in detail:
        return f"{column or 'table'}: {name} failed (observed {detail['observed_value']})"
    return f"{column or 'table'}: {name} failed"


def _numpy_ints(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns without a missing value as numpy int64 (same values): GX compares those in one
    vectorized step, but calls Python once per value on pandas' nullable or narrower integers (~0.25 s
    per 100k rows, as much as the rest of the suite). Columns with missing values stay as they are."""
    narrow = [
        c
        for c in frame.columns
        if pd.api.types.is_integer_dtype(frame[c].dtype) and frame[c].dtype != "int64" and not frame[c].hasnans
    ]
    return frame.astype(dict.fromkeys(narrow, "int64")) if narrow else frame


def validate_counts(rows: pd.DataFrame, requested: Window) -> ValidationReport:
    """Run the suite on one normalized batch (of one site or of many: imports and backfills validate many
    sites at once); `requested` is the range the source was asked for."""
    if rows.empty:
        return ValidationReport(success=True, rows=0)
    batch_definition, suite = _validator()
    columns = [c for c in rows.columns if c != "ambiguous_time"]
    batch = batch_definition.get_batch(batch_parameters={"dataframe": _numpy_ints(rows[columns])})
    result = batch.validate(
        suite,
        expectation_parameters={
            "window_start": pd.Timestamp(requested.start),
            "window_last": pd.Timestamp(requested.end) - pd.Timedelta(microseconds=1),
        },
        # BASIC has what the summary names (unexpected counts and examples); SUMMARY adds value counts
        # and row indexes nobody reads, for ~20 ms more per batch.
        result_format={"result_format": "BASIC", "partial_unexpected_count": EXAMPLES},
    )
    problems = [_describe(r) for r in result.results if not r.success]
    return ValidationReport(
        success=bool(result.success),
        rows=len(rows),
        problems=problems,
        statistics=dict(result.statistics),
        gx_result=result,
    )
