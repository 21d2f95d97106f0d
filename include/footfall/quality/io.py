"""Counts CSVs (the `footfall parse` format) in and flags out, for the CLI and the benchmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from footfall.warehouse.schema import COUNT_COLUMNS, MEASURED_COLUMNS

from .flags import FLAG_COLUMNS

CSV_COLUMNS = list(COUNT_COLUMNS)


class CountsFileError(ValueError):
    """A counts file that cannot be read; the message is one line for the CLI."""


def read_counts_csv(path: Path | str) -> pd.DataFrame:
    """Read and type a counts CSV; raise CountsFileError naming what is wrong."""
    try:
        raw = pd.read_csv(path, dtype={"site_id": str, "counter_id": str})
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CountsFileError(f"{path}: cannot read ({reason})") from None
    missing = [c for c in CSV_COLUMNS if c not in raw.columns]
    if missing:
        raise CountsFileError(f"{path}: missing column(s) {', '.join(missing)}")
    try:
        starts = pd.to_datetime(raw["interval_start"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise CountsFileError(f"{path}: interval_start is not ISO 8601 ({exc})") from None
    out = raw[CSV_COLUMNS].assign(interval_start=starts)
    for column in MEASURED_COLUMNS:
        values = pd.to_numeric(out[column], errors="coerce")
        if (values.isna() & out[column].notna()).any():
            raise CountsFileError(f"{path}: column {column} has non-numeric values")
        out[column] = values
    if out["interval_minutes"].isna().any() or out[["site_id", "counter_id"]].isna().any().any():
        raise CountsFileError(f"{path}: site_id, counter_id and interval_minutes must be set on every row")
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat().replace("+00:00", "Z")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def write_flags_jsonl(flags: pd.DataFrame, out: TextIO) -> int:
    """One JSON object per flag, in FLAG_COLUMNS order; returns how many were written."""
    for row in flags[FLAG_COLUMNS].itertuples(index=False):
        out.write(json.dumps({k: _plain(v) for k, v in zip(FLAG_COLUMNS, row, strict=True)}) + "\n")
    return len(flags)


def parse_opening_hours_spec(spec: str) -> dict[str, Any]:
    """CLI hours to an `opening_hours` mapping: "08:00-20:00" (every day) or
    "mon-fri=08:00-20:00;sat=09:00-12:00,14:00-18:00;sun=closed"."""
    from footfall.config import WEEKDAYS

    regular: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        days, sep, hours = part.partition("=")
        if not sep:
            regular.update(dict.fromkeys(WEEKDAYS, part))
            continue
        days = days.strip().lower()
        if "-" in days:
            first, last = (d.strip()[:3] for d in days.split("-", 1))
            if first not in WEEKDAYS or last not in WEEKDAYS:
                raise ValueError(f"{days!r} is not a weekday range like mon-fri")
            names = WEEKDAYS[WEEKDAYS.index(first) : WEEKDAYS.index(last) + 1]
        else:
            names = tuple(d.strip()[:3] for d in days.split(","))
        for name in names:
            regular[name] = hours.strip()
    return {"regular": regular}
