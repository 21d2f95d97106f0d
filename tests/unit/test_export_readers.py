"""The history-export readers on the real public files (read from the shared folder, never copied here).

Every expected value below was read from the files by hand; SOURCES.md beside them lists their oddities.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from footfall.forecast.series import read_counts_csv
from footfall.imports.exports import EXPORT_READERS, frozen_readings, hour_shift, write_counts_csv

DATA = Path("realworld/data")


def at(rows: pd.DataFrame, site: str, instant: str, counter: str | None = None) -> pd.Series:
    hit = rows[(rows["site_id"] == site) & (rows["interval_start"] == pd.Timestamp(instant))]
    if counter is not None:
        hit = hit[hit["counter_id"] == counter]
    assert len(hit) == 1, f"{site} {counter} {instant}: {len(hit)} rows"
    return hit.iloc[0]


@pytest.fixture(scope="module")
def sauna(shared_dir: Path) -> pd.DataFrame:
    return EXPORT_READERS["sauna_occupancy_log"](
        shared_dir / DATA / "bern-lorrainebad-sauna-occupancy/occupancy_log.csv"
    )


def test_sauna_reads_naive_local_and_offset_times_one_site_per_sauna(sauna):
    assert set(sauna["site_id"]) == {"sauna", "sauna-rechts"}
    # Line 4: naive "2026-01-24T17:27:13" (local, +01:00) -> 16:27Z, in the 16:25 snapshot slot.
    assert at(sauna, "sauna", "2026-01-24T16:25Z")["occupancy"] == 35
    # Line 2, naive and out of order (18:07 before 17:27): 17:07Z, 41 seats of 40 (overcapacity is kept).
    assert at(sauna, "sauna", "2026-01-24T17:05Z")["occupancy"] == 41
    # Offset rows: 2026-01-25T14:45:23+01:00 is 13:45Z; 14:37:08 (written after it) is sorted into 13:35Z.
    assert at(sauna, "sauna", "2026-01-25T13:45Z")["occupancy"] == 44
    assert at(sauna, "sauna", "2026-01-25T13:35Z")["occupancy"] == 44
    assert sauna["interval_minutes"].eq(5).all() and sauna[["entries", "exits"]].isna().all().all()
    assert not sauna.duplicated(["site_id", "counter_id", "interval_start"]).any()


def test_sauna_closed_is_zero_summer_break_and_frozen_values_are_holes(sauna):
    # "2026-02-05T19:30:34+01:00,Sauna rechts,-1,...,Mir hei zue. | Closed.": nobody inside.
    assert at(sauna, "sauna-rechts", "2026-02-05T18:30Z")["occupancy"] == 0
    rechts = sauna[sauna["site_id"] == "sauna-rechts"]
    # From late March to the end of the log (2026-08-22) every row is -1 "summerpouse": no reading at all.
    assert rechts["interval_start"].max() < pd.Timestamp("2026-03-25T00:00Z")
    assert (rechts["occupancy"] >= 0).all()
    # "Sauna rechts" stays at 28 from 2026-01-24 17:27 for days (the API froze): only the first reading is kept.
    assert at(sauna, "sauna-rechts", "2026-01-24T16:25Z")["occupancy"] == 28
    day = rechts["interval_start"].dt.tz_convert("Europe/Zurich").dt.date.astype(str)
    assert not day.isin(["2026-01-26", "2026-01-27"]).any()


def test_frozen_readings_keep_the_first_and_spare_zeros_and_short_runs():
    instant = pd.Series(pd.to_datetime(["2026-01-01T08:00Z", "2026-01-01T12:00Z", "2026-01-01T20:00Z"] * 2))
    entity = pd.Series(["a"] * 3 + ["b"] * 3)
    frozen = frozen_readings(entity, instant, pd.Series([28, 28, 28, 0, 0, 0]))
    assert frozen.tolist() == [False, True, True, False, False, False]
    short = frozen_readings(entity[:2], instant[:2], pd.Series([40, 40]))  # four hours full: real
    assert not short.any()


@pytest.fixture(scope="module")
def libraries(shared_dir: Path) -> pd.DataFrame:
    return EXPORT_READERS["library_headcounts"](shared_dir / DATA / "tulsa-cc-library-patron-counts")


def test_library_headcounts_join_archive_and_current_files_per_campus(libraries):
    assert set(libraries["site_id"]) == {"tcc-southeast-library", "tcc-metro-library"}
    # SEC Archive line 2: "Spring 2019,1/14/2019,Monday,7:30 AM,3,0,1,0,0,4" (CST): 13:30Z, 4 people.
    assert at(libraries, "tcc-southeast-library", "2019-01-14T13:30Z")["occupancy"] == 4
    # Metro Archive line 2: "8/19/2019 ... 8:30 AM ... 9" (CDT): 13:30Z.
    assert at(libraries, "tcc-metro-library", "2019-08-19T13:30Z")["occupancy"] == 9
    # Current Southeast, last line: "2026-08-22,12:30 PM,9,2,5,0,0,16" (ISO date, CDT): 17:30Z.
    assert at(libraries, "tcc-southeast-library", "2026-08-22T17:30Z")["occupancy"] == 16
    # Line 12263: "2025-11-18,12:30,...,57" has no AM/PM: noon (CST), 18:30Z.
    assert at(libraries, "tcc-southeast-library", "2025-11-18T18:30Z")["occupancy"] == 57
    assert libraries["interval_minutes"].eq(60).all()


def test_library_headcounts_keep_the_later_duplicate_and_trust_the_areas(libraries):
    # "2021-08-16,11:30 AM" twice in Current Southeast: 20, then the correction 19 (CDT: 16:30Z).
    assert at(libraries, "tcc-southeast-library", "2021-08-16T16:30Z")["occupancy"] == 19
    # SEC Archive "11/23/2020 ... 12:30 PM,2,0,0,0,0,0": the areas say 2, the Total 0 (CST: 18:30Z).
    assert at(libraries, "tcc-southeast-library", "2020-11-23T18:30Z")["occupancy"] == 2
    assert not libraries.duplicated(["site_id", "interval_start"]).any()


@pytest.fixture(scope="module")
def gates(shared_dir: Path) -> pd.DataFrame:
    return EXPORT_READERS["gate_counts_hourly"](shared_dir / DATA / "byui-mckay-library-hourly-gate-counts")


def test_gate_counts_one_counter_per_door_and_the_late_door_moved_back(gates):
    assert gates["site_id"].eq("mckay-library").all()
    assert gates["counter_id"].nunique() == 5 and len(gates) == 5 * 1483  # 1,483 hourly rows per door file
    # Level 1 East Side line 2: "2025-10-21 09:00,16,16" (MDT): 15:00Z.
    east = at(gates, "mckay-library", "2025-10-21T15:00Z", "west-wing-level-1-east-side")
    assert (east["entries"], east["exits"]) == (16, 16)
    # Level 3 Stairs line 2: "2025-10-21 11:00,67,40", two hours late: moved to 09:00 local, 15:00Z.
    stairs = at(gates, "mckay-library", "2025-10-21T15:00Z", "west-wing-level-3-stairs")
    assert (stairs["entries"], stairs["exits"]) == (67, 40)
    # Doors do not balance, the building nearly does (SOURCES.md: 283,197 in, 281,506 out).
    assert gates["entries"].sum() == 283_197 and gates["exits"].sum() == 281_506
    # The DST fall-back day has no repeated 01:00: it is read as its first pass (MDT, 07:00Z).
    assert len(gates[gates["interval_start"] == pd.Timestamp("2025-11-02T07:00Z")]) == 5


def test_hour_shift_finds_a_late_clock_and_leaves_noise_alone():
    day = pd.Series([0, 0, 5, 20, 40, 30, 10, 0] * 10, dtype=float)
    assert hour_shift(day.shift(2), day) == 2
    assert hour_shift(day, day) == 0


def test_counts_csv_round_trip(tmp_path: Path, gates):
    out = tmp_path / "counts.csv"
    assert write_counts_csv(gates, out) == len(gates)
    back = read_counts_csv(out)
    assert back["entries"].sum() == 283_197
    assert back["interval_start"].min() == pd.Timestamp("2025-10-21T15:00Z")
