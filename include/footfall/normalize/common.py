"""What every normalize stage shares: the landed body (`Payload`), the measures, the 5-minute base, durations.

Kept apart so that reading, interpreting and framing can each import it without importing one
another. `PARSE_ERRORS` is the one list of exceptions that means "this body is not the shape its
preset says"; anything else is a bug and is not caught.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

MEASURES = ("entries", "exits", "occupancy")

BASE_MINUTES = 5

_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)

_UNIT_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1, "min": 1, "h": 60, "d": 1440, None: 1}


@dataclass(frozen=True)
class Payload:
    """A landed body to interpret (what extract stored, or what a device pushed)."""

    payload_id: int
    body: bytes
    counter_ref: str | None = None
    received_at: datetime | None = field(default=None, compare=False)


def parse_duration_minutes(text: str) -> float:
    """'15m', '1h', '300s', '24h' or a bare number of minutes."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration like 15m or 1h")
    return int(m.group(1)) * _UNIT_MINUTES[m.group(2).lower() if m.group(2) else None]


PARSE_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)


def per_distinct(values: list[Any], fn: Callable[[Any], Any]) -> np.ndarray:
    """fn over a column (an object array), called once per distinct value: ids, labels and flags repeat."""
    try:
        codes, uniques = pd.factorize(np.fromiter(values, dtype=object, count=len(values)), use_na_sentinel=False)
    except TypeError:  # unhashable values (a list where a label should be): one call each
        return np.fromiter(map(fn, values), dtype=object, count=len(values))
    return np.fromiter(map(fn, uniques), dtype=object, count=len(uniques))[codes]


def digit_integers(values: list[str], longest: int) -> np.ndarray | None:
    """Values written as plain ASCII digits as int64, read from one joined buffer a digit position at a
    time; None when any value is not text of 1 to `longest` (at most 18) digits."""
    n = len(values)
    try:
        text = "\n".join(values)
    except TypeError:
        return None
    if not n or not text.isascii():
        return None
    buf = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    digits = buf - np.uint8(48)  # wraps round below '0', so one comparison checks 0-9
    seps = np.flatnonzero(digits > 9)
    if len(seps) != n - 1 or (buf[seps] != 10).any():  # a value with a non-digit (or a newline)
        return None
    ends = np.append(seps, len(buf))  # one past each value's last digit
    lengths = ends - np.append(-1, seps) - 1
    most = int(lengths.max())
    if lengths.min() == 0 or most > min(longest, 18):
        return None
    out = digits[ends - 1].astype(np.int64)
    for k in range(1, most):
        digit = digits[np.maximum(ends - 1 - k, 0)]
        out += np.where(lengths > k, digit, 0) * np.int64(10**k)
    return out
