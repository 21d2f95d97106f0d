"""Planning an import: chunks of whole local days, and batches of consecutive chunks loaded together."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from footfall.config import Site
from footfall.timewindow import Window, local_midnight

BATCH_BYTES = 8 << 20  # landed CSV text per normalize -> validate -> load -> checks call (~120k rows, ~250 MiB)
BATCH_DAYS = 366  # and at most a year of chunks
CHUNK_DAYS = {"day": 1, "week": 7}


@dataclass(frozen=True)
class ChunkPlan:
    """One unit of an import: a window of whole local days, and where its data comes from."""

    import_id: str
    site_id: str
    start: datetime
    end: datetime
    source: str  # "api" or "file:<name>"

    def window(self) -> Window:
        return Window(self.start, self.end)

    def to_dict(self) -> dict[str, str]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> ChunkPlan:
        return cls(
            data["import_id"],
            data["site_id"],
            datetime.fromisoformat(data["start"]),
            datetime.fromisoformat(data["end"]),
            data["source"],
        )


def plan_chunks(site: Site, first_day: date, last_day: date, source: str, chunk: str = "day") -> list[ChunkPlan]:
    """Whole local days [first_day, last_day] in chunks of a day or a week (DST days are 23 or 25 h)."""
    if last_day < first_day:
        raise ValueError(f"import range ends ({last_day}) before it starts ({first_day})")
    step = CHUNK_DAYS[chunk]
    import_id = hashlib.sha256(f"{site.id}|{source}|{first_day}|{last_day}|{chunk}".encode()).hexdigest()[:16]
    plans, day = [], first_day
    while day <= last_day:
        nxt = min(day + timedelta(days=step), last_day + timedelta(days=1))
        plans.append(
            ChunkPlan(import_id, site.id, local_midnight(day, site.zone), local_midnight(nxt, site.zone), source)
        )
        day = nxt
    return plans


def batches(plans: list[ChunkPlan], done: set[datetime], sizes: dict[datetime, int]) -> list[list[ChunkPlan]]:
    """Runs of consecutive pending chunks, each at most BATCH_BYTES of landed rows and BATCH_DAYS long.

    Chunks are contiguous, so a batch's window is exactly the union of its chunks' windows.
    """
    out: list[list[ChunkPlan]] = []
    current: list[ChunkPlan] = []
    size = 0
    for plan in plans:
        if plan.start in done:
            current, size = _close(out, current), 0
            continue
        chunk_bytes = sizes.get(plan.start, 0)
        too_long = current and plan.end - current[0].start > timedelta(days=BATCH_DAYS)
        if current and (size + chunk_bytes > BATCH_BYTES or too_long):
            current, size = _close(out, current), 0
        current.append(plan)
        size += chunk_bytes
    _close(out, current)
    return out


def _close(out: list[list[ChunkPlan]], current: list[ChunkPlan]) -> list[ChunkPlan]:
    if current:
        out.append(current)
    return []
