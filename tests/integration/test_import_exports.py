"""`footfall import --format`: a public history export read by its reader, then imported like a counts CSV."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from footfall.imports.run import run_import
from footfall.warehouse import schema

SAUNA = "realworld/data/bern-lorrainebad-sauna-occupancy/occupancy_log.csv"


def test_sauna_export_imports_as_occupancy_snapshots_and_rerun_skips(
    shared_dir: Path, make_site, sqlite_url, warehouse
):
    engine = warehouse(sqlite_url)
    site = make_site(
        "sauna-rechts",
        timezone="Europe/Zurich",
        capacity=None,
        opening_hours={"regular": {}},
        counters=[{"id": "seats", "ref": "seats"}],
    )
    first, last = date(2026, 2, 13), date(2026, 2, 13)

    results = run_import(site, first, last, engine=engine, file=shared_dir / SAUNA, export_format="sauna_occupancy_log")

    assert [r["status"] for r in results] == ["done"]
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(select(schema.count_interval)).mappings().all())
    assert set(rows["site_id"]) == {"sauna-rechts"} and set(rows["counter_id"]) == {"seats"}
    starts = pd.to_datetime(rows["interval_start"], utc=True)
    by_start = rows.set_index(starts)["occupancy"]
    # "2026-02-13T14:30:32+01:00,Sauna rechts,41": 13:30Z; "15:24:51+01:00 ... 38": 14:20Z.
    assert by_start[pd.Timestamp("2026-02-13T13:30Z")] == 41
    assert by_start[pd.Timestamp("2026-02-13T14:20Z")] == 38
    assert starts.dt.tz_convert("Europe/Zurich").dt.date.eq(date(2026, 2, 13)).all()

    again = run_import(site, first, last, engine=engine, file=shared_dir / SAUNA, export_format="sauna_occupancy_log")
    assert [r["status"] for r in again] == ["skipped (already done)"]
