"""History imports: export files and API history, chunked, resumable, with bad rows named by line."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from footfall import db
from footfall.config import get_site
from footfall.errors import ParseError
from footfall.history import plan_import, run_chunk, run_import, run_imports
from footfall_simulator import DeviceProfile, count_intervals

SITE_ID = "import-site"
REFS = {"main-door": "SIM0000001", "side-door": "SIM0000002"}
# Three local days around the autumn DST change (2026-10-25 has 25 hours in Paris).
FIRST, LAST = date(2026, 10, 24), date(2026, 10, 26)
HEADER = ["site_id", "counter_id", "interval_start", "interval_minutes", "entries", "exits", "occupancy"]


def export_rows() -> list[list[str]]:
    rows = []
    start = datetime(2026, 10, 23, 22, 0, tzinfo=UTC)  # local midnight of FIRST
    end = datetime(2026, 10, 26, 23, 0, tzinfo=UTC)  # local midnight after LAST
    for counter_id, ref in REFS.items():
        always = {d: ("00:00", "24:00") for d in range(7)}
        profile = DeviceProfile(ref=ref, timezone="Europe/Paris", opening_hours=always)
        for iv in count_intervals(profile, start, end, 15, seed=3):
            rows.append([SITE_ID, counter_id, iv.start_utc.isoformat(), "15", str(iv.entries), str(iv.exits), ""])
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture
def site(registry, db_url, warehouse, monkeypatch):
    monkeypatch.setenv("FOOTFALL_DB_URL", db_url)
    registry.add_site(SITE_ID)
    warehouse(db_url)
    return get_site(SITE_ID)


def table(engine, t) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]


def test_file_import_loads_every_row_across_the_dst_day_and_rerun_changes_nothing(site, tmp_path):
    rows = export_rows()
    path = write_csv(tmp_path / "export.csv", rows)
    engine = db.get_engine()

    results = run_import(site, FIRST, LAST, engine=engine, file=path)

    assert [r["status"] for r in results] == ["done"] * 3
    loaded = table(engine, db.count_interval)
    assert len(loaded) == len(rows) == 2 * (96 + 100 + 96)
    assert sum(r[4] for r in loaded) == sum(int(r[4]) for r in rows)
    before = {t.name: table(engine, t) for t in (db.count_interval, db.raw_payload, db.import_chunk)}

    again = run_import(site, FIRST, LAST, engine=engine, file=path)

    assert all(r["status"].startswith("skipped") for r in again)
    assert {t.name: table(engine, t) for t in (db.count_interval, db.raw_payload, db.import_chunk)} == before


def test_interrupted_import_resumes_to_the_same_tables(site, tmp_path, pg_or_sqlite_second_url, warehouse):
    path = write_csv(tmp_path / "export.csv", export_rows())
    engine = db.get_engine()
    plans = plan_import(site, FIRST, LAST, engine=engine, file=path)
    run_chunk(site, plans[0], engine=engine, run_id="first-attempt")  # then the worker "dies"

    run_import(site, FIRST, LAST, engine=engine, file=path)

    other = warehouse(pg_or_sqlite_second_url)
    run_import(site, FIRST, LAST, engine=other, file=path)
    strip = lambda rows: [r[:-1] for r in rows]  # noqa: E731 - loaded_at differs between databases
    assert strip(table(engine, db.count_interval)) == strip(table(other, db.count_interval))
    assert [r[:7] for r in table(engine, db.import_chunk)] == [r[:7] for r in table(other, db.import_chunk)]


@pytest.fixture
def pg_or_sqlite_second_url(tmp_path):
    return f"sqlite:///{tmp_path / 'uninterrupted.db'}"


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("entries", "-4", "is negative"),
        ("exits", "2.5", "is not a whole number"),
        ("entries", "many", "not a number"),
        ("counter_id", "attic", "is not a counter"),
    ],
)
def test_bad_row_names_file_line_and_reason_and_loads_nothing_from_its_chunk(site, tmp_path, column, value, reason):
    rows = export_rows()
    day2 = datetime(2026, 10, 25, 12, 0, tzinfo=UTC).isoformat()
    index = next(i for i, r in enumerate(rows) if r[2] == day2)
    rows[index][HEADER.index(column)] = value
    path = write_csv(tmp_path / "bad.csv", rows)
    engine = db.get_engine()

    with pytest.raises(ParseError) as err:
        run_import(site, FIRST, LAST, engine=engine, file=path)

    message = str(err.value)
    assert f"bad.csv: line {index + 2}" in message and reason in message and SITE_ID in message
    starts = {r[2] for r in table(engine, db.count_interval)}
    day2_start, day2_end = datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)
    assert not any(day2_start <= s < day2_end for s in starts), "nothing from the bad chunk"
    assert any(s < day2_start for s in starts), "the chunk before it loaded"
    with db.get_engine().connect() as conn:
        kept = conn.execute(select(db.raw_payload.c.error).where(db.raw_payload.c.window_start == day2_start)).all()
    assert kept and all(reason in (e or "") for (e,) in kept), "raw rows kept with the reason"


def test_xlsx_export_imports_like_csv(site, tmp_path):
    rows = [r for r in export_rows() if r[2].startswith("2026-10-24")]
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for r in rows:
        sheet.append([r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), None])
    path = tmp_path / "export.xlsx"
    book.save(path)

    results = run_import(site, date(2026, 10, 24), date(2026, 10, 24), engine=db.get_engine(), file=path)

    assert results[0]["status"] == "done"
    local_day_end = datetime(2026, 10, 24, 22, tzinfo=UTC)  # rows after it belong to the next local day
    assert len(table(db.get_engine(), db.count_interval)) == sum(
        1 for r in rows if datetime.fromisoformat(r[2]) < local_day_end
    )


def test_api_history_import_by_day(site, simulator):
    engine = db.get_engine()

    results = run_import(site, date(2026, 11, 16), date(2026, 11, 17), engine=engine)

    assert [r["status"] for r in results] == ["done", "done"]
    loaded = table(engine, db.count_interval)
    assert len(loaded) == 2 * 2 * 96  # two counters, two whole days of 15-minute intervals
    assert min(r[2] for r in loaded) == datetime(2026, 11, 15, 23, tzinfo=UTC)
    assert max(r[2] for r in loaded) == datetime(2026, 11, 17, 23, tzinfo=UTC) - timedelta(minutes=15)


def test_batched_days_before_a_bad_day_load_and_a_fixed_file_resumes(site, tmp_path):
    rows = export_rows()
    day3 = datetime(2026, 10, 26, 9, 0, tzinfo=UTC).isoformat()
    index = next(i for i, r in enumerate(rows) if r[2] == day3)
    good_value = rows[index][4]
    rows[index][4] = "-1"
    path = write_csv(tmp_path / "export.csv", rows)
    engine = db.get_engine()

    with pytest.raises(ParseError, match=f"export.csv: line {index + 2}: entries '-1' is negative"):
        run_import(site, FIRST, LAST, engine=engine, file=path)

    chunks = table(engine, db.import_chunk)
    assert [r[5] for r in chunks] == ["done", "done", "failed"]
    assert [r[6] for r in chunks[:2]] == [2 * 96, 2 * 100], "each chunk of the batch counts its own rows"
    assert len(table(engine, db.count_interval)) == 2 * (96 + 100)

    rows[index][4] = good_value
    (tmp_path / "fixed").mkdir()
    fixed = write_csv(tmp_path / "fixed" / "export.csv", rows)  # same name and lines but one: a new import
    results = run_import(site, FIRST, LAST, engine=engine, file=fixed)

    assert [r["status"] for r in results] == ["done"] * 3
    assert len(table(engine, db.count_interval)) == len(rows)


def test_sites_imported_two_at_a_time_load_alike_and_a_bad_site_stops_only_itself(site, registry, db_url, tmp_path):
    for other in ("import-other", "import-bad"):
        registry.add_site(other, counters=[{"id": c, "ref": r} for c, r in REFS.items()])
    rows = export_rows()
    bad_rows = [["import-bad", *r[1:]] for r in rows]
    bad_rows[5][4] = "-2"
    jobs = [
        (SITE_ID, write_csv(tmp_path / "a.csv", rows)),
        ("import-other", write_csv(tmp_path / "b.csv", [["import-other", *r[1:]] for r in rows])),
        ("import-bad", write_csv(tmp_path / "c.csv", bad_rows)),
    ]

    with pytest.raises(RuntimeError, match=r"1 of 3 site import\(s\) failed: import-bad \(c.csv\): .*c.csv: line 7: "):
        run_imports(jobs, FIRST, LAST, db_url=db_url, workers=2)

    loaded = table(db.get_engine(), db.count_interval)
    per_site = {s: [r[1:7] for r in loaded if r[0] == s] for s in (SITE_ID, "import-other", "import-bad")}
    assert len(per_site[SITE_ID]) == len(rows) and per_site["import-other"] == per_site[SITE_ID]
    assert per_site["import-bad"] == [], "its first day is the bad one: nothing of it loads"
