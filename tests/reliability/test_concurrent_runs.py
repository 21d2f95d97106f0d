"""Runs that race on the same site: a backfill beside the live runs, two imports of one file at
once (PostgreSQL, separate processes as Airflow's task processes are). The tables afterwards are
those of one clean run."""

from __future__ import annotations

import json
import multiprocessing
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fault_figures import compare, count_rows, record, scale
from sqlalchemy import Engine, select
from test_postgres_faults import FIRST, LAST, export_file

from footfall.config import get_site
from footfall.imports.run import run_import
from footfall.pipeline import run_site_window, warm_up
from footfall.warehouse import schema
from footfall.warehouse.engine import get_engine

SITE_ID = "test-site"
LIVE_START = datetime(2026, 11, 20, 10, tzinfo=UTC)
VOLATILE = {"flag_id", "created_at", "run_id", "loaded_at", "payload_id", "finished_at", "started_at", "gx_result"}


def _fresh_connections(db_url: str) -> None:
    """A forked worker never reuses the parent's pooled sockets, and dies on Pool.terminate(): the test
    process may hold a SIGTERM handler from an earlier test, which a fork inherits (a worker waiting for
    work then ignores the terminate, and the pool's exit waits for it forever)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    get_engine(db_url).dispose(close=False)


def _sync(job: tuple[str, str, datetime]) -> str | None:
    """One Airflow-like task: the 5-minute run of `start`, retried up to 3 times; the errors it met."""
    kind, _, start = job
    errors = []
    for attempt in range(3):
        try:
            run_site_window(SITE_ID, start, start + timedelta(minutes=5), run_id=f"{kind}-{start:%H%M}-{attempt}")
            return "; ".join(errors) or None
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
    return "FAILED: " + "; ".join(errors)


def _import(job: tuple[str, str]) -> str | None:
    path, db_url = job
    try:
        results = run_import(get_site(SITE_ID), FIRST, LAST, engine=get_engine(db_url), file=Path(path), chunk="day")
        return None if all(r["status"] in ("done", "skipped (already done)") for r in results) else json.dumps(results)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:500]


def snapshot(engine: Engine) -> dict[str, list]:
    """Every table a run writes, without ids and clocks."""
    out = {}
    for table in (schema.count_interval, schema.occupancy_corrected, schema.quality_flag, schema.interval_revision,
                  schema.import_chunk):  # fmt: skip
        with engine.connect() as conn:
            found = [dict(r) for r in conn.execute(select(table)).mappings()]
        cleaned = [{k: v for k, v in r.items() if k not in VOLATILE and not k.endswith("_at")} for r in found]
        out[table.name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in cleaned)
    return out


def pool(db_url: str, workers: int):
    warm_up()  # GX, the checks and the registry built once, before the workers fork
    return multiprocessing.get_context("fork").Pool(workers, initializer=_fresh_connections, initargs=(db_url,))


def test_a_backfill_beside_the_live_runs_of_the_same_site_leaves_one_clean_runs_tables(
    server, simulator, registry, monkeypatch
):
    registry.add_site(SITE_ID)
    windows = [LIVE_START + timedelta(minutes=5 * i) for i in range(12 * scale())]
    clean_url, url = server.warehouse("clean"), server.warehouse("raced")
    monkeypatch.setenv("FOOTFALL_DB_URL", clean_url)
    for start in windows:  # one clean pass, in order
        assert _sync(("live", clean_url, start)) is None
    expected = snapshot(get_engine(clean_url))

    monkeypatch.setenv("FOOTFALL_DB_URL", url)
    live = [("live", url, start) for start in windows]
    backfill = [("backfill", url, start) for start in reversed(windows)]  # the backfill walks the other way
    jobs = [job for pair in zip(live, backfill, strict=True) for job in pair]
    with pool(url, 4) as workers:
        errors = [e for e in workers.map(_sync, jobs, chunksize=1) if e]
    assert not [e for e in errors if e.startswith("FAILED")], errors
    found = snapshot(get_engine(url))
    lost, doubled = compare(count_rows(get_engine(clean_url)), count_rows(get_engine(url)))
    assert (lost, doubled) == (0, 0)
    assert found == expected
    record(
        "backfill beside live runs",
        faults=1,
        tried=len(jobs),
        lost=lost,
        doubled=doubled,
        half_loaded=0,
        retried=len(errors),
    )


def test_two_imports_of_the_same_file_at_once_leave_one_clean_imports_tables(server, registry, tmp_path, monkeypatch):
    registry.add_site(SITE_ID)
    path = export_file(tmp_path / "export.csv")
    clean_url, url = server.warehouse("clean"), server.warehouse("raced")
    monkeypatch.setenv("FOOTFALL_DB_URL", clean_url)
    assert _import((str(path), clean_url)) is None
    expected = snapshot(get_engine(clean_url))

    monkeypatch.setenv("FOOTFALL_DB_URL", url)
    with pool(url, 2) as workers:
        outcomes = workers.map(_import, [(str(path), url)] * 2, chunksize=1)
    failed = [o for o in outcomes if o]
    if failed:  # the loser of a race may stop; a re-run (an Airflow retry) then finishes
        assert _import((str(path), url)) is None
    lost, doubled = compare(count_rows(get_engine(clean_url)), count_rows(get_engine(url)))
    assert (lost, doubled) == (0, 0)
    assert snapshot(get_engine(url)) == expected
    with get_engine(url).connect() as conn, get_engine(clean_url).connect() as clean:
        payloads = [
            c.execute(select(schema.raw_payload.c.sha256).order_by(schema.raw_payload.c.sha256)).scalars().all()
            for c in (conn, clean)
        ]
    assert payloads[0] == payloads[1], "each chunk's rows landed once"
    record("two imports of one file at once", faults=1, tried=2, lost=lost, doubled=doubled, half_loaded=0,
           failed_imports=len(failed))  # fmt: skip
