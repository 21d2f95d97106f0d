"""Replay and revisions: landed payloads re-parsed with the current site file, changed intervals recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from footfall import db
from footfall.cli import main
from footfall.config import Site
from footfall.pipeline import sync_window
from footfall.replay import landed_windows, replay
from footfall.timewindow import Window
from footfall_simulator import Fault


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# 11:00-11:35 in Paris on Friday 2026-11-20; the simulator's clock is at 16:07 that day.
WINDOW = Window(utc(2026, 11, 20, 10, 0), utc(2026, 11, 20, 10, 35))


def counts(engine) -> dict[tuple[str, datetime], tuple[int, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.count_interval)).mappings().all()
    return {(r["counter_id"], r["interval_start"]): (r["entries"], r["exits"], r["payload_id"]) for r in rows}


def revisions(engine) -> list[dict]:
    with engine.connect() as conn:
        table = db.interval_revision
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.revision_id)).mappings().all()]


def swapped_main_door(make_site) -> Site:
    return make_site(
        counters=[
            {"id": "main-door", "ref": "SIM0000001", "direction": "swapped"},
            {"id": "side-door", "ref": "SIM0000002"},
        ]
    )


@pytest.fixture
def engine(db_url, warehouse):
    return warehouse(db_url)


def test_replay_applies_the_current_site_file_without_calling_the_source(simulator, make_site, engine):
    sync_window(make_site(), WINDOW, engine=engine, run_id="live")
    before = counts(engine)
    assert revisions(engine) == []
    simulator.stop()  # from here on, any HTTP call would fail

    results = replay(
        swapped_main_door(make_site), Window(utc(2026, 11, 20, 10, 10), utc(2026, 11, 20, 10, 20)), engine=engine
    )

    assert [r.window for r in results] == [WINDOW]  # the stored fetch window overlaps the range: replaced whole
    after = counts(engine)
    assert after.keys() == before.keys() and len(after) == 6
    for (counter_id, start), (entries, exits, payload_id) in after.items():
        old_entries, old_exits, old_payload = before[(counter_id, start)]
        assert payload_id == old_payload  # same body, parsed again
        expected = (old_exits, old_entries) if counter_id == "main-door" else (old_entries, old_exits)
        assert (entries, exits) == expected
    changed = {start for (cid, start), (e, x, _) in before.items() if cid == "main-door" and e != x}
    assert changed  # open hours: doors count different ins and outs
    recorded = revisions(engine)
    assert {r["interval_start"] for r in recorded} == changed
    for r in recorded:
        assert r["counter_id"] == "main-door"
        assert (r["new_entries"], r["new_exits"]) == (r["old_exits"], r["old_entries"])
        assert r["old_payload_id"] == r["new_payload_id"]
    with engine.connect() as conn:
        run = conn.execute(select(db.sync_run.c.run_id, db.sync_run.c.outcome)).one()
    assert tuple(run) == ("replay", "success")

    again = replay(swapped_main_door(make_site), WINDOW, engine=engine)
    assert (again[0].rows_written, again[0].rows_deleted) == (0, 0)
    assert len(revisions(engine)) == len(changed)  # nothing changed, nothing recorded


def test_replay_of_a_range_without_payloads_loads_nothing(simulator, make_site, engine):
    sync_window(make_site(), WINDOW, engine=engine)
    assert replay(make_site(), Window(utc(2026, 11, 21, 10, 0), utc(2026, 11, 21, 11, 0)), engine=engine) == []
    assert len(landed_windows(engine, make_site(), WINDOW)) == 1


def test_a_revised_interval_records_one_revision(simulator, make_site, engine):
    site = make_site()
    first = sync_window(site, WINDOW, engine=engine)
    old = counts(engine)
    revised = utc(2026, 11, 20, 10, 15)
    assert old[("main-door", revised)][1] > 0
    simulator.add_fault(Fault("imbalance", ref="SIM0000001", start_utc=revised, end_utc=utc(2026, 11, 20, 10, 30),
                              params={"exit_factor": 3.0}))  # fmt: skip

    second = sync_window(site, WINDOW, engine=engine)

    (rev,) = revisions(engine)
    new = counts(engine)
    assert (rev["site_id"], rev["counter_id"], rev["interval_start"]) == (site.id, "main-door", revised)
    assert (rev["old_entries"], rev["old_exits"]) == old[("main-door", revised)][:2]
    assert (rev["new_entries"], rev["new_exits"]) == new[("main-door", revised)][:2]
    assert rev["new_exits"] == 3 * rev["old_exits"]
    assert rev["old_payload_id"] in first.payload_ids and rev["new_payload_id"] in second.payload_ids
    assert rev["old_payload_id"] != rev["new_payload_id"]  # the latest received wins
    assert new[("main-door", revised)][2] == rev["new_payload_id"]

    sync_window(site, WINDOW, engine=engine)  # the same answer again: not a revision
    assert len(revisions(engine)) == 1


def test_replay_command_reads_the_site_file(simulator, registry, site_doc, sqlite_url, warehouse, monkeypatch, capsys):
    engine = warehouse(sqlite_url)
    monkeypatch.setenv("FOOTFALL_DB_URL", sqlite_url)
    registry.write(site_doc())
    sync_window(Site.model_validate(site_doc()), WINDOW, engine=engine)
    simulator.stop()
    doc = site_doc()
    doc["counters"][1]["direction"] = "swapped"
    registry.write(doc)

    code = main(["replay", "--site", "test-site", "--from", "2026-11-20T10:00Z", "--to", "2026-11-20T10:35Z"])

    assert code == 0
    assert '"rows_loaded": 6' in capsys.readouterr().out
    assert {r["counter_id"] for r in revisions(engine)} == {"side-door"}
    assert main(["replay", "--site", "nope", "--from", "2026-11-20T10:00Z", "--to", "2026-11-20T10:35Z"]) == 2
