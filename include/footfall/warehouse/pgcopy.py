"""PostgreSQL binary COPY bodies built with numpy, for bulk writes of any table without per-row Python.

Rows whose text values and missing fields are the same have the same byte layout, so each such group
is written as one numpy record array (a year of one site's 5-minute counts is a handful of groups).
Row order is not kept: a table has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
TRAILER = b"\xff\xff"  # end of data: a field count of -1
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 (binary timestamps count from it) in Unix microseconds
PG_EPOCH_DAYS = 10_957  # the same day in days since 1970-01-01
FORMATS = {"int4": ">i4", "int8": ">i8", "float8": ">f8", "timestamptz": ">i8", "date": ">i4"}
OFFSETS = {"timestamptz": PG_EPOCH_US, "date": PG_EPOCH_DAYS}


@dataclass(frozen=True)
class Column:
    """One column of the body, in the COPY statement's column order.

    `kind` is "text" or a FORMATS key; `values` are strings for text, Unix microseconds for
    timestamptz, days since 1970-01-01 for date, numbers otherwise; `missing` is True where NULL.
    """

    kind: str
    values: np.ndarray
    missing: np.ndarray | None = None


def instants_us(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Aware instants as Unix microseconds (what a timestamptz Column takes)."""
    return pd.DatetimeIndex(values).as_unit("us").asi8


def dates_days(values: pd.Series) -> np.ndarray:
    """Dates (datetime.date objects or datetimes) as days since 1970-01-01 (what a date Column takes)."""
    return pd.to_datetime(values).to_numpy("datetime64[D]").astype(np.int64)


def copy_body(columns: list[Column]) -> bytes:
    """The whole COPY ... FROM STDIN (FORMAT binary) body of these rows."""
    rows = len(columns[0].values) if columns else 0
    key = np.zeros(rows, dtype=np.int64)
    texts: dict[int, list[bytes]] = {}
    codes: dict[int, np.ndarray] = {}
    for i, column in enumerate(columns):
        if column.kind == "text":
            codes[i], uniques = pd.factorize(np.asarray(column.values, dtype=object))
            texts[i] = [str(u).encode() for u in uniques]
            key = key * max(1, len(uniques)) + codes[i]
        if column.missing is not None:
            key = key * 2 + np.asarray(column.missing, dtype=np.int64)
    parts = [HEADER]
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for index in np.split(order, bounds) if rows else []:
        first = index[0]
        fields: list[tuple[str, str]] = [("n", ">i2")]
        filled: list[tuple[int, Column, bool]] = []
        for i, column in enumerate(columns):
            null = column.missing is not None and bool(column.missing[first])
            fields.append((f"len{i}", ">i4"))
            if not null:
                width = f"S{len(texts[i][codes[i][first]])}" if column.kind == "text" else FORMATS[column.kind]
                fields.append((f"v{i}", width))
            filled.append((i, column, null))
        block = np.zeros(len(index), dtype=fields)
        block["n"] = len(columns)
        for i, column, null in filled:
            if null:
                block[f"len{i}"] = -1
            elif column.kind == "text":
                text = texts[i][codes[i][first]]
                block[f"len{i}"], block[f"v{i}"] = len(text), text
            else:
                block[f"len{i}"] = np.dtype(FORMATS[column.kind]).itemsize
                block[f"v{i}"] = np.asarray(column.values)[index] - OFFSETS.get(column.kind, 0)
        parts.append(block.tobytes())
    parts.append(TRAILER)
    return b"".join(parts)
