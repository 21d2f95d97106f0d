"""The `http` source kind: a vendor API pulled for exactly the window (JSON or XML, as the preset decodes).

The answers are landed before anything parses them; the rows then replace the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
import requests
from sqlalchemy import Engine

from footfall.config import Site
from footfall.endpoints import Endpoint, resolve_endpoint
from footfall.errors import ExtractError
from footfall.extract import fetch_window, requested_range
from footfall.normalize import Payload, normalize_counts
from footfall.sources.base import Batch, Fetched, WriteMode, source_label
from footfall.timewindow import Window
from footfall.warehouse.landing import land_payloads


def landed_batch(engine: Engine, site: Site, window: Window, answers: list[Fetched]) -> Batch:
    """Land every answer (committed on its own, so it survives any later failure) as one batch; an
    answer that is an HTTP error fails the run, naming the payloads kept."""
    ids = land_payloads(engine, site, window, answers)
    failed = [(a, i) for a, i in zip(answers, ids, strict=True) if a.error]
    if failed:
        reason = "; ".join(a.error or "" for a, _ in failed)
        raise ExtractError(site.id, source_label(site), reason, [i for _, i in failed])
    payloads = [Payload(i, a.body, a.counter_ref) for a, i in zip(answers, ids, strict=True)]
    return Batch(payloads, body_bytes=sum(len(a.body) for a in answers), site_known=True)


class PulledSource:
    """A source asked for exactly the window: its rows replace the window."""

    kind = "pull"
    mode: WriteMode = "replace"

    def label(self, site: Site) -> str:
        return source_label(site)

    def fetch(self, site: Site, window: Window) -> list[Fetched]:
        raise NotImplementedError

    def collect(self, site: Site, window: Window, *, engine: Engine) -> Iterable[Batch]:
        return [landed_batch(engine, site, window, self.fetch(site, window))]

    def normalize(self, site: Site, window: Window, payloads: list[Payload]) -> pd.DataFrame:
        return normalize_counts(site, payloads)

    def expected_range(self, site: Site, window: Window) -> Window:
        """The range the source is asked for (a date-based API answers whole local days)."""
        return requested_range(site, window)


@dataclass
class HttpSource(PulledSource):
    """Every rendered request of the preset, page by page (footfall.extract)."""

    resolve: Callable[[str], Endpoint] = resolve_endpoint
    session: requests.Session | None = None
    kind = "http"

    def fetch(self, site: Site, window: Window) -> list[Fetched]:
        return fetch_window(site, window, resolve=self.resolve, session=self.session)
