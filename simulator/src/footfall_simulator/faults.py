"""Counting and transport faults the simulator can inject, and what each one does.

Count faults change the numbers a device reports; HTTP faults change how it answers:

- gap: intervals overlapping the range are left out;
- stuck: entries and exits are 0 for the minutes in the range;
- imbalance: exits of intervals overlapping the range are multiplied by ``exit_factor``;
- spike: entries of the minutes in the range are multiplied by ``factor``, and the
  extra people leave about a dwell time later (so occupancy stays consistent);
- clock_shift: reported timestamps of intervals starting in the range move by ``hours``;
- http_500: the request answers 500;
- timeout: the server waits ``seconds`` before answering;
- malformed: a 200 whose ``body`` is an HTML page, truncated JSON, JSON of the wrong
  shape, or negative counts;
- slow_drip: the answer's headers at once, then its body ``chunk_bytes`` at a time, one chunk
  every ``seconds`` (a device or proxy that keeps the socket alive but never finishes);
- cut: the connection closes after ``fraction`` of the body although Content-Length promised
  all of it (a truncated body on the wire, unlike malformed/truncated which is a whole answer);
- changing: every pull of a window answers other counts than the pull before: entries are raised
  by ``step`` times the number of earlier pulls the fault matched (a device that recounts).

Count faults are judged per interval (or minute); HTTP faults apply when the requested
window overlaps their range. Ranges are [start_utc, end_utc) and None is unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import numpy as np

from .traffic import Adjust, DayCounts, DeviceProfile, IntervalArrays, count_arrays

__all__ = [
    "COUNT_KINDS",
    "FAULT_KINDS",
    "HTTP_KINDS",
    "MALFORMED_BODIES",
    "MAX_TIMEOUT_SECONDS",
    "Fault",
    "apply_interval_faults",
    "counts_with_faults",
    "http_faults_for",
    "minute_adjuster",
]

COUNT_KINDS = frozenset({"gap", "stuck", "imbalance", "spike", "clock_shift"})
HTTP_KINDS = frozenset({"http_500", "timeout", "malformed", "slow_drip", "cut", "changing"})
FAULT_KINDS = COUNT_KINDS | HTTP_KINDS
MALFORMED_BODIES = frozenset({"html", "truncated", "wrong_shape", "negative"})
MAX_TIMEOUT_SECONDS = 300.0

# Defaults and allowed range of each kind's numeric parameter.
_NUMERIC_PARAMS: dict[str, tuple[str, float, float, float]] = {
    "imbalance": ("exit_factor", 0.7, 0.0, 100.0),
    "spike": ("factor", 8.0, 1.0, 1000.0),
    "clock_shift": ("hours", 1.0, -48.0, 48.0),
    "timeout": ("seconds", 30.0, 0.0, MAX_TIMEOUT_SECONDS),
    "slow_drip": ("seconds", 2.0, 0.01, 60.0),
    "cut": ("fraction", 0.5, 0.0, 0.99),
    "changing": ("step", 1.0, 1.0, 1000.0),
}
SLOW_DRIP_CHUNK_BYTES = 16  # default chunk of a slow drip


def _parse_instant(value: Any, name: str) -> datetime | None:
    """An aware datetime from a datetime or ISO 8601 text ("Z" allowed); naive is refused."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{name}: not an ISO 8601 date-time: {value!r}") from exc
    else:
        raise ValueError(f"{name}: expected an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{name}: needs a UTC offset or 'Z': {value!r}")
    return parsed.astimezone(UTC)


def _scalar(text: str) -> Any:
    """CLI values: int, then float, then the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Fault:
    """One injected fault: what, on which device (None = all), when (UTC, None = unbounded)."""

    kind: str
    ref: str | None = None
    start_utc: datetime | None = None
    end_utc: datetime | None = None
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.ref is not None and (not isinstance(self.ref, str) or not self.ref):
            raise ValueError("ref must be a non-empty string or None")
        start = _parse_instant(self.start_utc, "start")
        end = _parse_instant(self.end_utc, "end")
        if start is not None and end is not None and start >= end:
            raise ValueError("start must be before end")
        object.__setattr__(self, "start_utc", start)
        object.__setattr__(self, "end_utc", end)
        if not isinstance(self.params, Mapping):
            raise ValueError("params must be a mapping")
        params = dict(self.params)
        spec = _NUMERIC_PARAMS.get(self.kind)
        if spec is not None:
            name, default, low, high = spec
            raw = params.get(name, default)
            try:
                value = float(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{self.kind}: {name} must be a number, got {raw!r}") from exc
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f"{self.kind}: {name} must be in [{low:g}, {high:g}], got {raw!r}")
            params[name] = value
        if self.kind == "malformed":
            body = params.get("body", "html")
            if body not in MALFORMED_BODIES:
                raise ValueError(f"malformed: body must be one of {sorted(MALFORMED_BODIES)}, got {body!r}")
            params["body"] = body
        if self.kind == "slow_drip":
            chunk = params.get("chunk_bytes", SLOW_DRIP_CHUNK_BYTES)
            if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= 65536:
                raise ValueError(f"slow_drip: chunk_bytes must be a whole number in [1, 65536], got {chunk!r}")
            params["chunk_bytes"] = chunk
        object.__setattr__(self, "params", MappingProxyType(params))

    # --- construction -------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Fault:
        """From CLI text: "kind=gap,ref=ABC,start=2026-11-20T10:00Z,end=...,exit_factor=0.7".

        Keys other than kind, ref, start and end become params.
        """
        values: dict[str, str] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec item {part!r} is not key=value")
            values[key.strip()] = value.strip()
        if "kind" not in values:
            raise ValueError("fault spec needs kind=...")
        kind = values.pop("kind")
        ref = values.pop("ref", None) or None
        start = values.pop("start", None)
        end = values.pop("end", None)
        params = {k: (v if k == "body" else _scalar(v)) for k, v in values.items()}
        return cls(kind, ref, start, end, params)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Any) -> Fault:
        """From the control API's JSON: {kind, ref, start, end, params} (start_utc/end_utc also read)."""
        if not isinstance(data, Mapping):
            raise ValueError("a fault must be a JSON object")
        allowed = {"kind", "ref", "start", "end", "start_utc", "end_utc", "params"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        kind = data.get("kind")
        if not isinstance(kind, str):
            raise ValueError("fault kind must be a string")
        params = data.get("params") or {}
        if not isinstance(params, Mapping):
            raise ValueError("params must be a JSON object")
        return cls(
            kind,
            data.get("ref"),
            data.get("start", data.get("start_utc")),
            data.get("end", data.get("end_utc")),
            dict(params),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref": self.ref,
            "start": _iso(self.start_utc),
            "end": _iso(self.end_utc),
            "params": dict(self.params),
        }

    # --- matching -----------------------------------------------------------------------

    def applies_to(self, ref: str) -> bool:
        return self.ref is None or self.ref == ref

    def overlaps(self, start_utc: datetime, end_utc: datetime) -> bool:
        """Whether [start_utc, end_utc) meets the fault's range."""
        return (self.end_utc is None or start_utc < self.end_utc) and (
            self.start_utc is None or end_utc > self.start_utc
        )

    def _bounds(self) -> tuple[float, float]:
        lo = -math.inf if self.start_utc is None else self.start_utc.timestamp()
        hi = math.inf if self.end_utc is None else self.end_utc.timestamp()
        return lo, hi

    def covers_epochs(self, epochs: np.ndarray) -> np.ndarray:
        """Mask of instants (UTC seconds) inside [start, end)."""
        lo, hi = self._bounds()
        return (epochs >= lo) & (epochs < hi)

    def overlaps_epochs(self, starts: np.ndarray, minutes: np.ndarray) -> np.ndarray:
        """Mask of intervals [start, start + minutes) meeting the range."""
        lo, hi = self._bounds()
        return (starts < hi) & (starts + 60 * minutes > lo)

    def number(self, name: str) -> float:
        return float(self.params[name])


def minute_adjuster(faults: Iterable[Fault], profile: DeviceProfile) -> Adjust | None:
    """The minute-level faults (stuck, spike) of a device as a day rewrite, or None."""
    relevant = [f for f in faults if f.kind in ("stuck", "spike") and f.applies_to(profile.ref)]
    if not relevant:
        return None
    shift = max(1, round(float(profile.dwell_minutes)))

    def adjust(dc: DayCounts) -> tuple[np.ndarray, np.ndarray]:
        entries, exits = dc.entries, dc.exits
        n = dc.minutes
        epochs = dc.start_epoch + 60 * np.arange(n, dtype=np.int64)
        copied = False
        for fault in relevant:
            mask = fault.covers_epochs(epochs)
            if not mask.any():
                continue
            if not copied:
                entries, exits, copied = entries.copy(), exits.copy(), True
            if fault.kind == "stuck":
                entries[mask] = 0
                exits[mask] = 0
            else:  # spike: extra arrivals, who leave a dwell time later (by closing at the latest)
                extra = np.where(mask, np.rint(entries * fault.number("factor")).astype(np.int64) - entries, 0)
                last = dc.open_last if dc.open_last is not None else n - 1
                leave = np.minimum(np.arange(n, dtype=np.int64) + shift, max(last, 0))
                leave = np.maximum(leave, np.arange(n, dtype=np.int64))  # never before arriving
                leave = np.minimum(leave, n - 1)
                entries += extra
                exits += np.bincount(leave, weights=extra, minlength=n).astype(np.int64)
        return entries, exits

    return adjust


def apply_interval_faults(arrays: IntervalArrays, faults: Iterable[Fault], ref: str) -> IntervalArrays:
    """Interval-level faults: imbalance, then gap, then clock_shift (ranges are in true time)."""
    relevant = [f for f in faults if f.applies_to(ref) and f.kind in ("imbalance", "gap", "clock_shift")]
    if not relevant or len(arrays) == 0:
        return arrays
    starts, minutes = arrays.start_epoch, arrays.minutes
    exits = arrays.exits
    keep = np.ones(len(arrays), dtype=bool)
    shifted = np.zeros(len(arrays), dtype=np.int64)
    for fault in relevant:
        if fault.kind == "imbalance":
            hit = fault.overlaps_epochs(starts, minutes)
            exits = np.where(hit, np.rint(exits * fault.number("exit_factor")).astype(np.int64), exits)
        elif fault.kind == "gap":
            keep &= ~fault.overlaps_epochs(starts, minutes)
        else:
            hit = fault.covers_epochs(starts)
            shifted = np.where(hit, shifted + round(fault.number("hours") * 3600), shifted)
    out = IntervalArrays(starts + shifted, minutes, arrays.entries, exits, arrays.offsets)
    return out.select(keep)


def counts_with_faults(
    profile: DeviceProfile,
    start_utc: datetime,
    end_utc: datetime,
    resolution_minutes: int,
    seed: int,
    faults: Iterable[Fault] = (),
    now_utc: datetime | None = None,
) -> IntervalArrays:
    """What the device reports for [start_utc, end_utc): simulated counts with count faults applied."""
    faults = [f for f in faults if f.kind in COUNT_KINDS and f.applies_to(profile.ref)]
    arrays = count_arrays(
        profile, start_utc, end_utc, resolution_minutes, seed, now_utc, adjust=minute_adjuster(faults, profile)
    )
    return apply_interval_faults(arrays, faults, profile.ref)


def http_faults_for(faults: Iterable[Fault], ref: str, start_utc: datetime, end_utc: datetime) -> list[Fault]:
    """HTTP faults for a request on ``ref`` whose window is [start_utc, end_utc), in order."""
    return [f for f in faults if f.kind in HTTP_KINDS and f.applies_to(ref) and f.overlaps(start_utc, end_utc)]
