"""Vendor times to UTC instants (datetime64[us]), a whole column at a time.

Times are most of the cost of a body, so fixed-width layouts (strptime formats made of %Y %m %d %H %M
%S, and ISO 8601 with an optional fraction and offset) are read as a byte matrix with numpy, and
anything else falls to pandas, which also words the errors. Local wall-clock times are localised once
per column; only a column that touches the repeated autumn hour pays for telling its two hours apart.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import pandas as pd

from footfall.config import Site

from .common import _digit_integers

_UTC_NAMES = {"UTC", "Etc/UTC"}


def _localize(naive: np.ndarray, site: Site, keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Site-local wall-clock times (datetime64[us]) to UTC, and the flag for an unordered repeated hour.

    A repeated autumn time listed twice (same payload and device) is summer then winter time.
    """
    if site.timezone in _UTC_NAMES:
        return naive, np.zeros(len(naive), dtype=bool)
    series = pd.Series(naive)
    try:
        # One localisation when no time falls in a repeated autumn hour (the usual case).
        first = series.dt.tz_localize(site.zone, ambiguous="NaT", nonexistent="raise")
        if not (first.isna().to_numpy() & ~np.isnat(naive)).any():
            return _naive_utc(first), np.zeros(len(naive), dtype=bool)
        key = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)} | {"t": naive})
        by = [*(f"k{i}" for i in range(len(keys))), "t"]
        occurrence = key.groupby(by, dropna=False).cumcount().to_numpy()
        repeats = key.groupby(by, dropna=False)["t"].transform("size").to_numpy()
        utc = series.dt.tz_localize(site.zone, ambiguous=occurrence == 0, nonexistent="raise")
    except Exception as exc:  # pandas raises its own NonExistentTimeError for the spring gap
        raise ValueError(f"local time that does not exist in {site.timezone} (spring DST gap): {exc}") from None
    return _naive_utc(utc), first.isna().to_numpy() & (repeats == 1)


def _naive_utc(series: pd.Series) -> np.ndarray:
    """A datetime series (aware or UTC-naive) as datetime64[us] UTC values."""
    if series.dt.tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.dt.as_unit("us").to_numpy()


_FIELD_WIDTH = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}

_ISO_SUFFIX = re.compile(r"^(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$")


def _layout(fmt: str) -> tuple[int, dict[str, int], dict[int, str]] | None:
    """A strptime format of fixed-width fields (%Y %m %d %H %M %S) and literals: width, field starts, literals."""
    starts: dict[str, int] = {}
    literals: dict[int, str] = {}
    pos, i = 0, 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            code = fmt[i + 1 : i + 2]
            if code not in _FIELD_WIDTH or code in starts:
                return None
            starts[code] = pos
            pos += _FIELD_WIDTH[code]
            i += 2
        else:
            literals[pos] = ch
            pos += 1
            i += 1
    if not {"Y", "m", "d"} <= set(starts):
        return None
    return pos, starts, literals


_MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _days_since_epoch(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days from 1970-01-01 of proleptic Gregorian dates, by integer arithmetic (H. Hinnant's days_from_civil)."""
    y = year - (month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _fixed_width(values: list[Any], fmt: str, utc: bool) -> np.ndarray | None:
    """Times in one fixed-width layout parsed with numpy on the whole column (datetime64[us], UTC when
    the text says so), or None when any value does not fit it exactly (pandas then parses, and words errors).

    `fmt` is a strptime format or 'iso' (YYYY-MM-DDTHH:MM:SS, optional fraction, optional Z or +HH:MM,
    the same layout on every value). The column is joined into one ASCII buffer and read as a byte matrix.
    """
    if not values or type(values[0]) is not str:
        return None
    offset_at = None
    frac = (0, 0)
    if fmt == "iso":
        first = values[0]
        m = _ISO_SUFFIX.match(first[19:])
        if len(first) < 19 or not m or (m.group(2) and not utc):
            return None
        layout = _layout("%Y-%m-%dT%H:%M:%S")
        assert layout is not None
        width, starts, literals = layout
        literals = dict(literals)
        if m.group(1):
            literals[19] = "."
            frac = (20, len(m.group(1)) - 1)
        tail = m.group(2) or ""
        if tail == "Z":
            literals[len(first) - 1] = "Z"
        elif tail:
            offset_at = len(first) - 6
            literals[offset_at + 3] = ":"
        width = len(first)
    else:
        layout = _layout(fmt)
        if layout is None:
            return None
        width, starts, literals = layout
    try:
        text = "\n".join(itertools.chain(values, [""]))  # TypeError when a value is not text
    except TypeError:
        return None
    n = len(values)
    if not text.isascii() or len(text) != (width + 1) * n or "\n" in literals.values():
        return None
    # One row per value and its newline. The columns of one character (literals, the newline, the sign)
    # are checked one by one, then a count of the cells that are not digits proves every other column
    # holds digits: no value holds a newline, and every value is `width` long.
    rows = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(n, width + 1)
    fixed = {**literals, width: "\n"}
    for at, ch in fixed.items():
        if (rows[:, at] != ord(ch)).any():
            return None
    if offset_at is not None:
        signs = rows[:, offset_at]
        if ((signs != ord("+")) & (signs != ord("-"))).any():
            return None
    digits = rows - np.uint8(48)  # wraps round below '0', so one comparison checks 0-9
    not_digits = sum(not "0" <= ch <= "9" for ch in fixed.values()) + (offset_at is not None)
    if np.count_nonzero(digits > 9) != n * not_digits:
        return None

    def num(start: int, size: int) -> np.ndarray:
        """The number in `size` digit columns, in the smallest type that holds it (cast before arithmetic)."""
        kind = np.uint8 if size <= 2 else np.uint16 if size <= 4 else np.int64
        out: np.ndarray = digits[:, start].astype(kind)
        for c in range(start + 1, start + size):
            out = out * kind(10) + digits[:, c]
        return out

    fields = {k: num(p, _FIELD_WIDTH[k]) for k, p in starts.items()}
    year, month, day = fields["Y"], fields["m"], fields["d"]
    zero = np.zeros(n, dtype=np.uint8)
    hour, minute, second = (fields.get(k, zero) for k in "HMS")
    if ((month < 1) | (month > 12) | (day < 1) | (hour > 23) | (minute > 59) | (second > 59) | (year < 1)).any():
        return None
    # Month lengths and first days computed once per month the column spans, then looked up per value.
    month_index = year.astype(np.int32) * 12 + (month - 1)
    first_month = int(month_index.min())
    span = np.arange(first_month, int(month_index.max()) + 1)
    span_year, span_month = span // 12, span % 12 + 1
    leap = (span_year % 4 == 0) & ((span_year % 100 != 0) | (span_year % 400 == 0))
    at = month_index - first_month
    if (day > (_MONTH_DAYS[span_month] - ((span_month == 2) & ~leap))[at]).any():  # 31 April and the like
        return None
    days = _days_since_epoch(span_year, span_month, np.ones_like(span))[at] + (day - 1)
    seconds = (hour.astype(np.int32) * 60 + minute) * 60 + second
    us = days * 86_400_000_000 + seconds.astype(np.int64) * 1_000_000
    if frac[1]:
        us += num(frac[0], frac[1]).astype(np.int64) * 10 ** (6 - frac[1])
    if offset_at is not None:
        sign = np.where(signs == ord("-"), -1, 1)
        off_h, off_m = num(offset_at + 1, 2), num(offset_at + 4, 2)
        if ((off_h > 23) | (off_m > 59)).any():
            return None
        us -= sign * (off_h.astype(np.int64) * 60 + off_m) * 60_000_000
    return us.view("datetime64[us]")  # a fresh int64 array: no copy


def _parse_text(values: pd.Series, fmt: str, utc: bool) -> pd.Series:
    """Vendor times to a datetime series (UTC when `utc`), the numpy fast path first, then pandas."""
    if fmt not in ("epoch_s", "epoch_ms"):
        fast = _fixed_width(values.tolist(), fmt, utc)
        if fast is not None:
            series = pd.Series(fast, index=values.index)
            return series.dt.tz_localize("UTC") if utc else series
    if fmt in ("epoch_s", "epoch_ms"):
        return pd.to_datetime(pd.to_numeric(values, errors="raise"), unit="s" if fmt == "epoch_s" else "ms", utc=True)
    return pd.to_datetime(values.astype(str), format=None if fmt == "iso" else fmt, utc=utc)


_EPOCH_US = {"epoch_s": 1_000_000, "epoch_ms": 1_000}

_EPOCH_LIMIT = {"epoch_s": 9_223_372_036, "epoch_ms": 9_223_372_036_854}  # pandas' nanosecond range


def _epoch_times(values: list[Any], fmt: str) -> np.ndarray:
    """Epoch numbers (or digit strings) to datetime64[us] UTC; integers by arithmetic, the rest by pandas."""
    kinds = set(map(type, values))
    whole = None
    if kinds == {int}:
        try:
            whole = np.array(values, dtype=np.int64)
        except OverflowError:
            whole = None
    elif kinds == {str}:
        whole = _digit_integers(values, 18)
    if whole is not None and len(whole) and np.abs(whole).max() < _EPOCH_LIMIT[fmt]:
        return (whole * _EPOCH_US[fmt]).view("datetime64[us]")
    return _naive_utc(_parse_text(pd.Series(values, dtype=object), fmt, True))


def _times(values: list[Any], fmt: str, utc: bool, sizes: list[int]) -> tuple[np.ndarray, bool]:
    """Vendor times to datetime64[us] (UTC when they say so), and whether they carried a zone.

    `sizes` splits the column by payload: when the numpy path steps aside, pandas reads each payload
    on its own (its format inference is per body, as when bodies were parsed one at a time).
    """
    if fmt in _EPOCH_US:
        return _epoch_times(values, fmt), True
    fast = _fixed_width(values, fmt, utc)
    if fast is not None:
        return fast, utc
    if len(sizes) > 1:
        parts, aware, at = [], False, 0
        for size in sizes:
            part, part_aware = _times(values[at : at + size], fmt, utc, [size])
            parts.append(part)
            aware = aware or part_aware
            at += size
        return np.concatenate(parts), aware
    series = _parse_text(pd.Series(values, dtype=object), fmt, utc)
    return _naive_utc(series), series.dt.tz is not None
