"""The incremental window: the run's data interval plus a lookback, and local-time conversions.

Every 5-minute run re-reads `lookback` before its data interval so intervals a vendor revises
after the fact (a partial interval completed later, a resend after an outage) are caught; the
load then replaces exactly that window, which keeps re-runs and backfills idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window {self.start.isoformat()} .. {self.end.isoformat()}")
        object.__setattr__(self, "start", plain_utc(self.start))
        object.__setattr__(self, "end", plain_utc(self.end))

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%dT%H:%MZ}, {self.end:%Y-%m-%dT%H:%MZ})"

    def local_dates(self, zone: ZoneInfo) -> tuple[date, date]:
        """First and last local date the window touches (inclusive), for APIs that take dates."""
        last = (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        return self.start.astimezone(zone).date(), last

    def covering_local_days(self, zone: ZoneInfo) -> Window:
        """The whole local days the window touches, in UTC (what a date-based API answers with)."""
        first, last = self.local_dates(zone)
        return Window(local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone))


def plain_utc(moment: datetime) -> datetime:
    """A stdlib UTC datetime, whatever subclass came in: Airflow hands over pendulum instants, whose
    arithmetic can drop the zone, so every window is made of plain datetimes from the start."""
    m = moment.astimezone(UTC)
    return datetime(m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, tzinfo=UTC)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def load_window(interval_start: datetime, interval_end: datetime, lookback_minutes: int) -> Window:
    """The window one run extracts and replaces: its data interval widened by the lookback."""
    return Window(plain_utc(interval_start) - timedelta(minutes=lookback_minutes), interval_end)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a naive one is taken as UTC (the CLI's convention, stated in --help)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def floor_time(moment: datetime, minutes: int) -> datetime:
    """Round an aware instant down to a multiple of `minutes` since the epoch."""
    epoch = int(moment.timestamp())
    step = minutes * 60
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)
