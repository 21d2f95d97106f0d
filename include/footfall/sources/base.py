"""What every source kind shares: a batch of payloads to load, the `Source` protocol, a run's result.

Nothing here imports the pipeline, the warehouse or a source implementation, so all of them can
import it (the types live where nothing imports back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from footfall.config import Site
from footfall.sources.fetched import Fetched, source_label
from footfall.timewindow import Window

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from footfall.errors import SiteDataError
    from footfall.normalize import Payload

WriteMode = Literal["replace", "merge"]


@dataclass
class Batch:
    """Payloads loaded together: normalized, validated and written in one transaction.

    `payloads` were landed already (a pull lands before parsing). `pending` is an answer landed
    only together with its write (a file: a landed file is a processed file), its payload given id 0
    until then. `error` is a unit that failed before parsing (a file over the size limit): it is
    reported with the run's outcome and never holds back the other batches.
    """

    payloads: list[Payload] = field(default_factory=list)
    window: Window | None = None  # the window the batch replaces (default: the run's window)
    pending: Fetched | None = None
    error: SiteDataError | None = None
    body_bytes: int = 0
    site_known: bool = False  # the site and counter rows were written by this run's landing already


class Source(Protocol):
    """One source kind: how it collects payloads for a window, and how its rows meet the warehouse.

    `mode` "replace": the source was asked for exactly the window, so its rows replace the window.
    `mode` "merge": bodies say what they contain (pushes, files), so their rows are merged (upsert,
    the latest payload wins) and nothing the bodies do not mention is deleted.
    """

    @property
    def kind(self) -> str:
        """The source kind (http, sql, file, push)."""
        ...

    @property
    def mode(self) -> WriteMode:
        """ "replace" or "merge"."""
        ...

    def label(self, site: Site) -> str:
        """The source as raw_payload.source and errors name it."""
        ...

    def collect(self, site: Site, window: Window, *, engine: Engine) -> Iterable[Batch]:
        """The batches a run of `window` loads; raises the SiteDataError that fails the whole run."""
        ...

    def normalize(self, site: Site, window: Window, payloads: list[Payload]) -> pd.DataFrame:
        """count_interval rows of a batch's payloads."""
        ...

    def expected_range(self, site: Site, window: Window) -> Window:
        """Where a batch's intervals may lie for the run of `window` (what the validation checks)."""
        ...


@dataclass
class SyncResult:
    """What one window did, for the task log, summaries (XCom-sized) and the benchmarks."""

    site_id: str
    window: Window
    payload_ids: list[int]
    rows_read: int = 0
    rows_skipped: int = 0  # left out by normalize: records with no count (an export's closing row), exact repeats
    rows_loaded: int = 0
    rows_written: int = 0
    rows_deleted: int = 0
    rows_revised: int = 0
    body_bytes: int = 0
    flags: dict[str, int] = field(default_factory=dict)  # "check/severity" -> flags of the run's checks
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        return {
            "site_id": self.site_id,
            "window_start": self.window.start.isoformat(),
            "window_end": self.window.end.isoformat(),
            "payloads": len(self.payload_ids),
            "rows_read": self.rows_read,
            "rows_skipped": self.rows_skipped,
            "rows_loaded": self.rows_loaded,
            "rows_written": self.rows_written,
            "rows_deleted": self.rows_deleted,
            **{f"{stage}_s": round(s, 4) for stage, s in self.seconds.items()},
        }

    def report(self, mode: WriteMode = "replace") -> str:
        """The run in words, one line per stage, for the task log (the data team reads it in the UI)."""
        unchanged = max(self.rows_loaded - self.rows_written, 0)
        outside = max(self.rows_read - self.rows_loaded, 0)
        s = self.seconds
        lines = [
            f"site {self.site_id}, window {self.window.start:%Y-%m-%d %H:%M}-{self.window.end:%Y-%m-%d %H:%M} UTC:",
            f"  landed: {len(self.payload_ids)} payload(s), {self.body_bytes:,} bytes ({s.get('extract', 0.0):.2f} s)",
            f"  parsed: {self.rows_read} row(s), {outside} outside the window left out,"
            f" {self.rows_skipped} record(s) without counts or repeated skipped"
            f" ({s.get('normalize', 0.0) + s.get('validate', 0.0):.2f} s with validation)",
            f"  {'replaced' if mode == 'replace' else 'merged'}: {self.rows_loaded} row(s):"
            f" {self.rows_written} written, {unchanged} unchanged, {self.rows_revised} revised,"
            f" {self.rows_deleted} deleted ({s.get('load', 0.0):.2f} s)",
        ]
        if self.flags:
            shown = ", ".join(f"{n} {key}" for key, n in sorted(self.flags.items()))
            lines.append(f"  flags: {sum(self.flags.values())} ({shown}) ({s.get('checks', 0.0):.2f} s)")
        else:
            lines.append(f"  flags: none ({s.get('checks', 0.0):.2f} s)")
        lines.append(f"  took {sum(s.values()):.2f} s")
        return "\n".join(lines)


@dataclass
class Landed:
    """Batches landed before, loaded again through a site's source (replay, import chunks): nothing is
    called; `normalize` replaces the source's own for formats that are not a vendor preset (imports)."""

    source: Source
    batches: list[Batch]
    normalizer: Callable[[Site, list[Payload]], pd.DataFrame] | None = None

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def mode(self) -> WriteMode:
        return self.source.mode

    def label(self, site: Site) -> str:
        return self.source.label(site)

    def collect(self, site: Site, window: Window, *, engine: Engine) -> Iterable[Batch]:
        return self.batches

    def normalize(self, site: Site, window: Window, payloads: list[Payload]) -> pd.DataFrame:
        if self.normalizer is not None:
            return self.normalizer(site, payloads)
        return self.source.normalize(site, window, payloads)

    def expected_range(self, site: Site, window: Window) -> Window:
        return self.source.expected_range(site, window)


__all__ = ["Batch", "Fetched", "Landed", "Source", "SyncResult", "WriteMode", "source_label"]
