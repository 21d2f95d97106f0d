"""The typed count_interval frame: the one shape every normalizer hands to validation and load.

Counts are nullable integers when they are whole numbers; fractions stay floats so that validation
refuses them (normalize does not round a vendor's data). `build_frame` builds the frame once from `Rows`;
`typed_counts` gives other normalizers (history imports) the same dtypes from a plain frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from footfall.warehouse.schema import COUNT_COLUMNS

from .common import MEASURES

COLUMNS = [*COUNT_COLUMNS, "payload_id"]


@dataclass
class Rows:
    """A site's interval rows as columns: counter codes (in counter id order), UTC starts, measures."""

    counter: np.ndarray
    start: np.ndarray  # datetime64[us], UTC
    payload: np.ndarray
    ambiguous: np.ndarray
    minutes: np.ndarray
    measures: dict[str, np.ndarray]

    def take(self, index: np.ndarray) -> Rows:
        return Rows(
            self.counter[index], self.start[index], self.payload[index], self.ambiguous[index],
            self.minutes[index], {m: v[index] for m, v in self.measures.items()},
        )  # fmt: skip


def _integers_or_floats(values: np.ndarray) -> Any:
    """Counts as nullable integers when they are whole numbers; floats stay floats for validation to reject."""
    missing = np.isnan(values)
    known = np.where(missing, 0.0, values) if missing.any() else values
    if len(known) and not np.abs(known).max() < 2**62:  # infinite or huge: pandas' casts decide (and raise)
        floats = pd.Series(values).astype("Float64")
        return (floats.astype("Int64") if (floats.dropna() % 1 == 0).all() else floats).array
    whole = known.astype(np.int64)
    if (whole == known).all():
        return pd.arrays.IntegerArray(whole, missing)
    return pd.arrays.FloatingArray(known, missing)


_TEXT = pd.StringDtype(na_value=np.nan)  # what .astype(str) gives: the `str` dtype


def build_frame(site_id: str, counter_ids: list[str], rows: Rows) -> pd.DataFrame:
    """The count_interval frame, built once from columns (dtypes as `typed_counts` gives them)."""
    n = len(rows.start)
    minutes = rows.minutes
    whole_minutes = (minutes % 1 == 0).all()
    data = {
        # Few distinct ids: made text once each, then taken per row.
        "site_id": pd.array([site_id], dtype=_TEXT).take(np.zeros(n, dtype=np.intp)),
        "counter_id": pd.array(counter_ids or [""], dtype=_TEXT).take(rows.counter),
        "interval_start": pd.array(rows.start).tz_localize("UTC"),
        "interval_minutes": (
            pd.arrays.IntegerArray(minutes.astype(np.int64), np.zeros(n, dtype=bool)) if whole_minutes else minutes
        ),
    }
    for m in MEASURES:
        data[m] = (
            _integers_or_floats(rows.measures[m])
            if m in rows.measures
            else pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
        )
    data["payload_id"] = rows.payload.astype(np.int64)
    data["ambiguous_time"] = rows.ambiguous.astype(bool)
    return pd.DataFrame(data, copy=False)  # every column is a fresh array


def _typed(rows: pd.DataFrame) -> pd.DataFrame:
    """Counts as nullable integers when they are whole numbers; floats stay floats for validation to reject."""
    out = pd.DataFrame(index=rows.index)
    out["site_id"] = rows["site_id"].astype(str)
    out["counter_id"] = rows["counter_id"].astype(str)
    out["interval_start"] = rows["interval_start"]
    minutes = rows["interval_minutes"].astype(float)
    out["interval_minutes"] = minutes.astype("Int64") if (minutes % 1 == 0).all() else minutes
    for measure in MEASURES:
        values = pd.to_numeric(rows[measure], errors="raise") if measure in rows else pd.Series(None, index=rows.index)
        values = values.astype("Float64")
        whole = values.dropna()
        out[measure] = values.astype("Int64") if (whole % 1 == 0).all() else values
    out["payload_id"] = rows["payload_id"].astype("int64")
    out["ambiguous_time"] = rows.get("ambiguous_time", pd.Series(False, index=rows.index)).astype(bool)
    return out.sort_values(["counter_id", "interval_start"]).reset_index(drop=True)


def empty_counts() -> pd.DataFrame:
    return _typed(
        pd.DataFrame(
            columns=["site_id", "counter_id", "interval_start", "interval_minutes", *MEASURES, "payload_id"]
        ).astype({"interval_start": "datetime64[ns, UTC]"})
    )


def utc_bounds(rows: pd.DataFrame) -> tuple[datetime, datetime] | None:
    if rows.empty:
        return None
    return rows["interval_start"].min().to_pydatetime(), rows["interval_start"].max().to_pydatetime()


typed_counts = _typed  # public name for other normalizers (history imports) that build the same columns
