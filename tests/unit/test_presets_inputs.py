"""Presets on bad input (every format) and on every time variant, over both Europe/Paris DST days."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from footfall.errors import ParseError
from footfall.normalize import parse_bodies

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "presets"
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<CountingStatisticsResult><matchList><matchElement><enterCount>&lol3;</enterCount></matchElement></matchList>
</CountingStatisticsResult>"""
HTML = b"<!DOCTYPE html><html><body><h1>Login</h1></body></html>"


def first_sample(name: str) -> bytes:
    return sorted(p for p in (FIXTURES / name).iterdir() if p.suffix in (".json", ".xml", ".csv"))[0].read_bytes()


def parse(name: str, body: bytes, **kw):
    return parse_bodies(name, [body], site_id="bad-site", timezone="Europe/Paris", **kw)


BAD = [
    ("xovis_count_push", b'{"content": {"element": [', "not JSON"),
    ("xovis_count_push", HTML, "not JSON (looks like an HTML page)"),
    ("xovis_count_push", b"", "empty body"),
    ("xovis_count_push", b'{"content": {"elements": []}}', "wrong shape: no 'element'"),
    ("sensource_vea", b'{"results": [{"recordDate_hour_1": "2026-11-20T09:00:00Z", "zoneId": "z", "sumins": 1}]}',
     "record 0: missing 'sumouts'"),
    ("sensource_vea", b'{"results": [{"recordDate_hour_1": "2026-11-20T09:00:00Z", "zoneId": "z", "sumins": "x",'
     b' "sumouts": 1}]}', "sumins: count 'x' is not a number"),
    ("hikvision_isapi", b"<CountingStatisticsResult><matchList>", "not XML"),
    ("hikvision_isapi", HTML, "not XML (looks like an HTML page)"),
    ("hikvision_isapi", BOMB, "XML refused (entity expansion"),
    ("hikvision_isapi", b"<Other><x/></Other>", "wrong shape: no 'matchList'"),
    ("hikvision_isapi", b"<R><matchList><matchElement><enterCount>1</enterCount><exitCount>1</exitCount>"
     b"</matchElement></matchList></R>", "record 0: missing 'timeSpan.startTime' or 'startTime'"),
    ("xovis_csv_export", b"from-time,to-time,Forward counter,Backward counter\n20/11/2026 - 10:00,x,1\n",
     "CSV line 2: 3 cells"),
    ("xovis_csv_export", b"from-time,to-time,Fwd,Bwd\n20/11/2026 - 10:00,20/11/2026 - 10:15,1,2\n",
     "missing 'Forward counter'"),
    ("xovis_csv_export", HTML, "not CSV (looks like an HTML page)"),
    ("eurecam_xml", b'<eurecam><data_group time="2026-11-20 10:00:00"><data_chan chan_id="1" type="Q">2</data_chan>'
     b"</data_group></eurecam>", "label 'Q' is not one of 'E', 'X'"),
]  # fmt: skip


@pytest.mark.parametrize(("preset", "body", "reason"), BAD, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(BAD)])
def test_bad_input_names_site_source_and_reason(preset, body, reason):
    with pytest.raises(ParseError) as info:
        parse(preset, body)
    err = info.value
    assert err.site_id == "bad-site" and err.source.endswith(f":{preset}")
    assert reason in err.reason, err.reason
    assert err.payload_ids == [1]


@pytest.mark.parametrize("preset", ["axis_tvpc_export_json", "hikvision_isapi", "xovis_csv_export"])
def test_body_over_the_size_limit_is_refused(preset, monkeypatch):
    from footfall.config import load_presets

    body = first_sample(preset)
    limited = load_presets()[preset].model_copy(update={"max_body_bytes": len(body) - 1})
    monkeypatch.setitem(load_presets(), preset, limited)
    with pytest.raises(ParseError, match="over the"):
        parse(preset, body)


def test_non_integer_counts_are_refused_naming_the_record():
    records = [{"timestamp": "20261120100000", "in": 1, "out": 2}, {"timestamp": "20261120101500", "in": 1.5, "out": 2}]
    body = json.dumps({"serial": "A", "data": records}).encode()
    with pytest.raises(ParseError, match=re.escape("record 1: entries 1.5 is not a whole number")):
        parse("axis_tvpc_export_json", body)


# --- time variants across the DST days ---------------------------------------------------------------


def hik(start: str) -> bytes:
    return (
        "<CountingStatisticsResult><matchList><matchElement><timeSpan>"
        f"<startTime>{start}</startTime></timeSpan><enterCount>1</enterCount><exitCount>0</exitCount>"
        "</matchElement></matchList></CountingStatisticsResult>"
    ).encode()


@pytest.mark.parametrize(
    ("sent", "defect", "utc"),
    [
        ("2026-03-29T03:00:00+02:00", False, "2026-03-29T01:00Z"),
        ("2026-10-25T02:00:00+01:00", False, "2026-10-25T01:00Z"),
        ("2026-10-25T02:00:00+02:00", False, "2026-10-25T00:00Z"),
        # the defect: the clock is UTC, the local offset merely appended
        ("2026-03-29T01:00:00+02:00", True, "2026-03-29T01:00Z"),
        ("2026-10-25T01:00:00+01:00", True, "2026-10-25T01:00Z"),
    ],
)
def test_hikvision_offsets_and_the_utc_clock_defect(sent, defect, utc):
    rows = parse("hikvision_isapi", hik(sent), options={"utc_clock_with_local_offset": defect})
    assert rows["interval_start"].tolist() == [pd.Timestamp(utc)]
    assert not rows["ambiguous_time"].any()


def brick(date: str, start: str, props: str, unix: str = "") -> bytes:
    u = f' UnixStartTime="{unix}"' if unix else ""
    return (
        f'<Metrics DeviceId="D"><Properties>{props}</Properties><ReportData Interval="15"><Report Date="{date}">'
        f'<Object Id="0"><Count StartTime="{start}"{u} Enters="1" Exits="0"/></Object></Report></ReportData></Metrics>'
    ).encode()


@pytest.mark.parametrize(
    ("body", "utc", "ambiguous"),
    [
        (brick("2026-10-25", "02:15:00", "<TimeZone>1</TimeZone><DST>1</DST>"), "2026-10-25T00:15Z", False),
        (brick("2026-10-25", "02:15:00", "<TimeZone>1</TimeZone><DST>0</DST>"), "2026-10-25T01:15Z", False),
        (brick("2026-10-25", "02:15:00", "", unix="1792887300"), "2026-10-25T00:15Z", False),
        (brick("2026-10-25", "02:15:00", ""), "2026-10-25T00:15Z", True),  # old schema: local, flagged
        (brick("2026-03-29", "03:15:00", "<TimeZone>1</TimeZone><DST>1</DST>"), "2026-03-29T01:15Z", False),
        (brick("2026-03-29", "03:15:00", ""), "2026-03-29T01:15Z", False),
    ],
)
def test_brickstream_time_variants(body, utc, ambiguous):
    rows = parse("brickstream_xml", body)
    assert rows["interval_start"].tolist() == [pd.Timestamp(utc)]
    assert rows["ambiguous_time"].tolist() == [ambiguous]


def test_brickstream_spring_gap_time_is_refused():
    with pytest.raises(ParseError, match="spring DST gap"):
        parse("brickstream_xml", brick("2026-03-29", "02:15:00", ""))


def test_epoch_ms_over_both_dst_days():
    readings = [(1774745700000, 1), (1774746000000, 4), (1792886400000, 10), (1792890000000, 15)]
    count = {"category": "COUNT"}
    frames = [
        {"time": t, "events": [{**count, "attributes": {"counter_id": 1, "counter_value": v}}]} for t, v in readings
    ]
    body = json.dumps({"live_data": {"sensor_info": {"serial_number": "S"}, "frames": frames}}).encode()
    rows = parse("xovis_live_push", body)
    # 00:55Z -> 01:00Z on the spring day (+3); the long gap's +6 lands at the earlier reading; then
    # 00:00Z -> 01:00Z on the autumn day (02:00 CEST, the first pass of the repeated hour): +5
    assert rows[["interval_start", "entries"]].values.tolist() == [
        [pd.Timestamp("2026-03-29T00:55Z"), 3],
        [pd.Timestamp("2026-03-29T01:00Z"), 6],
        [pd.Timestamp("2026-10-25T00:00Z"), 5],
    ]


# --- the CLI --------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "footfall.cli", *args], capture_output=True, text=True, check=False)


def test_cli_parse_prints_the_counts_csv():
    path = FIXTURES / "irisys_countlogs" / "1.json"
    done = run_cli("parse", "--preset", "irisys_countlogs", "--site-id", "pool", "--tz", "Europe/Paris", str(path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "site_id,counter_id,interval_start,interval_minutes,entries,exits,occupancy"
    assert lines[1:] == ["pool,irs0042-1,2026-10-25T00:55:00Z,5,3,0,", "pool,irs0042-1,2026-10-25T01:55:00Z,5,1,2,"]


def test_cli_parse_bad_input_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "page.xml"
    bad.write_bytes(BOMB)
    done = run_cli("parse", "--preset", "hikvision_isapi", str(bad))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "entity expansion" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_parse_refuses_what_would_not_load(tmp_path):
    """A negative count would not load: exit 2 naming the file, the record and the value, nothing printed."""
    body = tmp_path / "vea.json"
    body.write_text('{"results": [{"recordDate_hour_1": "2025-12-01T05:00:00Z", "sumins": -4, "sumouts": 1}]}')
    done = run_cli("parse", "--preset", "sensource_vea", str(body))
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(body) in done.stderr and "record 0: entries -4 is negative" in done.stderr


def test_cli_parse_with_a_site_file_uses_its_counter_ids_and_zone(tmp_path):
    site = tmp_path / "pool-a.yaml"
    site.write_text(
        "id: pool-a\nname: Pool A\ntimezone: Europe/Paris\n"
        "counters: [{id: front-gate, ref: 'IRS0042:1'}]\n"
        "source: {preset: irisys_countlogs}\n"
    )
    done = run_cli("parse", "--site", str(site), str(FIXTURES / "irisys_countlogs" / "1.json"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        "pool-a,front-gate,2026-10-25T00:55:00Z,5,3,0,",
        "pool-a,front-gate,2026-10-25T01:55:00Z,5,1,2,",
    ]
    done = run_cli("presets", "test", "--site", str(site), str(FIXTURES / "irisys_countlogs" / "1.json"))
    assert done.returncode == 0, done.stderr
    assert "zone Europe/Paris" in done.stdout and "IRS0042:1 -> front-gate" in done.stdout
    assert "totals      entries 4, exits 2" in done.stdout


def test_cli_parse_with_a_site_file_refuses_devices_it_does_not_have(tmp_path):
    site = tmp_path / "pool-b.yaml"
    site.write_text(
        "id: pool-b\nname: Pool B\ntimezone: Europe/Paris\n"
        "counters: [{id: a, ref: 'OTHER:1'}, {id: b, ref: 'OTHER:2'}]\nsource: {preset: irisys_countlogs}\n"
    )
    done = run_cli("parse", "--site", str(site), str(FIXTURES / "irisys_countlogs" / "1.json"))
    assert done.returncode == 2 and "is not a counter of this site" in done.stderr


def test_cli_presets_list_names_every_preset():
    from footfall.config import load_presets

    done = run_cli("presets", "list")
    assert done.returncode == 0
    listed = {line.split("\t")[0]: line.split("\t")[1] for line in done.stdout.splitlines()}
    assert listed == {name: p.kind.value for name, p in load_presets().items()}


# --- wrong data named by its place in the file (strictness where data is wrong) -----------------------

XOVIS_CSV_HEAD = b"from-time,to-time,Forward counter,Backward counter\n"


@pytest.mark.parametrize(
    ("count", "reason"),
    [(b"-3", "entries '-3' is negative"), (b"lots", "Forward counter: count 'lots' is not a number")],
)
def test_a_wrong_count_names_its_csv_line_counting_the_rows_left_out(count, reason):
    body = XOVIS_CSV_HEAD + (
        b"20/11/2026 - 10:00,20/11/2026 - 10:01,1,2\n"
        b"20/11/2026 - 10:01,20/11/2026 - 10:02,,\n"  # line 3: no counts, skipped
        b"20/11/2026 - 10:02,20/11/2026 - 10:03," + count + b",1\n"  # line 4
    )
    with pytest.raises(ParseError, match=re.escape(f"CSV line 4: {reason}")):
        parse("xovis_csv_export", body)


def test_a_repeated_record_with_other_counts_is_refused_naming_both_lines():
    """Two 1-minute records of one device for the same minute: summing them to 5 minutes would count
    one of them twice, and which is right the body cannot say."""
    body = XOVIS_CSV_HEAD + (
        b"20/11/2026 - 10:00,20/11/2026 - 10:01,1,2\n"
        b"20/11/2026 - 10:01,20/11/2026 - 10:02,4,0\n"
        b"20/11/2026 - 10:01,20/11/2026 - 10:02,5,0\n"
    )
    with pytest.raises(ParseError, match=re.escape("CSV line 3 and CSV line 4: device")) as err:
        parse("xovis_csv_export", body)
    assert "2026-11-20T09:01:00Z with different counts" in err.value.reason


def test_an_exact_repeat_is_counted_once_and_said():
    once = b"20/11/2026 - 10:00,20/11/2026 - 10:01,1,2\n20/11/2026 - 10:01,20/11/2026 - 10:02,4,0\n"
    again = b"20/11/2026 - 10:01,20/11/2026 - 10:02,4,0\n"
    rows = parse("xovis_csv_export", XOVIS_CSV_HEAD + once + again)
    assert rows[["entries", "exits"]].values.tolist() == [[5, 2]]  # 10:00-10:05 local, not 9 entries
    assert rows.attrs["rows_skipped"] == 1


def test_the_repeated_autumn_hour_is_not_a_repeat():
    """Local 02:30 twice on 2026-10-25 in Paris: two instants an hour apart, both kept."""
    records = [{"timestamp": "20261025023000", "in": 1, "out": 0}, {"timestamp": "20261025023000", "in": 2, "out": 0}]
    rows = parse("axis_tvpc_export_json", json.dumps({"serial": "A", "data": records}).encode())
    assert rows["entries"].tolist() == [1, 2]
    assert rows["interval_start"].dt.strftime("%H:%MZ").tolist() == ["00:30Z", "01:30Z"]


def test_a_time_that_cannot_be_read_names_its_csv_line():
    body = XOVIS_CSV_HEAD + (
        b"20/11/2026 - 10:00,20/11/2026 - 10:15,1,2\n"
        b"20/11/2026 - 10:15,20/11/2026 - 10:30,,\n"
        b"2026-11-20 10:30,20/11/2026 - 10:45,3,1\n"  # line 4: another format
    )
    with pytest.raises(ParseError, match=re.escape("CSV line 4: 'from-time' '2026-11-20 10:30' is not a time")):
        parse("xovis_csv_export", body)
