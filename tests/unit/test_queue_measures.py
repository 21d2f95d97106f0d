"""Queue measures from the real captured payloads (Xovis queue statistics, Irisys wait histograms) and from
our own variants: expected values are read from the files here with the json module, not from footfall."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footfall.normalize import Payload, adhoc_site
from footfall.normalize.queues import read_queue_measures

VARIANTS = Path(__file__).resolve().parents[1] / "fixtures" / "preset_variants"


def real(shared_dir: Path, name: str) -> bytes:
    return (shared_dir / "realworld" / "payloads" / name).read_bytes()


def measures(preset: str, body: bytes, zone: str = "UTC") -> pd.DataFrame:
    return read_queue_measures(adhoc_site(preset, "adhoc", zone, {}, []), [Payload(5, body)])


def test_xovis_queue_statistics_land_as_the_file_says(shared_dir):
    body = real(shared_dir, "xovis__v5-logics-data-queue-statistics-json__2.json")
    doc = json.loads(body)["logics_data"]
    logic = doc["logics"][0]
    record = logic["records"][0]
    by_name = {c["name"]: c["value"] for c in record["counts"]}
    rows = measures("xovis_logics_push", body, "Europe/Zurich")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["queue_ref"] == f"{doc['sensor_info']['serial_number']}:{logic['id']}"
    assert row["interval_start"] == pd.Timestamp(record["from"], unit="ms", tz="UTC")
    assert row["interval_minutes"] == (record["to"] - record["from"]) / 60_000
    assert row["queue_length"] == by_name["queue-length"]
    assert row["wait_seconds"] == pytest.approx(by_name["queueing-time"])  # "unit": "seconds"
    assert row["served"] == by_name["outflow"]
    assert row["payload_id"] == 5


def test_xovis_line_and_zone_counts_carry_no_queue_measures(shared_dir):
    body = real(shared_dir, "xovis__v5-logics-data-line-inout-zone-balance-1min-json__1.json")
    assert {lg["info"] for lg in json.loads(body)["logics_data"]["logics"]} == {
        "XLT_4X_ZONE_COUNT", "XLT_4X_LINE_IN_OUT_COUNT"
    }  # fmt: skip
    assert measures("xovis_logics_push", body).empty


def test_irisys_wait_histogram_lands_as_the_file_says(shared_dir):
    body = real(shared_dir, "irisys__vector4d-httppush-countlogs-histograms-json__4.json")
    doc = json.loads(body)
    (log,) = doc["HistogramLogs"]
    waits = [(h, v) for h in log["Histograms"] for v in h["Values"] if v["config"]["type"] == "total wait"]
    assert len(waits) == 1
    histogram, values = waits[0]
    rows = measures("irisys_vector_countlogs", body, "Asia/Riyadh")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["queue_ref"] == f"{doc['FriendlyDeviceSerial']}:{histogram['RegisterId']}"
    assert row["interval_start"] == pd.Timestamp(log["StartTimestamp"])
    assert row["interval_minutes"] == 1  # 06:56Z to 06:57Z
    assert row["served"] == sum(values["periodic_result"]) == 0  # nobody counted in the minute
    assert np.isnan(row["wait_seconds"]) and np.isnan(row["queue_length"])


def test_wait_histogram_mean_is_taken_at_the_bins_middles():
    body = (VARIANTS / "irisys_vector_countlogs" / "wait_histogram.json").read_bytes()
    rows = measures("irisys_vector_countlogs", body)
    assert len(rows) == 1  # the height histogram of the line is not a wait
    row = rows.iloc[0]
    # Bins of 50 s from 50 s: 2 people in [50, 100), 1 in [150, 200): (2 x 75 + 1 x 175) / 3.
    assert row["served"] == 3 and row["wait_seconds"] == pytest.approx((2 * 75 + 175) / 3)
    assert row["queue_ref"] == "V4D-00000001:2" and row["interval_minutes"] == 5


def test_labelled_queue_records_become_one_row_per_interval_and_leave_the_counts_alone():
    body = (VARIANTS / "xovis_logics_push" / "queue_statistics.json").read_bytes()
    rows = measures("xovis_logics_push", body)
    assert rows[["queue_length", "served", "wait_seconds"]].to_numpy().tolist() == [[6, 11, 95.5], [2, 9, 40.25]]
    assert set(rows["queue_ref"]) == {"80:1F:12:00:00:01:7"}
    assert (rows["interval_start"].diff().dropna() == pd.Timedelta(minutes=5)).all()


@pytest.mark.parametrize(("old", "new", "words"), [
    (b'"value": 95.5', b'"value": -3', "queueing-time -3 is not a non-negative number"),
    (b'"value": 11', b'"value": 1.5', "served 1.5 is not a whole number"),
    (b'"from": 1795169100000', b'"from": 1795169400000', "interval of 0 minutes"),
])  # fmt: skip
def test_bad_queue_measures_are_refused_naming_the_record(old, new, words):
    body = (VARIANTS / "xovis_logics_push" / "queue_statistics.json").read_bytes().replace(old, new, 1)
    with pytest.raises(ValueError, match=words):
        measures("xovis_logics_push", body)
