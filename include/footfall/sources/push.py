"""Push sites: land what connectors and devices send, and load the payloads a run's window concerns.

A pulled window is replaced as a whole because the source was asked for exactly that window.
A push only says what it contains: a batch from an on-site connector may hold two intervals of
last week and nothing of today. So a push site's run MERGES intervals into count_interval
(upsert, the latest received payload wins, a changed interval leaves its old and new values in
interval_revision) instead of deleting intervals the payloads do not mention. A run for window W
merges:

- every interval of the payloads *received* in W (data interval + lookback): a batch that
  arrives late is picked up by the run that sees it arrive;
- the intervals inside W of payloads received *after* W: a backfill or a re-run of a past window
  finds what arrived for it later (a device re-sending its backlog after an outage).

For the second part a payload's interval span is kept in raw_payload.window_start/window_end:
the API records it for connector batches; for a vendor push the first run that parses the body
records it, so each body is parsed for its span once and later runs select by span in SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, Row

from footfall.config import Site
from footfall.normalize import Payload, normalize_counts, parse_payload
from footfall.sources.base import Batch, WriteMode
from footfall.sources.fetched import push_source
from footfall.timewindow import Window
from footfall.warehouse.counts import in_window
from footfall.warehouse.landing import later_bodies, read_body, received_bodies, record_spans

log = logging.getLogger(__name__)

DEFAULT_MAX_LATE_DAYS = 31  # an interval older than this when it arrives is suspect, not loaded
FUTURE_SLACK = timedelta(hours=24)  # a device clock a little ahead is tolerated; a day is not
KEY = ["counter_id", "interval_start"]


def _payload(r: Row) -> Payload:
    return Payload(r.payload_id, read_body(r.body), r.counter_ref, received_at=r.received_at)


def received_payloads(engine: Engine, site: Site, window: Window, source: str | None = None) -> list[Payload]:
    """Bodies landed for this site from `source` (default: its push preset) and received in
    [window.start, window.end), oldest first. Replay of file sites reads the same way."""
    source = source or push_source(site.source.preset)
    return [_payload(r) for r in received_bodies(engine, site.id, source, window)]


def max_late_days(site: Site) -> int:
    return int(site.options().get("max_late_days", DEFAULT_MAX_LATE_DAYS))


def plausible_range(site: Site, window: Window) -> Window:
    """Intervals a push received in `window` may hold: up to max_late_days old, at most a day ahead."""
    return Window(window.start - timedelta(days=max_late_days(site)), window.end + FUTURE_SLACK)


def payload_span(site: Site, payload: Payload) -> tuple[datetime, datetime]:
    """[first interval start, last interval end) of a body; an empty body spans nothing, at its arrival.

    Raises ValueError (and friends) when the body does not parse, like normalize does.
    """
    frame = parse_payload(site, payload)
    if frame.empty:
        moment = payload.received_at or datetime.now(UTC)
        return moment, moment
    starts = pd.to_datetime(frame["interval_start"], utc=True)
    minutes = pd.to_numeric(pd.Series(frame["interval_minutes"], index=frame.index)).fillna(0)
    ends = starts + pd.to_timedelta(minutes, unit="min")
    return starts.min().to_pydatetime(), ends.max().to_pydatetime()


def record_payload_spans(engine: Engine, site: Site, rows: Sequence[Row]) -> dict[int, tuple[datetime, datetime]]:
    """Spans of bodies landed without one, stored in raw_payload (once per body); returns the spans found.

    A body that does not parse gets no span: the run of the window it was received in reports it.
    """
    spans: dict[int, tuple[datetime, datetime]] = {}
    for r in rows:
        try:
            spans[r.payload_id] = payload_span(site, _payload(r))
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            log.warning("site %s: payload %d does not parse, its span stays unknown (%s)", site.id, r.payload_id, exc)
    record_spans(engine, spans)
    return spans


def later_payloads(engine: Engine, site: Site, window: Window) -> list[Payload]:
    """Bodies received after `window` (within max_late_days) that hold intervals inside it.

    Bodies already marked unusable are left to the run that reported them.
    """
    until = window.end + timedelta(days=max_late_days(site))
    rows = later_bodies(engine, site.id, push_source(site.source.preset), window, until)
    spans = record_payload_spans(engine, site, [r for r in rows if r.window_start is None])
    spans.update({r.payload_id: (r.window_start, r.window_end) for r in rows if r.window_start is not None})
    return [
        _payload(r)
        for r in rows
        if r.payload_id in spans and spans[r.payload_id][0] < window.end and spans[r.payload_id][1] > window.start
    ]


def latest_per_interval(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (counter, interval): the one from the latest received payload."""
    if rows.empty:
        return rows
    latest = rows.groupby(KEY)["payload_id"].transform("max")
    return rows[rows["payload_id"].eq(latest)].sort_values(KEY).reset_index(drop=True)


def window_rows(site: Site, window: Window, received: list[Payload], later: list[Payload]) -> pd.DataFrame:
    """Every interval of the bodies received in the window, plus the in-window intervals of later ones."""
    rows = normalize_counts(site, received)
    if later:
        late = in_window(normalize_counts(site, later), window)
        if not late.empty:
            rows = late if rows.empty else latest_per_interval(pd.concat([rows, late], ignore_index=True))
    return rows


class PushSource:
    """Bodies pushed to the ingestion API (landed there, before its 2xx): their rows merge into the window."""

    kind = "push"
    mode: WriteMode = "merge"

    def label(self, site: Site) -> str:
        return push_source(site.source.preset)

    def collect(self, site: Site, window: Window, *, engine: Engine) -> Iterable[Batch]:
        """One batch: the bodies received in the window, then those received later that hold some of it."""
        received_rows = received_bodies(engine, site.id, self.label(site), window)
        record_payload_spans(engine, site, [r for r in received_rows if r.window_start is None])
        received = [_payload(r) for r in received_rows]
        payloads = [*received, *later_payloads(engine, site, window)]
        return [Batch(payloads, body_bytes=sum(len(p.body) for p in payloads))]

    def normalize(self, site: Site, window: Window, payloads: list[Payload]) -> pd.DataFrame:
        received = [p for p in payloads if p.received_at is None or p.received_at < window.end]
        later = [p for p in payloads if p.received_at is not None and p.received_at >= window.end]
        return window_rows(site, window, received, later)

    def expected_range(self, site: Site, window: Window) -> Window:
        return plausible_range(site, window)
