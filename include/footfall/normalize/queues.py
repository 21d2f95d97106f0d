"""Queue measures: what queue-counting devices say about their queue, read by the preset's `queue` section.

A body may hold counts and queue statistics side by side (a Xovis logics push carries line counts and
queue statistics logics; an Irisys push carries count logs and wait histograms). The counts go the
usual way (the records the queue section reads are left out of them); this module reads the queue
section's records into one row per (queue, interval): people waiting at the interval's end
(`queue_length`), the mean wait of those who left the queue in it (`wait_seconds`), and how many left
it (`served`). Long formats give each measure as a labelled record; a wait histogram gives people per
wait bin, whose mean is taken at the bins' middles. A shape it does not know raises ValueError naming
the record; a negative or non-finite measure is refused (nothing of the batch loads).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from footfall.config import QueueMeasures, Site
from footfall.documents import MISSING, Records, decode_document, walk_records

from .common import Payload, per_distinct
from .times import localize, parse_times

QUEUE_COLUMNS = [
    "queue_ref", "interval_start", "interval_minutes", "queue_length", "wait_seconds", "served", "payload_id",
]  # fmt: skip


def empty_queue_measures() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c == "interval_start" else float) for c in
                         QUEUE_COLUMNS}).astype({"queue_ref": object})  # fmt: skip


def _number(value: Any, what: str, i: int) -> float:
    if value is MISSING or value is None or value == "":
        return np.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"queue record {i}: {what} {value!r} is not a number") from None
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"queue record {i}: {what} {value!r} is not a non-negative number")
    return number


def _times(site: Site, values: list[Any], what: str) -> np.ndarray:
    for i, v in enumerate(values):
        if v is MISSING or v is None:
            raise ValueError(f"queue record {i}: missing {what}")
    spec = site.preset.time
    stamps, aware = parse_times(values, spec.format, spec.zone == "utc", [len(values)])
    if not aware:  # wall-clock times of the site (time.zone local)
        stamps, _ = localize(stamps, site, [])
    return stamps.astype("datetime64[ns]")


def _histogram_means(spec: QueueMeasures, rec: Records) -> tuple[np.ndarray, np.ndarray]:
    """(mean wait seconds, people) per record from its wait bins (mean taken at the bins' middles)."""
    hist = spec.wait_histogram
    assert hist is not None  # the schema requires one way of reading
    counts, widths, lows = rec.column(hist.counts), rec.column(hist.bin_seconds), rec.column(hist.min_seconds)
    means, served = np.full(rec.n, np.nan), np.zeros(rec.n)
    for i, (bins, width, low) in enumerate(zip(counts, widths, lows, strict=True)):
        if not isinstance(bins, list):
            raise ValueError(f"queue record {i}: wait bins are a {type(bins).__name__}, not a list")
        people = np.array([_number(b, "wait bin", i) for b in bins], dtype=float)
        w, lo = _number(width, "bin width", i), _number(low, "first bin", i)
        total = float(np.nansum(people))
        served[i] = total
        if total > 0:
            middles = lo + (np.arange(len(people)) + 0.5) * w
            means[i] = float(np.nansum(people * middles) / total)
    return means, served


def read_queue_measures(site: Site, payloads: list[Payload]) -> pd.DataFrame:
    """The queue rows of a run's payloads (QUEUE_COLUMNS); empty when the preset has no `queue` section.

    The same (queue, interval) in several payloads: the later payload wins, as for counts."""
    spec = site.preset.queue
    if spec is None:
        return empty_queue_measures()
    frames = []
    for payload in payloads:
        doc = decode_document(payload.body, site.preset)
        try:
            rec = walk_records(doc, spec.records)
        except ValueError:
            continue  # a body without queue records (counts only)
        for path, wanted in spec.filter.items():
            match = per_distinct(rec.column(path), lambda v, wanted=wanted: v is not MISSING and str(v) == wanted)  # type: ignore[misc]
            rec = rec.subset(match.tolist())
        if rec.n == 0:
            continue
        refs = [str(r) if r is not MISSING and r is not None else None for r in rec.column(spec.queue_ref)]
        if None in refs:
            raise ValueError(f"queue record {refs.index(None)}: missing queue_ref")
        starts = _times(site, rec.column(spec.interval_start), "interval_start")
        ends = _times(site, rec.column(spec.interval_end), "interval_end")
        minutes = (ends - starts) / np.timedelta64(1, "m")
        if (minutes <= 0).any() or (minutes % 1 != 0).any():
            i = int(np.flatnonzero((minutes <= 0) | (minutes % 1 != 0))[0])
            raise ValueError(f"queue record {i}: interval of {minutes[i]:g} minutes (whole minutes after the start)")
        frame = pd.DataFrame({"queue_ref": refs, "interval_start": pd.to_datetime(starts, utc=True),
                              "interval_minutes": minutes.astype(int)})  # fmt: skip
        if spec.wait_histogram is not None:
            frame["wait_seconds"], frame["served"] = _histogram_means(spec, rec)
            frame["queue_length"] = np.nan
        else:
            assert spec.label is not None and spec.value is not None  # the schema requires one way of reading
            labels = [str(v) for v in rec.column(spec.label)]
            values = rec.column(spec.value)
            frame["measure"] = [spec.labels.get(label) for label in labels]
            frame["number"] = [_number(v, labels[i], i) for i, v in enumerate(values)]
            frame = frame.dropna(subset=["measure"])
            frame = frame.pivot_table(
                index=["queue_ref", "interval_start", "interval_minutes"], columns="measure", values="number",
                aggfunc="last", dropna=False,
            ).reset_index()  # fmt: skip
            frame.columns.name = None
            for column in ("queue_length", "wait_seconds", "served"):
                if column not in frame:
                    frame[column] = np.nan
        frame["payload_id"] = payload.payload_id
        frames.append(frame[QUEUE_COLUMNS])
    if not frames:
        return empty_queue_measures()
    out = pd.concat(frames, ignore_index=True)
    served = out["served"].to_numpy(dtype=float)
    fractional = np.flatnonzero(~np.isnan(served) & (served % 1 != 0))
    if len(fractional):
        i = int(fractional[0])
        raise ValueError(f"queue record {i}: served {served[i]:g} is not a whole number of people")
    out = out.drop_duplicates(["queue_ref", "interval_start"], keep="last")
    return out.sort_values(["queue_ref", "interval_start"]).reset_index(drop=True)
