"""Source kinds sql and file against real databases (SQLite, MariaDB) and a real folder."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text

from footfall.config import Site, load_presets
from footfall.errors import ExtractError, ParseError
from footfall.pipeline import sync_window
from footfall.replay import replay
from footfall.timewindow import Window
from footfall.warehouse import schema

PARIS = ZoneInfo("Europe/Paris")
MARIADB = os.environ.get("FOOTFALL_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
QUERY = (
    "SELECT door AS counter_ref, started AS interval_start, minutes AS interval_minutes, n_in AS entries, "
    "n_out AS exits FROM door_counts WHERE started >= :window_start AND started < :window_end"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def engine(sqlite_url, warehouse):
    return warehouse(sqlite_url)


def loaded(engine) -> dict[tuple[str, datetime], tuple[int | None, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.count_interval)).mappings().all()
    return {(r["counter_id"], r["interval_start"]): (r["entries"], r["exits"]) for r in rows}


def payload_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.raw_payload)).scalar_one()


def sql_site(query: str = QUERY, **options) -> Site:
    return Site.model_validate(
        {
            "id": "sql-site",
            "name": "Library with its own counting database",
            "timezone": "Europe/Paris",
            "counters": [{"id": "north", "ref": "N"}, {"id": "south", "ref": "S"}],
            "source": {"kind": "sql", "preset": "sql_rows", "connection_id": "site_db",
                       "options": {"query": query, **options}},
        }
    )  # fmt: skip


def fill(rows: list[tuple[str, datetime, int, int | None]], zone=UTC) -> list[tuple]:
    """(door, aware start, entries, exits) -> naive database rows in `zone`, 15 minutes each."""
    return [(d, s.astimezone(zone).replace(tzinfo=None), 15, e, x) for d, s, e, x in rows]


def every_quarter(start: datetime, end: datetime) -> list[tuple[str, datetime, int, int]]:
    out, t, i = [], start, 0
    while t < end:
        out += [("N", t, i % 7, i % 5), ("S", t, i % 3, i % 4)]
        t, i = t + timedelta(minutes=15), i + 1
    return out


@pytest.fixture
def sqlite_source(tmp_path, monkeypatch):
    path = tmp_path / "site.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE door_counts (door TEXT, started TEXT, minutes INT, n_in INT, n_out INT)")
    monkeypatch.setenv("AIRFLOW_CONN_SITE_DB", f"sqlite:///{path}")

    def add(rows: list[tuple]) -> None:
        with sqlite3.connect(path) as conn:
            conn.executemany(
                "INSERT INTO door_counts VALUES (?, ?, ?, ?, ?)",
                [(d, s.strftime("%Y-%m-%d %H:%M:%S"), m, e, x) for d, s, m, e, x in rows],
            )

    return add


# --- sql ---------------------------------------------------------------------------------------


def test_sql_source_loads_the_window_from_sqlite(sqlite_source, engine):
    day = every_quarter(utc(2026, 11, 20, 9, 0), utc(2026, 11, 20, 12, 0))
    sqlite_source(fill(day))
    window = Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 10, 35))

    result = sync_window(sql_site(), window, engine=engine)

    expected = {({"N": "north", "S": "south"}[d], s): (e, x) for d, s, e, x in day if window.start <= s < window.end}
    assert len(expected) == 6 and loaded(engine) == expected
    assert result.rows_read == 6  # only the window was read: the query is incremental
    with engine.connect() as conn:
        (request, source) = conn.execute(select(schema.raw_payload.c.request, schema.raw_payload.c.source)).one()
    assert source == "sql:sql_rows" and request.startswith("SQL sqlite:///")
    again = sync_window(sql_site(), window, engine=engine)
    assert (again.rows_written, again.rows_deleted, payload_count(engine)) == (0, 0, 1)


@pytest.mark.parametrize(
    ("day_start", "day_end", "quarters"),
    [
        (utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0), 92),  # 23-hour day
        (utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0), 100),  # 25-hour day
    ],
    ids=["spring-2026-03-29", "autumn-2026-10-25"],
)
def test_sql_source_on_dst_days(sqlite_source, engine, day_start, day_end, quarters):
    sqlite_source(fill(every_quarter(day_start - timedelta(hours=2), day_end + timedelta(hours=2))))
    sync_window(sql_site(), Window(day_start, day_end), engine=engine)
    rows = loaded(engine)
    assert len(rows) == 2 * quarters
    assert min(s for _, s in rows) == day_start and max(s for _, s in rows) == day_end - timedelta(minutes=15)


def test_window_bounds_are_bound_parameters_not_text(sqlite_source, engine):
    """A value that would break a formatted query is only data when bound."""
    sqlite_source(fill([("N", utc(2026, 11, 20, 10, 0), 1, 1)]))
    bad = sql_site(QUERY.replace(":window_start", "'{window_start}'"))
    with pytest.raises(ExtractError, match="must bind :window_start and :window_end"):
        sync_window(bad, Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 11, 0)), engine=engine)


def test_missing_alias_is_an_extract_error_naming_the_site(sqlite_source, engine):
    sqlite_source(fill([("N", utc(2026, 11, 20, 10, 0), 1, 1)]))
    site = sql_site(QUERY.replace("n_in AS entries", "n_in AS ins"))
    with pytest.raises(ExtractError) as err:
        sync_window(site, Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 11, 0)), engine=engine)
    assert str(err.value).startswith("site sql-site, source sql:sql_rows: extract failed: the query returns")
    assert "missing alias(es): entries" in str(err.value)
    with engine.connect() as conn:
        assert conn.execute(select(schema.sync_run.c.outcome)).scalar_one() == "failed"
    assert loaded(engine) == {}


def test_unreachable_database_is_an_extract_error_without_the_password(engine, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SITE_DB", "mysql://root:t0ps3cret@127.0.0.1:1/nowhere")
    with pytest.raises(ExtractError) as err:
        sync_window(sql_site(), Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 11, 0)), engine=engine)
    assert "site sql-site" in str(err.value) and "query on mysql+pymysql://root:***@127.0.0.1:1" in str(err.value)
    assert "t0ps3cret" not in str(err.value)


@pytest.fixture
def mariadb_table(monkeypatch):
    url = MARIADB.replace("mysql://", "mysql+pymysql://")
    try:
        admin = create_engine(url)
        admin.connect().close()
    except Exception as exc:  # any driver error means no server here
        if os.environ.get("CI"):
            pytest.fail(f"MariaDB is required in CI: {exc}")
        pytest.skip(f"MariaDB not reachable: {exc}")
    table = f"door_counts_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(
            text(f"CREATE TABLE {table} (door VARCHAR(8), started DATETIME, minutes INT, n_in INT, n_out INT)")
        )
    monkeypatch.setenv("AIRFLOW_CONN_SITE_DB", MARIADB)

    def add(rows: list[tuple]) -> None:
        with admin.begin() as conn:
            conn.execute(
                text(f"INSERT INTO {table} VALUES (:d, :s, :m, :e, :x)"),
                [{"d": d, "s": s, "m": m, "e": e, "x": x} for d, s, m, e, x in rows],
            )

    yield table, add
    with admin.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    admin.dispose()


def test_sql_source_reads_local_times_from_mariadb_on_the_spring_dst_day(mariadb_table, engine):
    table, add = mariadb_table
    day = Window(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0))  # 02:00-02:59 local never happens
    rows = every_quarter(day.start - timedelta(hours=1), day.end + timedelta(hours=1))
    add(fill(rows, PARIS))  # the site's database writes local wall-clock times

    sync_window(sql_site(QUERY.replace("door_counts", table), db_timezone="local"), day, engine=engine)

    expected = {({"N": "north", "S": "south"}[d], s): (e, x) for d, s, e, x in rows if day.start <= s < day.end}
    assert len(expected) == 2 * 92 and loaded(engine) == expected


# --- file --------------------------------------------------------------------------------------


def file_site(folder, **changes) -> Site:
    doc = {
        "id": "file-site",
        "name": "Pool exporting CSV files",
        "timezone": "Europe/Paris",
        "counters": [{"id": "gate", "ref": "ACCC8E000301"}],
        "source": {"kind": "file", "preset": "axis_tvpc_export_csv",
                   "options": {"folder": str(folder), "pattern": "*.csv", "res": "15m"}},
    }  # fmt: skip
    doc.update(changes)
    return Site.model_validate(doc)


def export(rows: list[tuple[str, int, int]]) -> str:
    return "Interval start,In,Out\n" + "".join(f"{t},{e},{x}\n" for t, e, x in rows)


RUN = Window(utc(2026, 3, 29, 12, 0), utc(2026, 3, 29, 12, 5))


def test_file_source_lands_each_new_file_once_and_merges_it(tmp_path, engine):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "day1.csv").write_text(export([("2026-03-29 01:45", 3, 1), ("2026-03-29 03:00", 5, 2)]))
    (inbox / "notes.txt").write_text("not an export")
    site = file_site(inbox)

    first = sync_window(site, RUN, engine=engine)

    spring = {("gate", utc(2026, 3, 29, 0, 45)): (3, 1), ("gate", utc(2026, 3, 29, 1, 0)): (5, 2)}
    assert loaded(engine) == spring  # 01:45 is winter time, 03:00 summer time: a quarter apart
    assert (len(first.payload_ids), first.rows_loaded) == (1, 2)

    shutil.copy(inbox / "day1.csv", inbox / "day1-copy.csv")  # the same bytes again: not re-read
    second = sync_window(site, RUN, engine=engine)
    assert (second.payload_ids, payload_count(engine)) == ([], 1)

    (inbox / "day1-revised.csv").write_text(export([("2026-03-29 03:00", 6, 2), ("2026-03-29 03:15", 1, 0)]))
    third = sync_window(site, RUN, engine=engine)
    assert len(third.payload_ids) == 1 and payload_count(engine) == 2
    assert loaded(engine) == {
        **spring,
        ("gate", utc(2026, 3, 29, 1, 0)): (6, 2),
        ("gate", utc(2026, 3, 29, 1, 15)): (1, 0),
    }


def test_a_bad_file_is_kept_and_named_while_the_good_one_loads(tmp_path, engine):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a-good.csv").write_text(export([("2026-10-25 02:30", 4, 4)]))
    (inbox / "b-bad.csv").write_text("Interval start,In,Out\n2026-10-25 03:00,lots,2\n")
    os.utime(inbox / "b-bad.csv", (2_000_000_000, 2_000_000_000))  # newer: read after the good one

    run = Window(utc(2026, 10, 25, 12, 0), utc(2026, 10, 25, 12, 5))
    with pytest.raises(ParseError) as err:
        sync_window(file_site(inbox), run, engine=engine)

    assert str(err.value).startswith("site file-site, source file:axis_tvpc_export_csv: normalize failed")
    assert f"file {inbox / 'b-bad.csv'}: CSV line 2:" in str(err.value)  # the file, then the line in it
    assert "'lots' is not a number" in str(err.value)
    assert list(loaded(engine).values()) == [(4, 4)]  # the good file loaded; nothing of the bad one
    with engine.connect() as conn:
        kept = conn.execute(select(schema.raw_payload.c.request, schema.raw_payload.c.error)).all()
    assert [(r.request.endswith("b-bad.csv"), r.error is not None) for r in kept] == [(False, False), (True, True)]
    assert sync_window(file_site(inbox), run, engine=engine).payload_ids == []  # not re-read


def test_a_file_over_the_size_limit_is_named_while_the_others_load(tmp_path, engine, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a-big.csv").write_text(export([("2026-10-25 01:30", 1, 1)] * 20))
    (inbox / "b-good.csv").write_text(export([("2026-10-25 02:30", 4, 4)]))
    os.utime(inbox / "a-big.csv", (1_000_000_000, 1_000_000_000))  # older: read first
    site = file_site(inbox)
    presets = load_presets()
    small = presets[site.source.preset].model_copy(update={"max_body_bytes": 100})
    monkeypatch.setitem(presets, site.source.preset, small)  # the cached registry, restored afterwards

    run = Window(utc(2026, 10, 25, 12, 0), utc(2026, 10, 25, 12, 5))
    with pytest.raises(ExtractError, match=r"site file-site.*file a-big\.csv is \d+ bytes, over the 100-byte limit"):
        sync_window(site, run, engine=engine)

    assert list(loaded(engine).values()) == [(4, 4)]  # the file after it still loaded
    with engine.connect() as conn:
        (failed,) = conn.execute(select(schema.sync_run.c.outcome, schema.sync_run.c.error)).all()
    assert failed.outcome == "failed" and "a-big.csv" in failed.error


def test_missing_folder_is_an_extract_error(tmp_path, engine):
    with pytest.raises(ExtractError, match=r"site file-site.*folder .*nowhere does not exist"):
        sync_window(file_site(tmp_path / "nowhere"), RUN, engine=engine)


def test_replay_of_a_file_site_applies_the_new_direction(tmp_path, engine):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "x.csv").write_text(export([("2026-11-20 10:00", 9, 2)]))
    before = datetime.now(UTC)
    sync_window(file_site(inbox), Window(utc(2026, 11, 20, 12, 0), utc(2026, 11, 20, 12, 5)), engine=engine)
    shutil.rmtree(inbox)  # the folder is gone: replay reads only what was landed
    swapped = file_site(inbox, counters=[{"id": "gate", "ref": "ACCC8E000301", "direction": "swapped"}])

    (result,) = replay(swapped, Window(before - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)),
                       engine=engine)  # fmt: skip

    assert result.rows_loaded == 1
    assert loaded(engine) == {("gate", utc(2026, 11, 20, 9, 0)): (2, 9)}


def test_identical_exports_of_two_counters_both_load_and_replay(tmp_path, db_url, warehouse):
    """A closed morning: both doors export the same zeros, byte for byte. Each file is its counter's
    payload (the body does not name its door), so both load and a replay gives both back."""
    engine = warehouse(db_url)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    zeros = export([("2026-11-20 06:00", 0, 0), ("2026-11-20 06:15", 0, 0)])
    (inbox / "ACCC8E000301-20261120.csv").write_text(zeros)
    (inbox / "ACCC8E000302-20261120.csv").write_text(zeros)
    doors = [{"id": "north", "ref": "ACCC8E000301"}, {"id": "south", "ref": "ACCC8E000302"}]
    site = file_site(inbox, counters=doors)
    run = Window(utc(2026, 11, 20, 12, 0), utc(2026, 11, 20, 12, 5))
    before = datetime.now(UTC)

    first = sync_window(site, run, engine=engine)

    quarters = (utc(2026, 11, 20, 5, 0), utc(2026, 11, 20, 5, 15))  # 06:00 and 06:15 in Paris
    closed = {(door, start): (0, 0) for door in ("north", "south") for start in quarters}
    assert loaded(engine) == closed and len(first.payload_ids) == 2
    with engine.connect() as conn:
        t = schema.raw_payload.c
        landed = conn.execute(select(t.payload_id, t.counter_ref, t.sha256).order_by(t.payload_id)).all()
    assert [r.counter_ref for r in landed] == ["ACCC8E000301", "ACCC8E000302"]
    assert landed[0].sha256 == landed[1].sha256

    shutil.copy(inbox / "ACCC8E000302-20261120.csv", inbox / "ACCC8E000302-again.csv")  # same door, same bytes
    assert sync_window(site, run, engine=engine).payload_ids == [] and payload_count(engine) == 2

    with engine.begin() as conn:
        conn.execute(schema.count_interval.delete())
    (result,) = replay(site, Window(before - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)),
                       engine=engine)  # fmt: skip
    assert sorted(result.payload_ids) == [r.payload_id for r in landed]
    assert loaded(engine) == closed


def test_demo_fills_the_sources_of_its_sql_and_file_sites(tmp_path, engine, monkeypatch):
    from footfall.config import get_site
    from footfall_devtools.demo import prepare_demo_sources

    monkeypatch.setenv("FOOTFALL_DATA_DIR", str(tmp_path / "data"))
    sites = [get_site("mediatheque-est"), get_site("patinoire-sud")]  # the demo registry's files
    end = utc(2026, 11, 20, 15, 0)  # a Friday afternoon: both are open
    connections = prepare_demo_sources(sites, end - timedelta(hours=2), end)
    for name, value in connections.items():
        monkeypatch.setenv(name, value)

    window = Window(end - timedelta(minutes=35), end)
    loaded_sql = sync_window(sites[0], window, engine=engine)
    loaded_files = sync_window(sites[1], window, engine=engine)

    assert loaded_sql.rows_loaded == 2 * 2  # two turnstiles, 14:30 and 14:45
    assert len(loaded_files.payload_ids) == 2 and loaded_files.rows_loaded == 8  # two hourly files
    assert sum(e for e, _ in loaded(engine).values()) > 0


def test_file_site_run_with_airflow_instants(tmp_path, engine):
    """Airflow hands pendulum instants to the task; a month's plausible range must stay zone-aware."""
    import pendulum

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "x.csv").write_text(export([("2026-11-20 10:00", 3, 1)]))
    run = Window(pendulum.datetime(2026, 11, 20, 12, 0, tz="UTC"), pendulum.datetime(2026, 11, 20, 12, 5, tz="UTC"))
    assert sync_window(file_site(inbox), run, engine=engine).rows_loaded == 1
    assert loaded(engine) == {("gate", utc(2026, 11, 20, 9, 0)): (3, 1)}


def test_replay_of_a_sql_site_needs_no_database(sqlite_source, engine, monkeypatch):
    day = every_quarter(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 11, 0))
    sqlite_source(fill(day))
    window = Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 11, 0))
    sync_window(sql_site(), window, engine=engine)
    monkeypatch.setenv("AIRFLOW_CONN_SITE_DB", "sqlite:////nonexistent/folder/site.db")  # the database is gone
    swapped = sql_site().model_copy(
        update={"counters": tuple(c.model_copy(update={"direction": "swapped"}) for c in sql_site().counters)}
    )

    (result,) = replay(swapped, window, engine=engine)

    assert result.rows_loaded == 8
    assert loaded(engine) == {({"N": "north", "S": "south"}[d], s): (x, e) for d, s, e, x in day}
