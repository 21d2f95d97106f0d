"""Percent of capacity and the traffic-light level a visitor sees."""

from __future__ import annotations

from typing import Literal

from footfall.config import LevelThresholds

Level = Literal["low", "medium", "high", "full", "closed", "no_data"]


def percent(occupancy: float | None, capacity: int | None) -> int | None:
    """Occupancy as a whole percent of capacity, 0-100 (a count above capacity is 100); None without either."""
    if occupancy is None or not capacity:
        return None
    return max(0, min(100, round(100 * occupancy / capacity)))


def level(*, is_open: bool, fresh: bool, percent_now: int | None, thresholds: LevelThresholds) -> Level:
    """closed when the hours say so; no_data without a fresh figure (or a capacity to compare it with)."""
    if not is_open:
        return "closed"
    if not fresh or percent_now is None:
        return "no_data"
    if percent_now >= thresholds.full:
        return "full"
    if percent_now >= thresholds.high:
        return "high"
    if percent_now >= thresholds.medium:
        return "medium"
    return "low"
