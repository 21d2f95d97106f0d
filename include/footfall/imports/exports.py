"""Readers of public history exports that are not a vendor's payloads: each turns a file (or a folder
of files) into counts-CSV rows, the shape `footfall import` and `footfall evaluate` read.

A reader is picked by name (`EXPORT_READERS`), like a preset's hook: the generic preset mapping
cannot express these formats' oddities (a closed-sentinel, naive and offset times in one column,
dates in several spellings, duplicate slots, a door file shifted by whole hours), so each is a
small, tested function. Every reader returns times as UTC instants and leaves what the file does
not say (a closed sauna, a missing hour) absent, never zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from footfall.errors import ParseError

COUNTS_COLUMNS = ("site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy")
SNAPSHOT_MINUTES = 5  # occupancy snapshots are kept per 5 minutes, as for live data


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")


def localize(naive: pd.Series, zone: str) -> pd.Series:
    """Local wall-clock times to UTC; a repeated autumn hour takes its first pass, a skipped spring time moves on."""
    first_pass = np.ones(len(naive), dtype=bool)
    return naive.dt.tz_localize(zone, ambiguous=first_pass, nonexistent="shift_forward").dt.tz_convert("UTC")


def _counts(**columns: object) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for column in COUNTS_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    return frame[list(COUNTS_COLUMNS)].sort_values(["site_id", "counter_id", "interval_start"], ignore_index=True)


CLOSED_TODAY = r"\bclosed\b|hei zue"  # the sentinel's message for "closed now" (not the summer break)


FROZEN_HOURS = 8.0


def frozen_readings(entity: pd.Series, instant: pd.Series, value: pd.Series, hours: float = FROZEN_HOURS) -> np.ndarray:
    """Readings of a source stuck on one non-zero value for more than `hours` (the scraped API froze:
    the Lorrainebad log shows 28 people for five days): all but the run's first reading are dropped,
    so a stale number is a hole, not a busy sauna. Rows must be sorted by entity and instant."""
    new_run = (entity != entity.shift()) | (value != value.shift())
    run = new_run.cumsum()
    span = instant.groupby(run).transform("max") - instant.groupby(run).transform("min")
    return ((span > pd.Timedelta(hours=hours)) & (value != 0) & ~new_run).to_numpy()


def read_sauna_occupancy_log(path: Path, zone: str = "Europe/Zurich") -> pd.DataFrame:
    """Lorrainebad sauna scrape `timestamp,name,current_seats,...`: one site per sauna (`name`), occupancy snapshots.

    current_seats -1 is the closed sentinel. When the message says closed for the day ("Mir hei zue. |
    Closed.") nobody is inside: occupancy 0, so closing hours are learnt. During the summer break
    ("summerpouse") the sauna is shut for months: no reading, so training skips that season instead
    of learning months of zeros, and it is not scored. Seats above
    max_seats are real (people waiting inside) and kept. Early rows have naive local times, later
    ones an offset: each is read as it says. A value frozen for hours is dropped (`frozen_readings`).
    Scrapes out of time order are sorted; two readings in
    one 5-minute snapshot slot keep the later scrape.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"timestamp", "name", "current_seats"} - set(raw.columns)
    if missing:
        raise ParseError("sauna", f"file:{path.name}", f"lacks column(s) {', '.join(sorted(missing))}")
    text = raw["timestamp"].str.strip()
    aware = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    instants = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    instants[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True).dt.as_unit("ns")
    if (~aware).any():
        naive = pd.to_datetime(text[~aware], format="ISO8601")
        instants[~aware] = localize(naive, zone).dt.as_unit("ns")
    seats = pd.to_numeric(raw["current_seats"], errors="coerce")
    message = raw.get("capacity_message", pd.Series("", index=raw.index)).str.lower()
    closed_now = (seats < 0) & message.str.contains(CLOSED_TODAY, regex=True)
    seats = seats.mask(closed_now, 0.0)
    open_ = seats >= 0
    rows = pd.DataFrame(
        {"name": raw["name"].str.strip(), "instant": instants, "seats": seats, "order": np.arange(len(raw))}
    )[open_]
    rows = rows.sort_values(["name", "instant", "order"])
    rows = rows[~frozen_readings(rows["name"], rows["instant"], rows["seats"])]
    rows["slot"] = rows["instant"].dt.floor(f"{SNAPSHOT_MINUTES}min")
    rows = rows.drop_duplicates(["name", "slot"], keep="last")
    return _counts(
        site_id=rows["name"].map(slug).to_numpy(),
        counter_id="seats",
        interval_start=rows["slot"].to_numpy(),
        interval_minutes=SNAPSHOT_MINUTES,
        occupancy=rows["seats"].to_numpy(dtype=float),
    )


HEADCOUNT_META = {"Semester", "Date", "DayOfWeek", "Time", "Total", "timestamp"}


def _headcount_file(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"Date", "Time", "Total"} - set(raw.columns)
    if missing:
        raise ParseError("library", f"file:{path.name}", f"lacks column(s) {', '.join(sorted(missing))}")
    areas = [c for c in raw.columns if c not in HEADCOUNT_META]
    area_sum = raw[areas].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=1)
    total = pd.to_numeric(raw["Total"], errors="coerce")
    # The areas are what staff counted: a Total that disagrees with them (or is not whole) is a typo.
    head = area_sum.where(area_sum.notna(), total)
    date_text = raw["Date"].str.strip()
    dates = pd.to_datetime(date_text, format="%Y-%m-%d", errors="coerce")
    dates = dates.fillna(pd.to_datetime(date_text, format="%m/%d/%Y", errors="coerce"))
    clock_text = raw["Time"].str.strip().str.upper()
    clock = pd.to_datetime(clock_text, format="%I:%M %p", errors="coerce")
    clock = clock.fillna(pd.to_datetime(clock_text, format="%H:%M", errors="coerce"))  # "12:30": noon
    bad = dates.isna() | clock.isna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        reason = f"line {i + 2}: date {raw['Date'].iloc[i]!r} / time {raw['Time'].iloc[i]!r} is not readable"
        raise ParseError("library", f"file:{path.name}", reason)
    local = dates + (clock - clock.dt.normalize())
    return pd.DataFrame({"local": local, "head": head})


def read_library_headcounts(path: Path, zone: str = "America/Chicago") -> pd.DataFrame:
    """Tulsa CC library hourly head counts: a folder of "<Campus> Archive.csv" / "Current Semester <Campus>.csv".

    One site per campus (archive and current files joined; "SEC" is Southeast). `Time` is the nominal
    slot ("10:30 AM", once "12:30"), read in the library's zone; `timestamp` (when the form was sent,
    in many spellings) is not needed. Dates are ISO or M/D/YYYY. A slot entered twice keeps the later
    row (the correction). Occupancy is the sum of the areas' counts.
    """
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    parts = []
    for number, file in enumerate(files):
        campus = re.sub(r"^(Current Semester |)(.*?)( Archive|)$", r"\2", file.stem).strip()
        campus = {"SEC": "Southeast"}.get(campus, campus)
        part = _headcount_file(file)
        part["site_id"] = slug(f"tcc {campus} library")
        part["order"] = number * 10**7 + np.arange(len(part))
        parts.append(part)
    if not parts:
        raise ParseError("library", f"file:{path.name}", "no CSV file to read")
    rows = pd.concat(parts, ignore_index=True).sort_values("order")
    rows = rows.drop_duplicates(["site_id", "local"], keep="last")
    return _counts(
        site_id=rows["site_id"].to_numpy(),
        counter_id="headcount",
        interval_start=localize(rows["local"].reset_index(drop=True), zone).to_numpy(),
        interval_minutes=60,
        occupancy=rows["head"].to_numpy(dtype=float),
    )


def _door_file(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"date", "gate_start", "gate_end"} - set(raw.columns)
    if missing:
        raise ParseError("gates", f"file:{path.name}", f"lacks column(s) {', '.join(sorted(missing))}")
    local = pd.to_datetime(raw["date"].str.strip(), format="%Y-%m-%d %H:%M")
    return pd.DataFrame(
        {
            "local": local,
            "entries": pd.to_numeric(raw["gate_start"], errors="coerce"),
            "exits": pd.to_numeric(raw["gate_end"], errors="coerce"),
        }
    )


def hour_shift(door: pd.Series, others: pd.Series, limit: int = 3) -> int:
    """Whole hours a door's clock runs late (subtract them) so its daily traffic lines up with the other doors'.

    A door file written on a wrong clock (the McKay "Level 3 Stairs" runs two hours late) shows as
    a profile shifted against the building's; 0 unless a shift correlates clearly better.
    """
    shifts = range(-limit, limit + 1)
    score = {s: door.shift(-s).corr(others) for s in shifts}
    best = max(shifts, key=lambda s: score[s] if np.isfinite(score[s]) else -np.inf)
    return best if score[best] > score[0] + 0.05 else 0


def read_gate_counts(path: Path, zone: str = "America/Denver") -> pd.DataFrame:
    """Hourly gate counts `date,gate_start,gate_end` (ins, outs; local time), one file per door, one site.

    Each door is a counter; a door whose clock is off by whole hours against the others is moved
    onto theirs (`hour_shift`). Per-door ins and outs do not balance (people leave by another door),
    so only the building's sum means anything for occupancy.
    """
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    doors = {slug(f.stem.removeprefix("Occupancy ")): _door_file(f) for f in files}
    if not doors:
        raise ParseError("gates", f"file:{path.name}", "no CSV file to read")
    traffic = {
        name: (d.set_index("local")["entries"] + d.set_index("local")["exits"]).groupby(level=0).sum()
        for name, d in doors.items()
    }
    parts = []
    for name, door in doors.items():
        if len(doors) > 1:
            others = sum(t for n, t in traffic.items() if n != name)
            first, last = min(t.index.min() for t in traffic.values()), max(t.index.max() for t in traffic.values())
            grid = pd.date_range(first, last, freq="1h")
            shift = hour_shift(traffic[name].reindex(grid), pd.Series(others).reindex(grid))
            door = door.assign(local=door["local"] - pd.Timedelta(hours=shift))
        parts.append(door.assign(counter_id=name))
    rows = pd.concat(parts, ignore_index=True).drop_duplicates(["counter_id", "local"], keep="last")
    return _counts(
        site_id="mckay-library",
        counter_id=rows["counter_id"].to_numpy(),
        interval_start=localize(rows["local"], zone).to_numpy(),
        interval_minutes=60,
        entries=rows["entries"].to_numpy(dtype=float),
        exits=rows["exits"].to_numpy(dtype=float),
    )


EXPORT_READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "sauna_occupancy_log": read_sauna_occupancy_log,
    "library_headcounts": read_library_headcounts,
    "gate_counts_hourly": read_gate_counts,
}


def _cell(value: float) -> str:
    if pd.isna(value):
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def write_counts_csv(rows: pd.DataFrame, out: Path) -> int:
    """Counts rows to the counts CSV (UTC `...Z` instants, empty cells for absent measures)."""
    frame = rows.copy()
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    for column in ("entries", "exits", "occupancy"):
        frame[column] = frame[column].map(_cell)
    frame.to_csv(out, index=False, columns=list(COUNTS_COLUMNS))
    return len(frame)


def export_counts_for_site(reader: str, source: Path, site_id: str, counter_ids: list[str], out: Path) -> Path:
    """The export's rows for one site as a counts CSV `footfall import` loads (written to `out`).

    An export naming several sites (one per sauna, one per campus) gives the site whose id it uses,
    or its only one; a site with a single counter takes every row of that export site as its counter's.
    """
    if reader not in EXPORT_READERS:
        raise ValueError(f"export format {reader!r} is not one of {', '.join(sorted(EXPORT_READERS))}")
    rows = EXPORT_READERS[reader](source)
    sites = sorted(set(rows["site_id"]))
    chosen = site_id if site_id in sites else sites[0] if len(sites) == 1 else None
    if chosen is None:
        raise ParseError(site_id, f"file:{source.name}", f"the export holds sites {', '.join(sites)}, not {site_id}")
    rows = rows[rows["site_id"] == chosen].assign(site_id=site_id)
    if len(counter_ids) == 1 and rows["counter_id"].nunique() == 1:
        rows = rows.assign(counter_id=counter_ids[0])
    write_counts_csv(rows, out)
    return out
