"""Normalize: Axis export bodies to count_interval rows in UTC, across both 2026 DST changes in Paris."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from footfall.errors import ParseError
from footfall.normalize import COLUMNS, Payload, normalize_counts, parse_duration_minutes

SOURCE = "http_json:axis_tvpc_export_json"
TWO_COUNTERS = [
    {"id": "main-door", "ref": "R1"},
    {"id": "back-door", "ref": "R2", "direction": "swapped"},
]


def utc(*args: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*args, tzinfo=UTC))


def stamps(day: str, hours: range, minutes: tuple[int, ...] = (0, 15, 30, 45)) -> list[str]:
    return [f"{day}{h:02d}{m:02d}00" for h in hours for m in minutes]


@pytest.fixture
def site(make_site):
    return make_site(counters=TWO_COUNTERS)


def test_axis_body_to_rows(site, axis_body):
    payloads = [
        Payload(11, axis_body("R1", [("20261120100000", 4, 1), ("20261120101500", 6, 2)])),
        Payload(12, axis_body("R2", [("20261120100000", 5, 7)])),
    ]
    rows = normalize_counts(site, payloads)

    assert list(rows.columns) == [*COLUMNS, "ambiguous_time"]
    assert str(rows["interval_start"].dtype) == "datetime64[us, UTC]"
    assert rows["interval_minutes"].tolist() == [15, 15, 15]
    records = rows.drop(columns=["occupancy"]).to_dict("records")
    assert records == [
        # sorted by counter id; 10:00 in Paris in November is 09:00 UTC
        {
            "site_id": "test-site",
            "counter_id": "back-door",
            "interval_start": utc(2026, 11, 20, 9, 0),
            "interval_minutes": 15,
            "entries": 7,  # swapped: the device's "out" is our entries
            "exits": 5,
            "payload_id": 12,
            "ambiguous_time": False,
        },
        {
            "site_id": "test-site",
            "counter_id": "main-door",
            "interval_start": utc(2026, 11, 20, 9, 0),
            "interval_minutes": 15,
            "entries": 4,
            "exits": 1,
            "payload_id": 11,
            "ambiguous_time": False,
        },
        {
            "site_id": "test-site",
            "counter_id": "main-door",
            "interval_start": utc(2026, 11, 20, 9, 15),
            "interval_minutes": 15,
            "entries": 6,
            "exits": 2,
            "payload_id": 11,
            "ambiguous_time": False,
        },
    ]
    assert rows["occupancy"].isna().all()
    assert str(rows["entries"].dtype) == "Int64"


def test_summer_time_offset(site, axis_body):
    rows = normalize_counts(site, [Payload(1, axis_body("R1", [("20260701100000", 1, 1)]))])
    assert rows["interval_start"].tolist() == [utc(2026, 7, 1, 8, 0)]  # CEST is UTC+2


@pytest.mark.parametrize("ref", ["R1", "R2"], ids=["normal", "swapped"])
def test_missing_counts_stay_missing(site, axis_body, ref):
    rows = normalize_counts(
        site, [Payload(1, axis_body(ref, [("20261120100000", None, 3), ("20261120101500", 2, "")]))]
    )
    there, missing = ("entries", "exits") if ref == "R2" else ("exits", "entries")
    assert rows[missing].isna().tolist() == [True, False]
    assert rows[there].tolist()[0] == 3
    assert rows[there].isna().tolist() == [False, True]
    assert str(rows["entries"].dtype) == str(rows["exits"].dtype) == "Int64"


def test_numeric_text_counts_are_read(site, axis_body):
    rows = normalize_counts(site, [Payload(1, axis_body("R1", [("20261120100000", "12", " 3 ")]))])
    assert (rows["entries"].tolist(), rows["exits"].tolist()) == ([12], [3])
    assert str(rows["entries"].dtype) == "Int64"


def test_later_payload_wins_a_repeated_interval(site, axis_body):
    first = Payload(1, axis_body("R1", [("20261120100000", 1, 1), ("20261120101500", 2, 2)]))
    resend = Payload(2, axis_body("R1", [("20261120101500", 9, 9)]))
    rows = normalize_counts(site, [first, resend])
    assert rows[["entries", "payload_id"]].values.tolist() == [[1, 1], [9, 2]]


def test_empty_export_gives_no_rows(site, axis_body):
    rows = normalize_counts(site, [Payload(1, axis_body("R1", []))])
    assert rows.empty
    assert list(rows.columns) == [*COLUMNS, "ambiguous_time"]


# --- DST: 2026-03-29 (spring forward) and 2026-10-25 (fall back), Europe/Paris ---------------------


def test_spring_gap_time_is_a_parse_error(site, axis_body):
    body = axis_body("R1", [("20260329014500", 1, 1), ("20260329021500", 3, 4)])
    with pytest.raises(ParseError) as info:
        normalize_counts(site, [Payload(7, body)])
    err = info.value
    assert err.stage == "normalize"
    assert err.payload_ids == [7]
    assert "spring DST gap" in err.reason
    assert "Europe/Paris" in err.reason
    assert "2026-03-29 02:15" in err.reason
    assert str(err).startswith(f"site test-site, source {SOURCE}: normalize failed:")


def test_spring_day_without_the_missing_hour(site, axis_body):
    day = stamps("20260329", range(24))
    day = [s for s in day if s[8:10] != "02"]  # what a device on the wall clock lists: 23 hours
    rows = normalize_counts(site, [Payload(1, axis_body("R1", [(s, 1, 0) for s in day]))])
    starts = rows["interval_start"]
    assert len(starts) == starts.nunique() == 92
    assert starts.iloc[0] == utc(2026, 3, 28, 23, 0)  # local midnight, CET
    assert starts.iloc[-1] == utc(2026, 3, 29, 21, 45)  # 23:45 CEST
    assert (starts.diff().dropna() == pd.Timedelta(minutes=15)).all()  # 01:45 CET -> 03:00 CEST is 15 minutes
    assert not rows["ambiguous_time"].any()


def test_autumn_repeated_hour_listed_twice(site, axis_body):
    listed = []
    for h in range(24):
        for occurrence in (1, 2) if h == 2 else (1,):
            listed += [(s, occurrence, h) for s in stamps("20261025", range(h, h + 1))]
    rows = normalize_counts(site, [Payload(1, axis_body("R1", listed))])

    starts = rows["interval_start"]
    assert len(rows) == starts.nunique() == 100  # a 25-hour day of 15-minute intervals
    assert starts.iloc[0] == utc(2026, 10, 24, 22, 0)
    assert starts.iloc[-1] == utc(2026, 10, 25, 22, 45)
    assert (starts.diff().dropna() == pd.Timedelta(minutes=15)).all()
    by_start = rows.set_index("interval_start")["entries"]
    # 02:00 local the first time is summer time (UTC+2), the second time winter time (UTC+1).
    assert by_start[utc(2026, 10, 25, 0, 0)] == 1
    assert by_start[utc(2026, 10, 25, 0, 45)] == 1
    assert by_start[utc(2026, 10, 25, 1, 0)] == 2
    assert by_start[utc(2026, 10, 25, 1, 45)] == 2
    assert not rows["ambiguous_time"].any()


def test_autumn_single_occurrence_is_flagged_ambiguous(site, axis_body):
    once = axis_body("R2", [("20261025014500", 1, 1), ("20261025021500", 2, 2), ("20261025030000", 3, 3)])
    twice = axis_body("R1", [("20261025021500", 5, 5), ("20261025021500", 6, 6)])
    rows = normalize_counts(site, [Payload(1, once), Payload(2, twice)])

    flagged = rows[rows["ambiguous_time"]]
    assert flagged["counter_id"].tolist() == ["back-door"]
    assert flagged["interval_start"].tolist() == [utc(2026, 10, 25, 0, 15)]  # taken as the first (summer) 02:15
    main = rows[rows["counter_id"] == "main-door"].set_index("interval_start")["entries"]
    assert main.to_dict() == {utc(2026, 10, 25, 0, 15): 5, utc(2026, 10, 25, 1, 15): 6}
    back = rows[rows["counter_id"] == "back-door"]["interval_start"].tolist()
    assert back == [utc(2026, 10, 24, 23, 45), utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 2, 0)]


# --- resolution -------------------------------------------------------------------------------------


def test_finer_than_five_minutes_is_summed_to_five(make_site, axis_body):
    site = make_site(
        counters=[{"id": "gate", "ref": "R1"}],
        source={
            "kind": "http_json",
            "preset": "axis_tvpc_export_json",
            "connection_id": "footfall_sim",
            "options": {"res": "1m"},
        },
    )
    minutes = [(f"2026112010{m:02d}00", m, 1) for m in range(0, 12)]  # 10:00 .. 10:11 local
    minutes += [("20261120101500", None, None), ("20261120101600", None, 2)]
    rows = normalize_counts(site, [Payload(3, axis_body("R1", minutes, res="1m"))])

    assert rows["interval_start"].tolist() == [
        utc(2026, 11, 20, 9, 0),
        utc(2026, 11, 20, 9, 5),
        utc(2026, 11, 20, 9, 10),
        utc(2026, 11, 20, 9, 15),
    ]
    assert rows["interval_minutes"].tolist() == [5, 5, 5, 5]
    assert rows["entries"].tolist()[:3] == [0 + 1 + 2 + 3 + 4, 5 + 6 + 7 + 8 + 9, 10 + 11]
    assert rows["exits"].tolist() == [5, 5, 2, 2]
    assert pd.isna(rows["entries"].iloc[3])  # no minute had a value: missing, not zero
    assert rows["payload_id"].tolist() == [3, 3, 3, 3]


@pytest.mark.parametrize(("text", "minutes"), [("15m", 15), ("1h", 60), ("24h", 1440), ("300s", 5), ("5", 5)])
def test_parse_duration(text, minutes):
    assert parse_duration_minutes(text) == minutes


def test_parse_duration_rejects_garbage():
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration_minutes("a while")


# --- shape errors -----------------------------------------------------------------------------------

GOOD_RECORD = {"timestamp": "20261120100000", "in": 1, "out": 2}


def doc(**changes) -> bytes:
    return json.dumps({"serial": "R1", "data": [GOOD_RECORD], **changes}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"serial": "R1", "data": [', "not JSON: Expecting value"),
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "not JSON (looks like an HTML page)"),
        (b"", "empty body"),
        ("données".encode("latin-1"), "not UTF-8"),
        (json.dumps({"status": "ok", "result": [{"data": []}]}).encode(), "wrong shape: no 'data'"),
        (doc(data={"timestamp": "20261120100000"}), "wrong shape: data is a dict, not a list"),
        (doc(data=[["20261120100000", 1, 2]]), "wrong shape: record 0 is a list, not an object"),
        (json.dumps({"data": [GOOD_RECORD]}).encode(), "wrong shape: no 'serial' (the device id)"),
        (doc(data=[GOOD_RECORD, {"timestamp": "20261120101500", "in": 1}]), "record 1: missing 'out'"),
        (doc(data=[{"in": 1, "out": 2}]), "record 0: missing 'timestamp'"),
        (doc(data=[{**GOOD_RECORD, "in": True}]), "record 0: in: count True is a boolean"),
        (doc(data=[{**GOOD_RECORD, "out": "lots"}]), "record 0: out: count 'lots' is not a number"),
        (doc(data=[{**GOOD_RECORD, "in": {"n": 1}}]), "is not a number"),
        (doc(serial="ACCC8E999999"), "device ACCC8E999999 is not a counter of this site"),
        (doc(data=[{**GOOD_RECORD, "timestamp": "2026-11-20T10:00"}]), "2026-11-20T10:00"),
    ],
    ids=[
        "truncated",
        "html-200",
        "empty",
        "not-utf8",
        "wrong-shape",
        "data-not-list",
        "record-not-object",
        "no-serial",
        "missing-field",
        "missing-time",
        "boolean-count",
        "text-count",
        "object-count",
        "unknown-serial",
        "bad-time-format",
    ],
)
def test_shape_errors_name_site_source_and_reason(site, body, reason):
    with pytest.raises(ParseError) as info:
        normalize_counts(site, [Payload(1, doc()), Payload(42, body)])
    err = info.value
    assert err.site_id == "test-site"
    assert err.source == SOURCE
    assert err.payload_ids == [42]  # the body at fault, kept for inspection
    assert reason in err.reason, err.reason
    assert str(err).startswith(f"site test-site, source {SOURCE}: normalize failed: ")
    assert str(err).endswith("(raw payload 42 kept)")


def test_payload_order_does_not_matter(site, axis_body):
    """Two payloads for different devices give the same rows in either order."""
    a = Payload(1, axis_body("R1", [("20261120100000", 1, 2)]))
    b = Payload(2, axis_body("R2", [("20261120100000", 3, 4)]))
    pd.testing.assert_frame_equal(normalize_counts(site, [a, b]), normalize_counts(site, [b, a]))
