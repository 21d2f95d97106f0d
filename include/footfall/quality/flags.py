"""The flag record every check emits: what, where, when, observed against expected, and why."""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd

FLAG_COLUMNS = ["check", "severity", "site_id", "counter_id", "start", "end", "observed", "expected", "detail"]
SEVERITIES = ("low", "medium", "high")


def flag_frame(
    counter_id: Any,
    start: Any,
    end: Any,
    observed: Any,
    expected: Any,
    detail: Any,
    severity: Any = None,
    *,
    site_id: Any = None,
) -> pd.DataFrame:
    """Columns of flags (check and severity default are filled in by the registry, and the site too
    when a check on one site leaves `site_id` out)."""
    columns = {} if site_id is None else {"site_id": site_id}
    frame = pd.DataFrame(
        {
            **columns,
            "counter_id": counter_id,
            "start": start,
            "end": end,
            "observed": observed,
            "expected": expected,
            "detail": detail,
        }
    )
    if severity is not None:
        frame["severity"] = severity
    return frame


def empty_flags() -> pd.DataFrame:
    return _empty().copy()


@cache
def _empty() -> pd.DataFrame:
    """Built once: most checks find nothing on most runs, and nine empty columns cost ~0.3 ms each time."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FLAG_COLUMNS})
