"""PostgreSQL restarted in the middle of a load and of a history import, and a pool gone stale,
on a private server (initdb + pg_ctl in a temporary folder): nothing half-loaded, and after the
restart a re-run gives exactly the tables of one clean run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fault_figures import compare, count_rows, record
from private_pg import PrivatePostgres
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.exc import OperationalError

from footfall.config import Site
from footfall.imports.run import run_import
from footfall.pipeline import sync_window
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.engine import get_engine, normalize_url
from footfall_simulator import DeviceProfile, count_intervals

WINDOW = Window(datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 14, tzinfo=UTC))
FIRST, LAST = date(2026, 10, 20), date(2026, 10, 29)  # ten local days, the autumn DST change among them
REFS = {"main-door": "SIM0000001", "side-door": "SIM0000002"}


class CrashAt:
    """Counts the statements an engine runs; at statement `at` the server is crashed (stop -m immediate)
    before the statement reaches it, so the statement fails as it would in a real crash."""

    def __init__(self, engine: Engine, server: PrivatePostgres | None = None, at: int | None = None) -> None:
        self.engine, self.server, self.at, self.seen, self.crashed = engine, server, at, 0, False
        event.listen(engine, "before_cursor_execute", self)

    def __call__(self, *_args: object) -> None:
        self.seen += 1
        if self.server is not None and not self.crashed and self.seen == self.at:
            self.crashed = True
            self.server.stop("immediate")

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def windows_half_loaded(found: dict, expected: dict, spans: list[Window]) -> int:
    """Spans with some but not all of their rows."""
    half = 0
    for span in spans:
        want = {k for k in expected if span.start <= k[2] < span.end}
        have = {k for k in found if span.start <= k[2] < span.end}
        half += int(bool(have) and have != want)
    return half


def test_postgres_crashed_mid_load_loads_nothing_then_the_rerun_loads_the_window_once(server, simulator, make_site):
    site: Site = make_site()
    clean = get_engine(server.warehouse("clean"))
    counter = CrashAt(clean)
    sync_window(site, WINDOW, engine=clean, run_id="clean")
    counter.remove()
    expected = count_rows(clean)
    assert len(expected) == 2 * 16

    engine = get_engine(server.warehouse("faulty"))
    crash = CrashAt(engine, server, at=max(2, counter.seen // 2))
    with pytest.raises(OperationalError):
        sync_window(site, WINDOW, engine=engine, run_id="crashed")
    crash.remove()
    assert crash.crashed
    server.start()
    during = count_rows(engine)  # the pool's connections died with the server: pre-ping replaces them
    assert windows_half_loaded(during, expected, [WINDOW]) == 0
    sync_window(site, WINDOW, engine=engine, run_id="retry")
    lost, doubled = compare(expected, count_rows(engine))
    assert (lost, doubled) == (0, 0)
    with engine.connect() as conn:
        runs = conn.execute(select(schema.sync_run.c.run_id, schema.sync_run.c.outcome)).all()
    assert [tuple(r) for r in runs] == [("retry", "success")]
    record("postgres crash mid-load", faults=1, tried=2, lost=lost, doubled=doubled, half_loaded=0)


def export_file(path: Path) -> Path:
    start = datetime(2026, 10, 19, 22, tzinfo=UTC)  # local midnight of FIRST
    end = datetime(2026, 10, 29, 23, tzinfo=UTC)  # local midnight after LAST
    lines = ["site_id,counter_id,interval_start,interval_minutes,entries,exits,occupancy"]
    always = {d: ("00:00", "24:00") for d in range(7)}
    for counter_id, ref in REFS.items():
        profile = DeviceProfile(ref=ref, timezone="Europe/Paris", opening_hours=always)
        for iv in count_intervals(profile, start, end, 15, seed=3):
            lines.append(f"test-site,{counter_id},{iv.start_utc.isoformat()},15,{iv.entries},{iv.exits},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def local_days() -> list[Window]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Paris")
    days = []
    day = FIRST
    while day <= LAST:
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        nxt = day + timedelta(days=1)
        days.append(Window(start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(UTC)))
        day = nxt
    return days


def chunk_states(engine: Engine) -> dict[datetime, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.import_chunk.c.chunk_start, schema.import_chunk.c.status)).all()
    return {r[0]: r[1] for r in rows}


@pytest.mark.parametrize("crash_fraction", [0.3, 0.7])
def test_postgres_crashed_mid_import_resumes_to_the_tables_of_one_clean_import(
    crash_fraction, server, make_site, tmp_path
):
    site: Site = make_site()
    path = export_file(tmp_path / "export.csv")
    clean = get_engine(server.warehouse("clean"))
    counter = CrashAt(clean)
    run_import(site, FIRST, LAST, engine=clean, file=path, chunk="day")
    counter.remove()
    expected = count_rows(clean)
    assert len(expected) == 2 * (9 * 96 + 100)

    engine = get_engine(server.warehouse("faulty"))
    crash = CrashAt(engine, server, at=max(2, int(counter.seen * crash_fraction)))
    with pytest.raises(OperationalError):
        run_import(site, FIRST, LAST, engine=engine, file=path, chunk="day")
    crash.remove()
    assert crash.crashed
    server.start()
    during = count_rows(engine)
    half = windows_half_loaded(during, expected, local_days())
    assert half == 0, "a day of the import is half there"
    done = {day for day, status in chunk_states(engine).items() if status == "done"}
    for day in local_days():
        rows = {k for k in during if day.start <= k[2] < day.end}
        if day.start in done:
            assert rows, f"chunk {day.start} says done but holds nothing"

    results = run_import(site, FIRST, LAST, engine=engine, file=path, chunk="day")
    assert {r["status"] for r in results} <= {"done", "skipped (already done)"}
    lost, doubled = compare(expected, count_rows(engine))
    assert (lost, doubled) == (0, 0)
    record(
        f"postgres crash mid-import ({crash_fraction:.0%})",
        faults=1,
        tried=2,
        lost=lost,
        doubled=doubled,
        half_loaded=half,
    )


def test_a_pool_gone_stale_is_renewed_by_pre_ping(server, simulator, make_site):
    """Every pooled connection dies with a server restart; the next run works at once. A control
    engine without pre-ping shows the pool really went stale."""
    site: Site = make_site()
    engine = get_engine(server.warehouse("stale"))
    control = create_engine(normalize_url(server.url("stale")))
    with engine.connect() as a, engine.connect() as b, control.connect() as c:  # several pooled connections
        for conn in (a, b, c):
            conn.execute(text("SELECT 1"))
    server.restart("immediate")
    with pytest.raises(OperationalError), control.connect() as conn:
        conn.execute(text("SELECT 1"))
    control.dispose()
    sync_window(site, WINDOW, engine=engine, run_id="after-restart")
    assert len(count_rows(engine)) == 2 * 16
    record("postgres pool stale", faults=1, tried=1)
