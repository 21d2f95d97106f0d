"""GX Data Docs for the data team, on SQLite and PostgreSQL: after pipeline runs, `footfall quality docs`
builds a real Data Docs site whose index names each site's suite and validations, with their pages."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import select

from footfall.cli import main
from footfall.pipeline import sync_window
from footfall.quality.docs import build_docs
from footfall.quality.offline import remote_references
from footfall.timewindow import Window
from footfall.validate import SUITE_NAME
from footfall.warehouse import schema

DAY = Window(datetime(2026, 11, 18, 23, tzinfo=UTC), datetime(2026, 11, 19, 23, tzinfo=UTC))
DAY_BEFORE = Window(datetime(2026, 11, 17, 23, tzinfo=UTC), datetime(2026, 11, 18, 23, tzinfo=UTC))


def validation_links(index: Path) -> list[str]:
    html = index.read_text()
    return sorted({unquote(m) for m in re.findall(r"""(validations/[^"'\s]+\.html)""", html)})  # the table's rows


def test_docs_name_the_sites_suite_and_validations(simulator, make_site, db_url, warehouse, tmp_path, monkeypatch):
    engine = warehouse(db_url)
    one, two = make_site("docs-one"), make_site("docs-two")
    sync_window(one, DAY, engine=engine, run_id="scheduled__day")
    sync_window(one, DAY_BEFORE, engine=engine, run_id="manual__day_before")
    sync_window(two, DAY, engine=engine, run_id="scheduled__two")

    with engine.connect() as conn:
        stored = conn.execute(select(schema.quality_run.c.site_id, schema.quality_run.c.gx_result)).all()
    assert len(stored) == 3 and all(blob for _, blob in stored)
    result = json.loads(gzip.decompress(stored[0].gx_result))  # the full GX result, every expectation
    assert result["suite_name"] == SUITE_NAME and result["success"] is True and len(result["results"]) >= 10

    built = build_docs(engine, tmp_path / "docs")
    assert built.index == (tmp_path / "docs" / "index.html").resolve() and built.sites == ["docs-one", "docs-two"]
    html = built.index.read_text()
    assert SUITE_NAME in html and "docs-one" in html and "docs-two" in html
    assert "scheduled__day" in html and "manual__day_before" in html
    links = validation_links(built.index)
    assert len(links) == 3 and all((built.index.parent / link).is_file() for link in links)
    page = next(link for link in links if "manual__day_before" in link)
    assert page.endswith("/docs-one.html") and page.startswith(f"validations/{SUITE_NAME}/")
    text = (built.index.parent / page).read_text()  # the run's expectations, with its window as parameters
    assert "interval_start" in text and "values must be greater than or equal to" in text and "2026-11-17" in text
    assert (built.index.parent / "expectations" / f"{SUITE_NAME}.html").is_file()
    # Offline: no page loads a script, stylesheet or image from a CDN; the bundled copies are there.
    assert remote_references(built.index.parent) == set()
    assert '"vendor/bootstrap.min.css"' in html and (built.index.parent / "vendor" / "bootstrap.min.css").is_file()
    depth = "../" * page.count("/")
    assert f'"{depth}vendor/jquery.min.js"' in (built.index.parent / page).read_text()

    # The CLI, one site into the configured folder: the previous build there is replaced, not merged.
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    folder = tmp_path / "team"
    monkeypatch.setenv("FOOTFALL_DATA_DOCS_DIR", str(folder))
    assert main(["quality", "docs"]) == 0
    assert len(validation_links(folder / "index.html")) == 3
    assert main(["quality", "docs", "--site", "docs-two"]) == 0
    links = validation_links(folder / "index.html")
    assert len(links) == 1 and links[0].endswith("/docs-two.html")
    assert not (folder.parent / "team.building").exists() and not (folder.parent / "team.previous").exists()
    assert main(["quality", "docs", "--site", "nowhere", "--out", str(tmp_path / "other")]) == 1
