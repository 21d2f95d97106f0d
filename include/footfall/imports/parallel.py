"""Many sites' imports at once, each in its own process (one import keeps one core busy at most)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from footfall.errors import FootfallError
from footfall.imports.run import run_import
from footfall.pipeline import warm_up
from footfall.warehouse.engine import get_engine, single_writer


def run_imports(
    jobs: list[tuple[str, Path]],
    first_day: date | None,
    last_day: date | None,
    *,
    db_url: str,
    workers: int = 2,
    chunk: str = "day",
    run_id: str = "cli",
) -> dict[str, list[dict[str, Any]]]:
    """Many sites' exports ((site_id, file) jobs), `workers` sites at a time, each in its own process.

    One import keeps one core busy at most: PostgreSQL loads while Python waits, and the reverse.
    Two at a time keep both cores of a small machine working. Each site is exactly `run_import`
    (resumable, chunk by chunk); a site that fails does not stop the others, and every failure is
    raised together at the end, each naming its site, file, line and reason.
    """
    import multiprocessing

    args = [(site_id, path, first_day, last_day, db_url, chunk, run_id) for site_id, path in jobs]
    if single_writer(get_engine(db_url)):
        workers = 1  # one writer at a time: parallel imports would only wait on (or fail at) its lock
    outcomes: Iterable[tuple[str, list, str | None]]
    if workers <= 1:
        outcomes = map(_import_site, args)
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        if method == "fork":
            warm_up()  # GX, the checks and the registry built once, before the workers fork
        pool = multiprocessing.get_context(method).Pool(workers, initializer=_new_connections, initargs=(db_url,))
        outcomes = pool.imap_unordered(_import_site, args)
    results: dict[str, list[dict[str, Any]]] = {}
    failures: list[str] = []
    finished = False
    try:
        for site_id, outcome, error in outcomes:
            results[site_id] = outcome
            if error:
                failures.append(error)
        finished = True
    finally:
        if workers > 1:
            # Interrupted (Ctrl-C, a database error): stop the workers now; a re-run resumes every site.
            if finished:
                pool.close()
            else:
                pool.terminate()
            pool.join()
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(jobs)} site import(s) failed: " + "; ".join(failures))
    return results


def _new_connections(db_url: str) -> None:
    """In a forked worker: never reuse the parent's pooled connections (their sockets are shared), and
    take back the default SIGTERM/SIGINT so Pool.terminate() stops the worker even where the parent
    (Airflow, a test runner) installed handlers that a fork inherits."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    get_engine(db_url).dispose(close=False)


def _import_site(args: tuple[str, Path, date | None, date | None, str, str, str]) -> tuple[str, list, str | None]:
    """One job of run_imports: (site_id, results, None), or (site_id, [], the error) when it failed."""
    from footfall.config import get_site

    site_id, path, first_day, last_day, db_url, chunk, run_id = args
    try:
        site, engine = get_site(site_id), get_engine(db_url)
        results = run_import(site, first_day, last_day, engine=engine, file=path, chunk=chunk, run_id=run_id)
        return site_id, results, None
    except (FootfallError, ValueError) as exc:
        return site_id, [], f"{site_id} ({path.name}): {exc}"
