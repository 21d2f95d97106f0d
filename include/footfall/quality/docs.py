"""Great Expectations Data Docs for the data team: the row-level suite and its recent validations.

Live runs validate with a cached in-memory GX context (footfall.validate), which keeps no results.
So each run stores its full validation result, gzip-compressed JSON (about 1.3 KB, 3 ms), in
`quality_run.gx_result`, and the site is built from there on demand or daily: an ephemeral GX
context gets the suite and the latest results per site, and GX's own SiteBuilder renders them into
a filesystem store at `FOOTFALL_DATA_DOCS_DIR` (default `data/quality_docs`). A build renders into a
staging folder and then takes the place of the previous site, so readers never see half a site.
Each validation is listed under its site id (the batch) and the Airflow run that produced it.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from footfall import db, settings

SITE_NAME = "footfall"
RUNS_PER_SITE = 24  # the site's last two hours of 5-minute runs, or its last imports


def validation_blob(validation: Any) -> bytes | None:
    """What `quality_run.gx_result` stores for a run: the GX result as gzip JSON, or None without one."""
    result = getattr(validation, "gx_result", None)
    if result is None:
        return None
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema

    text = ExpectationSuiteValidationResultSchema().dumps(result)
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)


@dataclass(frozen=True)
class StoredValidation:
    """One quality_run row with a stored GX result."""

    site_id: str
    run_id: str
    finished_at: datetime
    checked_start: datetime
    checked_end: datetime
    blob: bytes


def recent_validations(
    engine: Engine, site_id: str | None = None, per_site: int = RUNS_PER_SITE
) -> list[StoredValidation]:
    """The latest `per_site` runs with a stored result of every site (or of `site_id`), newest first."""
    q = db.quality_run
    rank = func.row_number().over(partition_by=q.c.site_id, order_by=q.c.finished_at.desc()).label("rank")
    inner = select(
        q.c.site_id, q.c.run_id, q.c.finished_at, q.c.checked_start, q.c.checked_end, q.c.gx_result, rank
    ).where(q.c.gx_result.is_not(None))
    if site_id is not None:
        inner = inner.where(q.c.site_id == site_id)
    ranked = inner.subquery()
    query = select(ranked).where(ranked.c.rank <= per_site).order_by(ranked.c.site_id, ranked.c.finished_at.desc())
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        StoredValidation(r.site_id, r.run_id or "", r.finished_at, r.checked_start, r.checked_end, r.gx_result)
        for r in rows
    ]


def _context(folder: Path) -> Any:
    """An in-memory GX context whose only Data Docs site is a filesystem store at `folder`."""
    import great_expectations as gx

    from footfall.validate import build_suite

    context = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(
        SITE_NAME,
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,  # type: ignore[typeddict-unknown-key]  # a SiteBuilder option GX's TypedDict omits
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.suites.add(build_suite())
    return context


def _load(stored: StoredValidation) -> tuple[Any, Any]:
    """The stored result as a GX object and its store key: suite / Airflow run (at its finish) / site id."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    result = ExpectationSuiteValidationResultSchema().loads(gzip.decompress(stored.blob).decode())
    result.meta["footfall"] = {
        "site_id": stored.site_id,
        "run_id": stored.run_id,
        "checked": f"{stored.checked_start.isoformat()} / {stored.checked_end.isoformat()}",
    }
    key = ValidationResultIdentifier(
        ExpectationSuiteIdentifier(result.suite_name),
        RunIdentifier(run_name=stored.run_id or "run", run_time=stored.finished_at),
        batch_identifier=stored.site_id,
    )
    return key, result


@dataclass(frozen=True)
class DocsBuild:
    """Where the site was built and what it shows."""

    index: Path
    sites: list[str]
    validations: int


def build_docs(
    engine: Engine, out: Path | None = None, site_id: str | None = None, per_site: int = RUNS_PER_SITE
) -> DocsBuild:
    """Build the Data Docs site (suite and recent validations) into `out` (default FOOTFALL_DATA_DOCS_DIR).

    The whole folder is replaced: with `site_id`, it holds that site's validations only.
    """
    out = Path(out or settings.data_docs_dir()).resolve()
    stored = recent_validations(engine, site_id, per_site)
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    context = _context(staging)
    for item in stored:
        key, result = _load(item)
        context.validation_results_store.set(key, result)
    context.build_data_docs(site_names=[SITE_NAME])
    previous = out.with_name(out.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if out.exists():
        out.rename(previous)
    staging.rename(out)
    shutil.rmtree(previous, ignore_errors=True)
    return DocsBuild(out / "index.html", sorted({s.site_id for s in stored}), len(stored))
