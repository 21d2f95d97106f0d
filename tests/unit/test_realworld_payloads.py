"""Every captured real payload of ../shared/realworld/payloads either loads through a preset to what a
reading of the file itself gives, or is refused with a reason naming what is not supported.

The expected values below were read from the files (their own timestamps, counts and intervals, summed
by hand or with the standard library), not from footfall's output; SOURCES.md says what each file is.
MIT-licensed files are also in tests/fixtures/real/ (NOTICE.md); the others are read from the shared
folder, whose absence fails the test in CI (tests/conftest.py `shared_dir`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from footfall.errors import SiteDataError
from footfall.normalize import check_payload

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"

CORPUS = {
    "axis__a3dpc-retail-data-push-people-counts-json__1.json",
    "brickstream__batch-data-streaming-v3-xml__1.xml",
    "brickstream__batch-data-streaming-v4-xml__2.xml",
    "dilax__pcu210-dlx3-raw-trip-record-binary__1.raw",
    "dilax__pcu210-record-converted-by-tool-csv__2.csv",
    "hikvision__isapi-alert-peoplecounting-realtime-childcounting-xml__3.xml",
    "hikvision__isapi-alert-peoplecounting-realtime-cumulative-xml__1.xml",
    "hikvision__isapi-alert-peoplecounting-signaltrigger-interval-xml__2.xml",
    "irisys__vector-httppost-countlogs-json__1.json",
    "irisys__vector4d-httppush-countlogs-15min-json__2.json",
    "irisys__vector4d-httppush-countlogs-histograms-json__4.json",
    "irisys__vector4d-httppush-server-log-with-headers__3.txt",
    "libinsight__gate-count-import-hourly-csv__1.csv",
    "sensource__vea-api-traffic-hourly-by-zone-script-envelope-json__2.json",
    "sensource__vea-api-traffic-hourly-total-json__1.json",
    "sensource__vea-api-zone-list-json__3.json",
    "sensource__vea-portal-data-grid-daily-export-csv__4.csv",
    "xovis__pc2s-legacy-line-count-push-json__6.json",
    "xovis__v5-live-data-count-increment-event-json__5.json",
    "xovis__v5-live-data-frames-tracks-events-json__4.json",
    "xovis__v5-logics-data-line-inout-zone-balance-1min-json__1.json",
    "xovis__v5-logics-data-queue-statistics-json__2.json",
    "xovis__v5-logics-data-zone-occupancy-dwell-json__3.json",
}


def _z(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# file -> (preset, zone, expected). Expected: readings read, rows skipped, native resolutions (minutes)
# as the file says them, stored intervals, first/last stored start (UTC; under 5 minutes they are summed
# to 5-minute intervals), totals; for running totals also the last totals of the single reading.
LOADS = {
    # utcFrom 08:14Z, utcTo 08:15Z: one minute; in 1, out 2.
    "axis__a3dpc-retail-data-push-people-counts-json__1.json": (
        "axis_data_push", "UTC",
        dict(readings=1, resolutions=[1], intervals=1, first="2025-05-22T08:10Z", entries=1, exits=2),
    ),
    # Interval="1"; UnixStartTime 1750002720 = 15:52Z (17:52 local, Timezone 1 + DST 1); 0 in, 0 out.
    "brickstream__batch-data-streaming-v3-xml__1.xml": (
        "brickstream_xml", "Europe/Zurich",
        dict(readings=1, resolutions=[1], intervals=1, first="2025-06-15T15:50Z", entries=0, exits=0),
    ),
    # UnixStartTime 1750002360 = 15:46Z.
    "brickstream__batch-data-streaming-v4-xml__2.xml": (
        "brickstream_xml", "Europe/Zurich",
        dict(readings=1, resolutions=[1], intervals=1, first="2025-06-15T15:45Z", entries=0, exits=0),
    ),
    # realTime: running totals enter 252, exit 261 at 16:36:15+08:00; one reading makes no interval yet.
    "hikvision__isapi-alert-peoplecounting-realtime-cumulative-xml__1.xml": (
        "hikvision_alert_realtime", "Asia/Shanghai",
        dict(readings=1, intervals=0, totals={"entries": 252, "exits": 261}),
    ),
    # realTime 70/75 at 12:07:07+08:00; the separate <childCounting> (0/0) is not counted.
    "hikvision__isapi-alert-peoplecounting-realtime-childcounting-xml__3.xml": (
        "hikvision_alert_realtime", "America/Bogota",
        dict(readings=1, intervals=0, totals={"entries": 70, "exits": 75}),
    ),
    # TimeRange 12:25-12:30+08:00 = 04:25-04:30Z, five minutes; enter 1, exit 0.
    "hikvision__isapi-alert-peoplecounting-signaltrigger-interval-xml__2.xml": (
        "hikvision_alert_interval", "Asia/Shanghai",
        dict(readings=1, resolutions=[5], intervals=1, first="2021-06-26T04:25Z", entries=1, exits=0),
    ),
    # One log of five register totals (121+127+156+382+125 = 911) at 14:21Z: no interval from one reading.
    "irisys__vector-httppost-countlogs-json__1.json": (
        "irisys_vector_totals", "Europe/London",
        dict(readings=5, intervals=0, totals={"entries": 911}),
    ),
    # 50 logs 09:00Z..21:15Z every 15 minutes, 2 registers: Line 1 62 -> 81 (19), Line 2 58 -> 80 (22);
    # the per-period LogPeriodValue of logs 2..50 sums to the same 19 and 22. 49 intervals per register.
    "irisys__vector4d-httppush-countlogs-15min-json__2.json": (
        "irisys_vector_totals", "Asia/Riyadh",
        dict(readings=100, resolutions=[15], intervals=98, first="2020-07-26T09:00Z", last="2020-07-26T21:00Z",
             entries=41),
    ),
    # StartTimestamp 06:56Z to Timestamp 06:57Z, three registers (two lines, one zone), all LogPeriodValue 0.
    "irisys__vector4d-httppush-countlogs-histograms-json__4.json": (
        "irisys_vector_countlogs", "Asia/Riyadh",
        dict(readings=3, resolutions=[1], intervals=3, first="2020-08-06T06:55Z", entries=0),
    ),
    # 1,483 hourly rows 2025-10-21 09:00 MDT (15:00Z) to 2025-12-22 14:00 MST (21:00Z); gate_start sums to 88,755.
    "libinsight__gate-count-import-hourly-csv__1.csv": (
        "libinsight_gate_count_csv", "America/Denver",
        dict(readings=1483, resolutions=[60], intervals=1483, first="2025-10-21T15:00Z", last="2025-12-22T21:00Z",
             entries=88755),
    ),
    # raw_data.results inside the script's envelope: 24 h x 5 zones, 2025-12-01 00:00Z..23:00Z; 5,172 in, 4,631 out.
    "sensource__vea-api-traffic-hourly-by-zone-script-envelope-json__2.json": (
        "sensource_vea", "America/Denver",
        dict(readings=120, resolutions=[60], intervals=120, first="2025-12-01T00:00Z", last="2025-12-01T23:00Z",
             entries=5172, exits=4631, counters=5),
    ),
    # BOM; 168 hourly results 2025-12-01T05:00Z..12-08T04:00Z; 36,577 in, 36,283 out.
    "sensource__vea-api-traffic-hourly-total-json__1.json": (
        "sensource_vea", "America/Denver",
        dict(readings=168, resolutions=[60], intervals=168, first="2025-12-01T05:00Z", last="2025-12-08T04:00Z",
             entries=36577, exits=36283),
    ),
    # BOM, quoted; 30 daily rows 2025-11-01 (06:00Z, MDT) .. 11-30 (07:00Z, MST), then 5 all-empty rows.
    "sensource__vea-portal-data-grid-daily-export-csv__4.csv": (
        "sensource_portal_csv", "America/Denver",
        dict(readings=30, skipped=5, resolutions=[1440], intervals=30, first="2025-11-01T06:00Z",
             last="2025-11-30T07:00Z", entries=39311, exits=33169),
    ),
    # Line 0: 10:20-10:21+02:00 (one minute, resolution ONE_MINUTE), fw 1, bw 0.
    "xovis__pc2s-legacy-line-count-push-json__6.json": (
        "xovis_count_push", "Europe/Zurich",
        dict(readings=1, resolutions=[1], intervals=1, first="2021-09-23T08:20Z", entries=1, exits=0),
    ),
    # One COUNT_INCREMENT, counter 6 at a running total of 1471: no interval from one reading.
    "xovis__v5-live-data-count-increment-event-json__5.json": (
        "xovis_live_push", "Europe/Zurich",
        dict(readings=1, intervals=0, totals={"entries": 1471}),
    ),
    # COUNT events: counter 3 (bw) 926 at 15:16:46.484Z then 927 at 15:18:13Z, counter 2 (fw) 935 once;
    # counter 1 is Zone 0's balance (it goes down: COUNT_DECREMENT), an occupancy, so not a crossing total.
    "xovis__v5-live-data-frames-tracks-events-json__4.json": (
        "xovis_live_push", "Europe/Zurich",
        dict(readings=3, intervals=1, first="2022-03-04T15:15Z", entries=1),
    ),
    # One XLT_QUEUE_STATISTICS logic, no line or zone count: no count at all (its queue measures: below).
    "xovis__v5-logics-data-queue-statistics-json__2.json": (
        "xovis_logics_push", "Europe/Zurich", dict(readings=0, intervals=0),
    ),
    # Four 1-minute records 12:41-12:45Z: Line 0 fw 1+0+0+0, bw 0; Zone 0 balance 0 throughout.
    "xovis__v5-logics-data-line-inout-zone-balance-1min-json__1.json": (
        "xovis_logics_push", "Europe/Zurich",
        dict(readings=8, resolutions=[1], intervals=2, first="2022-02-25T12:40Z", entries=1, exits=0, occupancy=0,
             counters=2),
    ),
}  # fmt: skip

# file -> (preset tried, words the refusal must contain): what footfall does not read, by name.
REFUSED = {
    "dilax__pcu210-dlx3-raw-trip-record-binary__1.raw": ("sensource_portal_csv", "binary body"),
    # Per-stop trip records of a train (arrival/departure, 20 doors): no preset reads rail APC stops.
    "dilax__pcu210-record-converted-by-tool-csv__2.csv": ("sensource_portal_csv", "missing 'Record Date'"),
    "irisys__vector4d-httppush-server-log-with-headers__3.txt": ("irisys_vector_countlogs", "not JSON"),
    # A zone list (configuration), not counts.
    "sensource__vea-api-zone-list-json__3.json": ("sensource_vea", "missing 'recordDate_hour_1'"),
    # Dwell: measures footfall does not store, refused by label.
    "xovis__v5-logics-data-zone-occupancy-dwell-json__3.json": ("xovis_logics_push", "label 'visits'"),
}


def payload(shared_dir: Path, name: str) -> bytes:
    copied = REAL / name
    return (copied if copied.exists() else shared_dir / "realworld" / "payloads" / name).read_bytes()


def test_the_corpus_is_all_here_and_every_file_has_an_answer(shared_dir):
    present = {p.name for p in (shared_dir / "realworld" / "payloads").iterdir()}
    assert present == CORPUS
    assert set(LOADS) | set(REFUSED) == CORPUS and not set(LOADS) & set(REFUSED)


def test_copied_files_are_the_shared_ones_byte_for_byte(shared_dir):
    copied = sorted(p for p in REAL.iterdir() if p.name != "NOTICE.md")
    assert len(copied) == 10
    for path in copied:
        assert path.read_bytes() == (shared_dir / "realworld" / "payloads" / path.name).read_bytes(), path.name


@pytest.mark.parametrize("name", sorted(LOADS))
def test_real_payload_loads_to_what_the_file_says(shared_dir, name):
    preset, zone, want = LOADS[name]
    checked = check_payload(preset, payload(shared_dir, name), timezone=zone)
    rows = checked.rows
    assert checked.readings == want["readings"]
    assert checked.rows_skipped == want.get("skipped", 0)
    if "resolutions" in want:
        assert checked.resolutions == want["resolutions"]
    assert len(rows) == want["intervals"]
    if "first" in want:
        assert rows["interval_start"].min() == _z(want["first"])
        assert rows["interval_start"].max() == _z(want.get("last", want["first"]))
    for measure in ("entries", "exits"):
        if measure in want:
            assert rows[measure].sum() == want[measure], measure
    if "occupancy" in want:
        assert rows["occupancy"].max() == want["occupancy"]
    if "totals" in want:
        assert checked.reading_totals == {m: float(v) for m, v in want["totals"].items()}
    if "counters" in want:
        assert rows["counter_id"].nunique() == want["counters"]
    assert (rows["interval_minutes"] >= 5).all()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_real_payload_is_refused_naming_what_is_unsupported(shared_dir, name):
    preset, words = REFUSED[name]
    with pytest.raises(SiteDataError) as info:
        check_payload(preset, payload(shared_dir, name))
    assert words in info.value.reason, info.value.reason
    assert info.value.payload_ids == [1]


def test_brickstream_without_epoch_is_placed_by_its_timezone_tag_as_the_device_spells_it(shared_dir):
    """v3 firmware writes <Timezone> (the docs say TimeZone): 17:52 local with Timezone 1 and DST 1 is 15:52Z."""
    body = payload(shared_dir, "brickstream__batch-data-streaming-v3-xml__1.xml").replace(
        b' UnixStartTime="1750002720"', b""
    )
    rows = check_payload("brickstream_xml", body, timezone="UTC").rows
    assert rows["interval_start"].tolist() == [_z("2025-06-15T15:50Z")]


def test_hikvision_realtime_preset_refuses_an_interval_alert(shared_dir):
    body = payload(shared_dir, "hikvision__isapi-alert-peoplecounting-signaltrigger-interval-xml__2.xml")
    with pytest.raises(SiteDataError, match=r"missing 'RealTime\.time'"):
        check_payload("hikvision_alert_realtime", body)
