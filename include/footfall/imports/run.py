"""Running an import: each chunk (or batch of consecutive chunks) through the one run lifecycle, its
outcome in import_chunk; a failed batch is retried in parts so the bad chunk fails alone."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from footfall.config import Site
from footfall.errors import SiteDataError
from footfall.imports.plan import ChunkPlan, batches, plan_chunks
from footfall.imports.readers import COUNTS_CSV, IMPORT_FORMATS, file_date_range, file_name, split_file
from footfall.lifecycle import run_window
from footfall.normalize import Payload
from footfall.pipeline import sync_window
from footfall.sources import source_for
from footfall.sources.base import Batch, Landed
from footfall.timewindow import Window
from footfall.warehouse.engine import get_engine
from footfall.warehouse.landing import (
    bodies_by_window_start,
    clear_payload_errors,
    landed_bytes,
    payload_ids_by_window_start,
    read_body,
)
from footfall.warehouse.runs import ChunkRow, done_chunks, forget_sync_run, record_chunks

log = logging.getLogger(__name__)


def plan_import(
    site: Site,
    first_day: date,
    last_day: date,
    *,
    engine: Engine,
    file: Path | None = None,
    chunk: str = "day",
    progress: Callable[[int], object] | None = None,
) -> list[ChunkPlan]:
    """Plan the chunks; for a file, also land its rows per chunk (one streaming pass)."""
    if file is None:
        return plan_chunks(site, first_day, last_day, "api", chunk)
    file_hash = hashlib.sha256(
        file.read_bytes()
        if file.stat().st_size < 1 << 20
        else f"{file.resolve()}|{file.stat().st_size}|{file.stat().st_mtime_ns}".encode()
    )
    source = f"file:{file.name}:{file_hash.hexdigest()[:12]}"
    plans = plan_chunks(site, first_day, last_day, source, chunk)
    done = done_chunks(engine, plans[0].import_id)
    if not all(p.start in done for p in plans):
        split_file(site, file, plans, engine, progress)
    return plans


def record_chunk(engine: Engine, plan: ChunkPlan, status: str, rows: int = 0, error: str | None = None) -> None:
    record_done(engine, [plan], [rows], status=status, error=error)


def record_done(
    engine: Engine, plans: list[ChunkPlan], rows: list[int], *, status: str = "done", error: str | None = None
) -> None:
    """import_chunk rows of chunks, in one transaction (one row per chunk)."""
    record_chunks(
        engine,
        [
            ChunkRow(p.import_id, p.site_id, p.start, p.end, p.source, status, n, error)
            for p, n in zip(plans, rows, strict=True)
        ],
    )


def load_landed(
    site: Site, window: Window, payloads: list[Payload], *, engine: Engine, run_id: str, normalize: Callable
) -> Any:
    """Landed chunk payloads through the run lifecycle: replacing the window, read by `normalize`."""
    batch = Batch(payloads, body_bytes=sum(len(p.body) for p in payloads), site_known=True)
    source = Landed(source_for(site), [batch], normalizer=normalize)
    return run_window(source, site, window, engine=engine, run_id=run_id)


def _normalizer(plan: ChunkPlan) -> Callable[[Site, list[Payload]], pd.DataFrame]:
    return partial(IMPORT_FORMATS[COUNTS_CSV], name=file_name(plan.source))


def run_chunk(site: Site, plan: ChunkPlan, *, engine: Engine, run_id: str) -> dict[str, Any]:
    """Load one planned chunk (from the API, or from the file rows landed for it); skip it if done."""
    if plan.start in done_chunks(engine, plan.import_id):
        return {"chunk": plan.start.isoformat(), "status": "skipped (already done)"}
    try:
        if plan.source == "api":
            result = sync_window(site, plan.window(), engine=engine, run_id=run_id)
        else:
            payloads = landed_for_chunk(engine, site, plan)
            result = load_landed(
                site, plan.window(), payloads, engine=engine, run_id=run_id, normalize=_normalizer(plan)
            )
    except SiteDataError as exc:
        record_chunk(engine, plan, "failed", error=str(exc))
        raise
    record_chunk(engine, plan, "done", rows=result.rows_loaded)
    return {"chunk": plan.start.isoformat(), "status": "done", "rows_loaded": result.rows_loaded}


def landed_for_chunk(engine: Engine, site: Site, plan: ChunkPlan, last: ChunkPlan | None = None) -> list[Payload]:
    """Payloads landed for a chunk (or for the consecutive chunks plan..last), in landing order."""
    rows = bodies_by_window_start(engine, site.id, plan.source, plan.start, (last or plan).start)
    return [Payload(r.payload_id, read_body(r.body)) for r in rows]


def run_batch(site: Site, batch: list[ChunkPlan], *, engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """Several consecutive file chunks through one normalize -> validate -> load -> checks call.

    The GX suite and the quality checks have a fixed cost per call, so a year of day chunks is
    loaded in a few calls; each chunk still gets its own import_chunk row. If the batch fails, the
    chunks before the bad one are loaded and the bad one is run alone, so it fails with its file,
    line and reason and nothing of it loads, exactly as without batching.
    """
    if not batch:
        return []
    if len(batch) == 1 or batch[0].source == "api":
        return [run_chunk(site, plan, engine=engine, run_id=run_id) for plan in batch]
    window = Window(batch[0].start, batch[-1].end)
    payloads = landed_for_chunk(engine, site, batch[0], batch[-1])
    seen: list[pd.DataFrame] = []
    normalize = _normalizer(batch[0])

    def keep(site_: Site, payloads_: list[Payload]) -> pd.DataFrame:
        seen.append(normalize(site_, payloads_))
        return seen[-1]

    t0 = time.perf_counter()
    try:
        result = load_landed(site, window, payloads, engine=engine, run_id=run_id, normalize=keep)
    except SiteDataError as exc:
        return _after_batch_failure(site, batch, window, payloads, exc, engine=engine, run_id=run_id)
    starts = pd.DatetimeIndex(seen[0]["interval_start"]).as_unit("ns").asi8
    bounds = np.searchsorted(np.sort(starts), [pd.Timestamp(p.start).value for p in batch] + [window_end_ns(window)])
    rows = np.diff(bounds).tolist()
    record_done(engine, batch, rows)
    seconds = {**result.seconds, "total": time.perf_counter() - t0}
    seconds["checks"] = seconds["total"] - sum(seconds.get(k, 0.0) for k in ("normalize", "validate", "load"))
    log.info("import batch %s: %d chunk(s), %d rows, seconds %s", window, len(batch), sum(rows), _rounded(seconds))
    return [
        {"chunk": p.start.isoformat(), "status": "done", "rows_loaded": n} for p, n in zip(batch, rows, strict=True)
    ]


def window_end_ns(window: Window) -> int:
    return pd.Timestamp(window.end).value


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in seconds.items()}


def _after_batch_failure(
    site: Site,
    batch: list[ChunkPlan],
    window: Window,
    payloads: list[Payload],
    exc: SiteDataError,
    *,
    engine: Engine,
    run_id: str,
) -> list[dict[str, Any]]:
    """Load the chunks before the bad one (as a batch when the error names its payloads), then run the
    bad one alone so it fails on its own; if every chunk loads alone, forget the batch's failure."""
    bad = set(exc.payload_ids)
    landed = _chunk_payloads(engine, site, batch)
    first_bad = next((n for n, p in enumerate(batch) if bad & landed.get(p.start, set())), None)
    if first_bad is not None and len(bad) < len(payloads):
        before = run_batch(site, batch[:first_bad], engine=engine, run_id=run_id) if first_bad else []
        alone = run_chunk(site, batch[first_bad], engine=engine, run_id=run_id)  # raises: it is the bad one
        rest = run_batch(site, batch[first_bad + 1 :], engine=engine, run_id=run_id) if alone else []
        return [*before, alone, *rest]
    results = [run_chunk(site, plan, engine=engine, run_id=run_id) for plan in batch]
    _forget_batch_failure(engine, site, window, payloads)  # reached only if every chunk loaded alone
    return results


def _chunk_payloads(engine: Engine, site: Site, batch: list[ChunkPlan]) -> dict[datetime, set[int]]:
    return payload_ids_by_window_start(engine, site.id, batch[0].source, batch[0].start, batch[-1].start)


def _forget_batch_failure(engine: Engine, site: Site, window: Window, payloads: list[Payload]) -> None:
    """A batch failed but each of its chunks then loaded alone: clear what the batch attempt recorded."""
    clear_payload_errors(engine, [p.payload_id for p in payloads])
    with engine.begin() as conn:
        forget_sync_run(conn, site.id, window)


def run_import(
    site: Site,
    first_day: date | None,
    last_day: date | None,
    *,
    engine: Engine,
    file: Path | None = None,
    chunk: str = "day",
    run_id: str = "cli",
    show_progress: bool = False,
    export_format: str | None = None,
) -> list[dict[str, Any]]:
    """`footfall import`: plan, then every chunk in order, file chunks in batches; stops at the first
    failed chunk (a re-run resumes). `export_format` names a reader of `footfall.imports.exports`:
    the file is first read into a counts CSV beside nothing (a temporary folder), then imported."""
    from tqdm import tqdm

    if file is not None and export_format is not None:
        import tempfile

        from footfall.imports.exports import export_counts_for_site

        with tempfile.TemporaryDirectory() as tmp:
            counts = export_counts_for_site(
                export_format, file, site.id, [c.id for c in site.counters], Path(tmp) / f"{file.stem}.csv"
            )
            return run_import(
                site,
                first_day,
                last_day,
                engine=engine,
                file=counts,
                chunk=chunk,
                run_id=run_id,
                show_progress=show_progress,
            )

    if file is not None and (first_day is None or last_day is None):
        first_day, last_day = file_date_range(site, file)
    if first_day is None or last_day is None:
        raise ValueError("an API import needs --from and --to")
    with tqdm(desc="reading", unit=" rows", disable=not show_progress) as bar:
        plans = plan_import(site, first_day, last_day, engine=engine, file=file, chunk=chunk, progress=bar.update)
    done = done_chunks(engine, plans[0].import_id)
    sizes = landed_bytes(engine, site.id, plans[0].source) if file is not None else {}
    results = [{"chunk": p.start.isoformat(), "status": "skipped (already done)"} for p in plans if p.start in done]
    with tqdm(total=len(plans), desc=f"importing {site.id}", unit=" chunk", disable=not show_progress) as bar:
        bar.update(len(results))
        for batch in batches(plans, done, sizes):
            results.extend(run_batch(site, batch, engine=engine, run_id=run_id))
            bar.update(len(batch))
    order = {p.start.isoformat(): n for n, p in enumerate(plans)}
    return sorted(results, key=lambda r: order[r["chunk"]])


def plan_for_params(params: dict[str, Any]) -> list[dict[str, str]]:
    """The import_history DAG's plan task: Params in, chunk descriptors (XCom-sized) out."""
    from footfall.config import get_site

    site = get_site(str(params["site"]))
    file = Path(params["file"]) if params.get("source") == "file" and params.get("file") else None
    if params.get("source") == "file" and file is None:
        raise ValueError("source 'file' needs the 'file' param (a path the workers can read)")
    first = date.fromisoformat(params["start"]) if params.get("start") else None
    last = date.fromisoformat(params["end"]) if params.get("end") else None
    if file is not None and (first is None or last is None):
        first, last = file_date_range(site, file)
    if first is None or last is None:
        raise ValueError("an API import needs 'start' and 'end'")
    return [
        p.to_dict()
        for p in plan_import(site, first, last, engine=get_engine(), file=file, chunk=str(params.get("chunk") or "day"))
    ]


def run_chunk_dict(chunk: dict[str, str], *, run_id: str) -> dict[str, Any]:
    """The import_history DAG's mapped task."""
    from footfall.config import get_site

    plan = ChunkPlan.from_dict(chunk)
    return run_chunk(get_site(plan.site_id), plan, engine=get_engine(), run_id=run_id)
