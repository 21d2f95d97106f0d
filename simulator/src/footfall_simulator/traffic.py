"""Deterministic, realistic people-counting traffic for simulated devices.

Counts are generated one device-local day at a time on a 1-minute grid, from a
numpy Generator seeded by a stable hash of (seed, ref, local date). Every
resolution is a sum of those minutes, so:

- the same interval always gets the same numbers whatever window is asked
  (window independence), and 15-minute counts are the sums of their 5-minute counts;
- a local day is 23, 24 or 25 hours long (DST), and intervals follow the
  device's wall clock, as real devices that report local time do.

Only the standard library and numpy are used: the module is imported by the
HTTP simulator and by tests, and must stay quick to import.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

__all__ = [
    "ALLOWED_RESOLUTIONS",
    "DEFAULT_OPENING_HOURS",
    "DayCounts",
    "DeviceProfile",
    "IntervalArrays",
    "SimInterval",
    "count_arrays",
    "count_intervals",
    "day_counts",
    "default_peak_entries_per_hour",
    "local_day_bounds",
    "occupancy_at",
]

DEFAULT_OPENING_HOURS: Mapping[int, tuple[str, str] | None] = MappingProxyType(
    {
        0: ("08:00", "20:00"),
        1: ("08:00", "20:00"),
        2: ("08:00", "20:00"),
        3: ("08:00", "20:00"),
        4: ("08:00", "20:00"),
        5: ("09:00", "18:00"),
        6: None,
    }
)

# Weekly shape, Monday first: Friday busiest, Saturday lower, Sunday (if open) lowest.
DEFAULT_WEEKDAY_FACTORS: tuple[float, ...] = (0.9, 0.95, 1.0, 0.95, 1.1, 0.8, 0.6)

# Resolutions that stay aligned to the local wall clock across DST changes:
# divisors of an hour, and 1440 meaning "one local day" (23, 24 or 25 hours).
ALLOWED_RESOLUTIONS: frozenset[int] = frozenset({1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 1440})

_RAMP_MINUTES = 45.0  # morning ramp after opening
_TAPER_MINUTES = 45.0  # fewer arrivals before closing


def default_peak_entries_per_hour(ref: str) -> float:
    """Peak hourly entries derived from the ref, so unknown devices differ but stay stable."""
    digest = hashlib.blake2b(ref.encode("utf-8"), digest_size=8).digest()
    fraction = int.from_bytes(digest, "little") / float(2**64)
    return round(60.0 + 540.0 * fraction, 3)


def _parse_hhmm(value: str) -> int:
    """Minutes after local midnight of "HH:MM" ("24:00" allowed as an end of day)."""
    try:
        hh, mm = value.split(":")
        hours, minutes = int(hh), int(mm)
    except (AttributeError, ValueError) as exc:
        raise ValueError(f"opening time must be 'HH:MM', got {value!r}") from exc
    if not (0 <= minutes < 60 and (0 <= hours < 24 or (hours == 24 and minutes == 0))):
        raise ValueError(f"opening time out of range: {value!r}")
    return hours * 60 + minutes


def _to_date(value: date | str) -> date:
    if isinstance(value, datetime):
        raise TypeError("period bounds are local dates, not datetimes")
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass(frozen=True)
class DeviceProfile:
    """What a simulated counter sees: its site's hours, size, dwell time and calendar.

    ``opening_hours`` maps weekday (0=Monday) to local ("HH:MM", "HH:MM") or None
    (closed); weekdays left out are closed. ``periods`` are (start_date, end_date,
    factor) multipliers on traffic for local dates in [start, end] inclusive, e.g. a
    school holiday at 0.4. ``staff`` people arrive in the half hour before opening
    and leave in the half hour after closing (0 by default, so closed hours are
    exactly zero).
    """

    ref: str
    timezone: str = "Europe/Paris"
    opening_hours: Mapping[int, tuple[str, str] | None] = field(
        default_factory=lambda: DEFAULT_OPENING_HOURS, compare=False, hash=False
    )
    peak_entries_per_hour: float | None = None
    dwell_minutes: float = 45.0
    periods: tuple[tuple[date, date, float], ...] = ()
    weekday_factors: tuple[float, ...] = DEFAULT_WEEKDAY_FACTORS
    staff: int = 0
    name: str | None = None
    # Parsed opening hours (minutes after local midnight), the comparable form.
    hours: tuple[tuple[int, int] | None, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ref:
            raise ValueError("a device profile needs a non-empty ref")
        try:
            ZoneInfo(self.timezone)  # fail early on an unknown zone
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        parsed: list[tuple[int, int] | None] = [None] * 7
        frozen_hours: dict[int, tuple[str, str] | None] = {}
        for weekday, span in dict(self.opening_hours).items():
            day = int(weekday)
            if not 0 <= day <= 6:
                raise ValueError(f"weekday must be 0..6, got {weekday!r}")
            if span is None:
                frozen_hours[day] = None
                continue
            opening, closing = (str(v) for v in span)
            start, end = _parse_hhmm(opening), _parse_hhmm(closing)
            if start >= end:
                raise ValueError(f"opening must be before closing on weekday {day}: {span!r}")
            parsed[day] = (start, end)
            frozen_hours[day] = (opening, closing)
        object.__setattr__(self, "opening_hours", MappingProxyType(frozen_hours))
        object.__setattr__(self, "hours", tuple(parsed))
        if self.peak_entries_per_hour is None:
            object.__setattr__(self, "peak_entries_per_hour", default_peak_entries_per_hour(self.ref))
        if not (self.peak_entries_per_hour is not None and 0 <= float(self.peak_entries_per_hour) < 1e6):
            raise ValueError("peak_entries_per_hour must be in [0, 1e6)")
        if not 0 < float(self.dwell_minutes) <= 24 * 60:
            raise ValueError("dwell_minutes must be in (0, 1440]")
        if len(self.weekday_factors) != 7 or any(f < 0 for f in self.weekday_factors):
            raise ValueError("weekday_factors needs 7 non-negative numbers")
        periods = tuple((_to_date(s), _to_date(e), float(f)) for s, e, f in self.periods)
        if any(f < 0 or s > e for s, e, f in periods):
            raise ValueError("periods need start <= end and a non-negative factor")
        object.__setattr__(self, "periods", periods)
        object.__setattr__(self, "weekday_factors", tuple(float(f) for f in self.weekday_factors))
        if not 0 <= int(self.staff) <= 1000:
            raise ValueError("staff must be in [0, 1000]")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def display_name(self) -> str:
        return self.name or f"Simulated counter {self.ref}"

    def factor_for(self, day: date) -> float:
        """Weekday factor times every holiday/term period covering the local date."""
        factor = self.weekday_factors[day.weekday()]
        for start, end, period_factor in self.periods:
            if start <= day <= end:
                factor *= period_factor
        return factor

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceProfile:
        """Build from plain data (JSON/YAML): opening_hours keys may be strings, periods lists."""
        values = dict(data)
        if "opening_hours" in values and values["opening_hours"] is not None:
            values["opening_hours"] = {
                int(k): (tuple(v) if v is not None else None) for k, v in values["opening_hours"].items()
            }
        if "periods" in values:
            values["periods"] = tuple(tuple(p) for p in values["periods"])
        if "weekday_factors" in values:
            values["weekday_factors"] = tuple(values["weekday_factors"])
        unknown = set(values) - {f for f in cls.__dataclass_fields__ if f != "hours"}
        if unknown:
            raise ValueError(f"unknown profile fields: {sorted(unknown)}")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class SimInterval:
    """Entries and exits counted during [start_utc, start_utc + minutes)."""

    start_utc: datetime
    minutes: int
    entries: int
    exits: int

    @property
    def end_utc(self) -> datetime:
        return self.start_utc + timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class DayCounts:
    """One device-local day on a 1-minute grid (arrays are read-only, shared by a cache).

    ``offsets`` is the UTC offset in minutes of each minute, ``wall`` its local
    wall-clock minute of the day (repeats during the autumn DST hour), and
    ``open_first`` / ``open_last`` the first and last open minute indexes, or None
    on a closed day.
    """

    day: date
    start_epoch: int  # UTC seconds of local midnight
    entries: np.ndarray
    exits: np.ndarray
    offsets: np.ndarray
    wall: np.ndarray
    open_first: int | None
    open_last: int | None

    @property
    def minutes(self) -> int:
        return int(self.entries.shape[0])

    @property
    def start_utc(self) -> datetime:
        return datetime.fromtimestamp(self.start_epoch, UTC)

    @property
    def end_epoch(self) -> int:
        return self.start_epoch + 60 * self.minutes


@dataclass(frozen=True)
class IntervalArrays:
    """Column form of a list of intervals, cheap to build for a year of data."""

    start_epoch: np.ndarray  # int64 UTC seconds
    minutes: np.ndarray  # int64
    entries: np.ndarray  # int64
    exits: np.ndarray  # int64
    offsets: np.ndarray  # int64 local UTC offset (minutes) at each interval start

    def __len__(self) -> int:
        return int(self.start_epoch.shape[0])

    def to_intervals(self) -> list[SimInterval]:
        fromts = datetime.fromtimestamp
        return [
            SimInterval(fromts(s, UTC), m, e, x)
            for s, m, e, x in zip(
                self.start_epoch.tolist(),
                self.minutes.tolist(),
                self.entries.tolist(),
                self.exits.tolist(),
                strict=True,
            )
        ]

    def local_starts(self) -> list[datetime]:
        """Interval starts as naive-looking local wall times, returned as UTC-tagged values.

        They carry tzinfo=UTC only to satisfy aware-datetime rules; read them as wall
        clock (what devices that report local time without offset write).
        """
        local = (self.start_epoch + 60 * self.offsets).tolist()
        return [datetime.fromtimestamp(s, UTC) for s in local]

    def select(self, mask: np.ndarray) -> IntervalArrays:
        return IntervalArrays(
            self.start_epoch[mask],
            self.minutes[mask],
            self.entries[mask],
            self.exits[mask],
            self.offsets[mask],
        )

    @classmethod
    def empty(cls) -> IntervalArrays:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z, z)


def _epoch(t: datetime) -> float:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"timezone-aware datetime required, got naive {t!r}")
    return t.timestamp()


def local_day_bounds(tz: ZoneInfo, day: date) -> tuple[datetime, datetime]:
    """UTC instants of local midnight of ``day`` and of the next day (23 to 25 hours apart)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def _offset_minutes(tz: ZoneInfo, epoch: float) -> int:
    off = datetime.fromtimestamp(epoch, tz).utcoffset()
    assert off is not None
    return int(off.total_seconds() // 60)


def _minute_offsets(tz: ZoneInfo, start_epoch: int, n: int) -> np.ndarray:
    """UTC offset of each minute of the day; finds the (single) DST change by bisection."""
    first = _offset_minutes(tz, start_epoch)
    last = _offset_minutes(tz, start_epoch + 60 * (n - 1))
    offsets = np.full(n, first, dtype=np.int64)
    if first != last:
        lo, hi = 0, n - 1  # offset(lo) == first, offset(hi) == last
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_minutes(tz, start_epoch + 60 * mid) == first:
                lo = mid
            else:
                hi = mid
        offsets[hi:] = last
    return offsets


def _daily_shape(hour: np.ndarray) -> np.ndarray:
    """Relative arrival rate by local hour: morning bump, lunch peak, afternoon peak."""

    def bump(centre: float, width: float, height: float) -> np.ndarray:
        return height * np.exp(-0.5 * ((hour - centre) / width) ** 2)

    shape = 0.12 + bump(10.0, 1.2, 0.45) + bump(12.75, 0.9, 0.8) + bump(17.25, 1.6, 1.0)
    return shape / 1.15


def _stable_seed(*parts: object) -> int:
    text = "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


@lru_cache(maxsize=2048)
def day_counts(profile: DeviceProfile, day: date, seed: int) -> DayCounts:
    """Entries and exits of every minute of one local day (cached: arrays are read-only).

    Depends only on (seed, profile, day), never on the window being asked for.
    """
    tz = profile.tz
    start, end = local_day_bounds(tz, day)
    start_epoch = int(start.timestamp())
    n = int((end - start).total_seconds()) // 60
    offsets = _minute_offsets(tz, start_epoch, n)
    wall = np.arange(n, dtype=np.int64) + offsets - offsets[0]
    entries = np.zeros(n, dtype=np.int64)
    exits = np.zeros(n, dtype=np.int64)
    open_first: int | None = None
    open_last: int | None = None

    span = profile.hours[day.weekday()]
    if span is not None:
        opening, closing = span
        is_open = (wall >= opening) & (wall < closing)
        open_idx = np.flatnonzero(is_open)
        if open_idx.size:
            open_first, open_last = int(open_idx[0]), int(open_idx[-1])
            rng = np.random.default_rng(_stable_seed(seed, profile.ref, day.isoformat()))
            day_factor = float(rng.lognormal(0.0, 0.08))
            wall_open = wall[open_idx].astype(np.float64)
            since_open = wall_open - opening
            to_close = closing - wall_open
            ramp = np.minimum(1.0, 0.3 + 0.7 * since_open / _RAMP_MINUTES)
            taper = 0.1 + 0.9 * np.clip(to_close / _TAPER_MINUTES, 0.0, 1.0)
            per_minute = float(profile.peak_entries_per_hour or 0.0) / 60.0
            rate = (
                per_minute
                * profile.factor_for(day)
                * day_factor
                * _daily_shape((wall_open + 0.5) / 60.0)
                * ramp
                * taper
            )
            entries[open_idx] = rng.poisson(rate)
            # Everyone leaves about dwell minutes later, and at the latest in the last open minute.
            arrivals = np.repeat(np.arange(n, dtype=np.int64), entries)
            stay = rng.gamma(4.0, float(profile.dwell_minutes) / 4.0, size=arrivals.size)
            leave = np.minimum(arrivals + np.maximum(1, np.rint(stay).astype(np.int64)), open_last)
            exits += np.bincount(leave, minlength=n)
            if profile.staff:
                k = int(profile.staff)
                come = np.maximum(0, open_first - rng.integers(1, 31, size=k))
                go = np.minimum(n - 1, open_last + rng.integers(1, 31, size=k))
                entries += np.bincount(come, minlength=n)
                exits += np.bincount(go, minlength=n)

    for arr in (entries, exits, offsets, wall):
        arr.setflags(write=False)
    return DayCounts(day, start_epoch, entries, exits, offsets, wall, open_first, open_last)


def _local_date(tz: ZoneInfo, epoch: float) -> date:
    return datetime.fromtimestamp(epoch, tz).date()


def _days_between(tz: ZoneInfo, start_epoch: float, end_epoch: float) -> Iterable[date]:
    day = _local_date(tz, start_epoch)
    last = _local_date(tz, end_epoch - 1e-3)
    while day <= last:
        yield day
        day += timedelta(days=1)


Adjust = Callable[[DayCounts], tuple[np.ndarray, np.ndarray]]


def count_arrays(
    profile: DeviceProfile,
    start_utc: datetime,
    end_utc: datetime,
    resolution_minutes: int,
    seed: int,
    now_utc: datetime | None = None,
    adjust: Adjust | None = None,
) -> IntervalArrays:
    """Intervals whose start lies in [start_utc, end_utc), as arrays.

    Intervals are aligned on local midnight (so on the wall clock); resolution 1440
    means one interval per local day. With ``now_utc``, intervals starting at or after
    now are left out and only minutes that ended by now are counted. ``adjust`` may
    rewrite a day's minute counts (fault injection) before they are summed.
    """
    if resolution_minutes not in ALLOWED_RESOLUTIONS:
        raise ValueError(f"resolution must be one of {sorted(ALLOWED_RESOLUTIONS)}, got {resolution_minutes}")
    lo, hi = _epoch(start_utc), _epoch(end_utc)
    now = _epoch(now_utc) if now_utc is not None else math.inf
    hi = min(hi, now)
    if hi <= lo:
        return IntervalArrays.empty()
    tz = profile.tz
    parts: list[tuple[np.ndarray, ...]] = []
    for day in _days_between(tz, lo, hi):
        dc = day_counts(profile, day, seed)
        n = dc.minutes
        if adjust is not None:
            entries, exits = adjust(dc)
        else:
            entries, exits = dc.entries, dc.exits
        if dc.end_epoch > now:
            done = max(0, min(n, int((now - dc.start_epoch) // 60)))  # whole minutes before now
            entries, exits = entries.copy(), exits.copy()
            entries[done:] = 0
            exits[done:] = 0
        res = n if resolution_minutes == 1440 else resolution_minutes
        idx = np.arange(0, n, res, dtype=np.int64)
        starts = dc.start_epoch + 60 * idx
        keep = (starts >= lo) & (starts < hi)
        if not keep.any():
            continue
        lengths = np.minimum(res, n - idx)
        parts.append(
            (
                starts[keep],
                lengths[keep],
                np.add.reduceat(entries, idx)[keep],
                np.add.reduceat(exits, idx)[keep],
                dc.offsets[idx][keep],
            )
        )
    if not parts:
        return IntervalArrays.empty()
    cols = [np.concatenate([p[i] for p in parts]).astype(np.int64, copy=False) for i in range(5)]
    return IntervalArrays(*cols)


def count_intervals(
    profile: DeviceProfile,
    start_utc: datetime,
    end_utc: datetime,
    resolution_minutes: int,
    seed: int,
    now_utc: datetime | None = None,
) -> list[SimInterval]:
    """Simulated counts of the intervals starting in [start_utc, end_utc), fault-free.

    Deterministic and window-independent; see :func:`count_arrays`.
    """
    return count_arrays(profile, start_utc, end_utc, resolution_minutes, seed, now_utc).to_intervals()


def occupancy_at(profile: DeviceProfile, t_utc: datetime, seed: int) -> int:
    """People present at ``t_utc``: entries minus exits since local midnight (whole minutes)."""
    t = _epoch(t_utc)
    tz = profile.tz
    dc = day_counts(profile, _local_date(tz, t), seed)
    done = max(0, min(dc.minutes, int((t - dc.start_epoch) // 60)))
    return int(dc.entries[:done].sum() - dc.exits[:done].sum())
