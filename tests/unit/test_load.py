"""Load: replacing one site's window is exact and idempotent, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from footfall.normalize import Payload, normalize_counts
from footfall.sources.base import Fetched
from footfall.timewindow import Window
from footfall.warehouse import schema
from footfall.warehouse.counts import WriteResult, write_counts
from footfall.warehouse.landing import land_payloads
from footfall.warehouse.runs import record_sync_run

# 10:00-11:00 in Paris (CET): the window a run replaces.
WINDOW = Window(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
WIDE = Window(datetime(2026, 11, 20, 8, 30, tzinfo=UTC), datetime(2026, 11, 20, 10, 30, tzinfo=UTC))
# Local 09:30 .. 11:15, every 15 minutes: two intervals before the window, four in it, two after.
STAMPS = [
    f"20261120{h:02d}{m:02d}00" for h, m in [(9, 30), (9, 45), (10, 0), (10, 15), (10, 30), (10, 45), (11, 0), (11, 15)]
]
COUNTERS = [{"id": "a", "ref": "R1"}, {"id": "b", "ref": "R2"}]

_bodies = count(1)


def load_window(
    engine: Engine,
    site_id: str,
    window: Window,
    rows: pd.DataFrame,
    *,
    run_id: str,
    started_at: datetime,
    rows_read: int,
) -> WriteResult:
    """What a replace run writes (footfall.lifecycle): the window's counts and its sync_run row, in one
    transaction, so either both land or neither."""
    with engine.begin() as conn:
        result = write_counts(conn, site_id, rows, mode="replace", window=window)
        record_sync_run(
            conn, site_id, window, run_id=run_id, started_at=started_at, rows_read=rows_read,
            rows_loaded=result.rows_in_window, outcome="success", rows_skipped=int(rows.attrs.get("rows_skipped", 0)),
        )  # fmt: skip
    return result


def snapshot(engine: Engine, table: str, order: str) -> list[tuple]:
    """Every stored value, as the driver returns it (SQLite: the stored text itself)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {order}")]


def counts(engine: Engine) -> list[tuple]:
    return snapshot(engine, "count_interval", "site_id, counter_id, interval_start")


def stored(engine: Engine) -> pd.DataFrame:
    """count_interval through the schema's types (aware UTC datetimes)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.count_interval).order_by(
                schema.count_interval.c.counter_id, schema.count_interval.c.interval_start
            )
        )
        return pd.DataFrame(rows.mappings().all())


class Warehouse:
    """One warehouse with sites, and batches landed as real raw payloads."""

    def __init__(self, engine: Engine, make_site, axis_body) -> None:
        self.engine = engine
        self.make_site = make_site
        self.axis_body = axis_body
        self.sites = {}

    def site(self, site_id: str = "test-site"):
        if site_id not in self.sites:
            self.sites[site_id] = self.make_site(site_id, counters=COUNTERS)
        return self.sites[site_id]

    def batch(self, site_id: str = "test-site", values=None, skip=()) -> pd.DataFrame:
        """Rows for both counters over STAMPS; `values` maps (ref, stamp) to (in, out); `skip` drops some."""
        site = self.site(site_id)
        values = values or {}
        payloads = []
        for counter in COUNTERS:
            ref = counter["ref"]
            rows = [(s, *values.get((ref, s), (10 + i, 5 + i))) for i, s in enumerate(STAMPS) if (ref, s) not in skip]
            body = self.axis_body(ref, rows)
            # A unique suffix makes each batch a new body (a new raw payload), as a re-read after a revision is.
            body = body[:-1] + f', "batch": {next(_bodies)}}}'.encode()
            (payload_id,) = land_payloads(self.engine, site, WIDE, [Fetched(ref, "GET test", 200, None, body)])
            payloads.append(Payload(payload_id, body))
        return normalize_counts(site, payloads)

    def load(self, rows: pd.DataFrame, window: Window = WINDOW, site_id: str = "test-site", run_id: str = "run"):
        return load_window(
            self.engine,
            site_id,
            window,
            rows,
            run_id=run_id,
            started_at=datetime.now(UTC),
            rows_read=len(rows),
        )


@pytest.fixture
def wh(db_url, warehouse, make_site, axis_body) -> Warehouse:
    return Warehouse(warehouse(db_url), make_site, axis_body)


def test_load_window(wh):
    rows = wh.batch()
    result = wh.load(rows)

    assert (result.rows_in_window, result.rows_written, result.rows_deleted) == (8, 8, 0)
    got = stored(wh.engine)
    assert len(got) == 8
    starts = sorted(set(got["interval_start"]))
    assert starts == [WINDOW.start + timedelta(minutes=15 * i) for i in range(4)]  # only the window's rows
    for column in ("interval_start", "loaded_at"):
        for value in got[column]:
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0), value
    first = got.iloc[0]
    assert (first["site_id"], first["counter_id"], first["interval_minutes"]) == ("test-site", "a", 15)
    assert (first["entries"], first["exits"]) == (12, 7)  # the third stamp, 10:00 local
    assert got["occupancy"].isna().all()
    expected = rows[(rows["interval_start"] >= pd.Timestamp(WINDOW.start))]
    expected = expected[expected["interval_start"] < pd.Timestamp(WINDOW.end)]
    assert sorted(got["payload_id"]) == sorted(expected["payload_id"])


def test_same_window_twice_is_byte_identical(wh):
    rows = wh.batch()
    wh.load(rows, run_id="first")
    before = {t: snapshot(wh.engine, t, o) for t, o in TABLES}

    again = wh.load(rows, run_id="second")

    assert (again.rows_in_window, again.rows_written, again.rows_deleted) == (8, 0, 0)
    after = {t: snapshot(wh.engine, t, o) for t, o in TABLES}
    assert after == before


def test_identical_values_from_a_new_payload_change_nothing(wh):
    wh.load(wh.batch())
    before = counts(wh.engine)
    result = wh.load(wh.batch())  # same numbers, new raw payloads
    assert result.rows_written == 0
    assert counts(wh.engine) == before  # not even payload_id or loaded_at


def test_revised_batch_updates_only_changed_rows(wh):
    wh.load(wh.batch())
    before = stored(wh.engine).set_index(["counter_id", "interval_start"])

    revised = wh.batch(values={("R2", "20261120101500"): (99, 98)})
    result = wh.load(revised)

    assert (result.rows_written, result.rows_deleted) == (1, 0)
    after = stored(wh.engine).set_index(["counter_id", "interval_start"])
    key = ("b", pd.Timestamp(datetime(2026, 11, 20, 9, 15, tzinfo=UTC)))
    changed = after.loc[key]
    assert (changed["entries"], changed["exits"]) == (99, 98)
    assert changed["payload_id"] == revised.set_index(["counter_id", "interval_start"]).loc[key, "payload_id"]
    assert changed["payload_id"] != before.loc[key, "payload_id"]
    assert changed["loaded_at"] > before.loc[key, "loaded_at"]
    pd.testing.assert_frame_equal(after.drop(index=[key]), before.drop(index=[key]))


def test_rows_absent_from_a_new_batch_are_deleted(wh):
    wh.load(wh.batch())
    before = counts(wh.engine)
    result = wh.load(wh.batch(skip={("R1", "20261120103000"), ("R2", "20261120100000")}))

    assert (result.rows_in_window, result.rows_written, result.rows_deleted) == (6, 0, 2)
    after = counts(wh.engine)
    assert len(after) == 6
    assert set(after) < set(before)  # the others are untouched, byte for byte


def test_rows_outside_the_window_are_untouched(wh):
    wh.load(wh.batch(), window=WIDE)
    before = counts(wh.engine)
    assert len(before) == 16

    result = wh.load(wh.batch(skip={(c["ref"], s) for c in COUNTERS for s in STAMPS}))  # nothing at all

    assert (result.rows_in_window, result.rows_deleted) == (0, 8)
    after = stored(wh.engine)
    assert len(after) == 8
    assert not after["interval_start"].between(pd.Timestamp(WINDOW.start), pd.Timestamp(WINDOW.end), "left").any()
    assert set(counts(wh.engine)) < set(before)


def test_other_sites_are_untouched(wh):
    wh.load(wh.batch("other-site"), site_id="other-site")
    wh.load(wh.batch())
    other = [r for r in counts(wh.engine) if r[0] == "other-site"]
    assert len(other) == 8

    wh.load(wh.batch(skip={(c["ref"], s) for c in COUNTERS for s in STAMPS}))

    assert [r for r in counts(wh.engine) if r[0] == "test-site"] == []
    assert [r for r in counts(wh.engine) if r[0] == "other-site"] == other


def test_missing_counts_load_as_null_and_reload_identically(wh):
    rows = wh.batch(values={("R1", "20261120100000"): (None, 3)})
    wh.load(rows)
    before = counts(wh.engine)
    got = stored(wh.engine)
    first = got[(got["counter_id"] == "a")].iloc[0]
    assert pd.isna(first["entries"]) and first["exits"] == 3

    assert wh.load(rows).rows_written == 0
    assert counts(wh.engine) == before


def test_sync_run_has_one_row_per_site_and_window(wh):
    rows = wh.batch()
    wh.load(rows, run_id="run-1")
    wh.load(rows, run_id="run-2")
    wh.load(rows, window=WIDE, run_id="run-3")
    wh.load(wh.batch("other-site"), site_id="other-site", run_id="run-4")

    with wh.engine.connect() as conn:
        runs = (
            conn.execute(select(schema.sync_run).order_by(schema.sync_run.c.site_id, schema.sync_run.c.window_start))
            .mappings()
            .all()
        )
    assert [(r["site_id"], r["window_start"], r["window_end"], r["run_id"]) for r in runs] == [
        ("other-site", WINDOW.start, WINDOW.end, "run-4"),
        ("test-site", WIDE.start, WIDE.end, "run-3"),
        ("test-site", WINDOW.start, WINDOW.end, "run-2"),  # the re-run replaced run-1's row
    ]
    assert all(r["outcome"] == "success" and r["stage"] is None and r["error"] is None for r in runs)
    assert [r["rows_loaded"] for r in runs] == [8, 16, 8]
    assert all(r["rows_read"] == len(rows) for r in runs)
    assert all(r["started_at"] <= r["finished_at"] for r in runs)


TABLES = [
    ("count_interval", "site_id, counter_id, interval_start"),
    ("raw_payload", "payload_id"),
    ("site", "site_id"),
    ("counter", "site_id, counter_id"),
]


def values(engine: Engine, site_id: str) -> list[tuple]:
    """A site's stored intervals without site, payload and load time (those differ between batches)."""
    return [r[1:7] for r in counts(engine) if r[0] == site_id]


def test_a_first_load_and_a_replacing_load_store_the_same_rows(wh):
    missing = {("R1", "20261120100000"): (None, 3)}
    wh.load(wh.batch(values=missing))  # an empty window (PostgreSQL: one COPY into count_interval)
    wh.load(wh.batch("other-site", skip={("R2", "20261120101500")}), site_id="other-site")
    result = wh.load(wh.batch("other-site", values=missing), site_id="other-site")  # staged, upserted

    assert (result.rows_in_window, result.rows_written) == (8, 2)  # the skipped interval and the revised one
    assert values(wh.engine, "test-site") == values(wh.engine, "other-site")
    assert len(values(wh.engine, "test-site")) == 8


@pytest.mark.parametrize("reference", ["counter_id", "payload_id"])
def test_a_row_whose_counter_or_payload_is_unknown_loads_nothing(pg_url, warehouse, make_site, axis_body, reference):
    """PostgreSQL only: the trigger-free COPY must still refuse what a foreign key would (SQLite's are off)."""
    wh = Warehouse(warehouse(pg_url), make_site, axis_body)
    rows = wh.batch()
    inside = rows.index[rows["interval_start"] == pd.Timestamp(WINDOW.start)][-1]
    rows.loc[inside, reference] = "attic" if reference == "counter_id" else 10**9

    with pytest.raises(Exception, match="foreign key"):
        wh.load(rows)

    assert counts(wh.engine) == []


def test_a_window_filled_by_a_concurrent_load_is_replaced_the_general_way(wh, monkeypatch):
    rows = wh.batch()
    wh.load(rows, run_id="first")
    before = counts(wh.engine)
    # As if another load filled the window between the emptiness check and the COPY.
    monkeypatch.setattr("footfall.warehouse.counts.window_has_rows", lambda conn, site_id, window: False)

    again = wh.load(rows, run_id="second")

    assert (again.rows_in_window, again.rows_written, again.rows_deleted) == (8, 0, 0)
    assert counts(wh.engine) == before


def test_records_without_counts_are_skipped_and_counted_in_sync_run(wh):
    """A record with its time and no count (nulls) is left out, not a refusal; the run says how many."""
    rows = wh.batch(values={("R1", STAMPS[3]): (None, None), ("R2", STAMPS[4]): (None, None)})
    assert rows.attrs["rows_skipped"] == 2
    wh.load(rows)

    with wh.engine.connect() as conn:
        run = conn.execute(select(schema.sync_run)).mappings().one()
    assert (run["rows_skipped"], run["rows_loaded"]) == (2, 6)
