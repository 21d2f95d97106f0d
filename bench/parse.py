"""Parse throughput per preset on large payloads, beside bare decoding of the same bytes (the floor).

For every preset: rows/s of `normalize_counts(site, payloads)` -- what a pipeline run, a push window and a
replay call: every landed body of the window at once (decode + map + time + semantics + typed frame) --
on generated bodies shaped like its fixture, and of bare `json.loads`, defusedxml `fromstring` or
`csv.reader` on each of the same bodies, measured in the same run, in turns, as CPU time of the process
(other processes on the shared machine do not count); ratio = floor time / parse time (target >= 0.5).
The site (one counter per device id the bodies carry, as `parse_bodies` makes up) and the Payload
objects are built before timing, as the pipeline has them from the registry and the database; the
output is checked equal to `parse_bodies` once. Presets with a body size limit get several bodies under
it; one-record presets (a live reading, a "now" snapshot) get one body per reading, --small-rows bodies
in one call (a day of 5-minute polls is 288). Peak memory: tracemalloc per preset, and the process's
peak RSS.
Last line: RESULT min_ratio=... <preset>_ratio=... ... peak_rss_mb=...
Usage: .venv/bin/python bench/parse.py [--rows N] [--small-rows N] [--repeat N] [--only name,name]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from defusedxml.ElementTree import fromstring

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb

from footfall.config import load_presets
from footfall.normalize import Payload, normalize_counts, parse_bodies, site_of_bodies

START = datetime(2026, 1, 1, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 20, 9, 7, 31, tzinfo=UTC)


def t(i: int, minutes: int = 15) -> datetime:
    return START + timedelta(minutes=minutes * i)


def chunks(n: int, size: int) -> list[range]:
    return [range(a, min(n, a + size)) for a in range(0, n, size)]


def js(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# --- generators: n output rows, shaped like the preset's fixture ----------------------------------


def axis_3d_export_csv(n):
    lines = ["start,end,in,out"] + [f"{t(i):%Y-%m-%d %H:%M:%S},{t(i + 1):%Y-%m-%d %H:%M:%S},{i % 50},{i % 40}"
                                    for i in range(n)]  # fmt: skip
    return [("\n".join(lines) + "\n").encode()]


def axis_3d_export_json(n):
    data = [{"start": f"{t(i):%Y-%m-%d %H:%M:%S}", "end": f"{t(i + 1):%Y-%m-%d %H:%M:%S}", "in": i % 50, "out": i % 40}
            for i in range(n)]  # fmt: skip
    return [js({"data": data})]


def axis_data_push(n):
    bodies = []
    for part in chunks(n, 10_000):
        ms = []
        for i in part:
            u0, u1 = f"{t(i):%Y-%m-%dT%H:%M:%SZ}", f"{t(i + 1):%Y-%m-%dT%H:%M:%SZ}"
            ms.append({"kind": "people-counts", "utcFrom": u0, "utcTo": u1, "items": [
                {"direction": "in", "count": i % 50, "classification": "human"},
                {"direction": "out", "count": i % 40, "classification": "human"}]})  # fmt: skip
            if i % 10 == 0:
                ms.append(
                    {"kind": "dwell-time", "utcFrom": u0, "utcTo": u1, "items": [{"direction": "in", "count": 99}]}
                )
        bodies.append(js({"apiName": "retail-data", "data": {"measurements": ms}}))
    return bodies


def axis_occupancy_export(n):
    data = {f"{t(i):%Y%m%d%H%M%S}": [i % 30, 340, i % 50, i % 40] for i in range(n)}
    return [js({"counter": {"name": "Room", "serial": "ACCC8E000201", "delta": 900}, "data": data})]


def axis_tvpc_export_csv(n):
    lines = ["Interval start,In,Out"] + [f"{t(i):%Y-%m-%d %H:%M},{i % 50},{i % 40}" for i in range(n)]
    return [("\n".join(lines) + "\n").encode()]


def axis_tvpc_export_json(n):
    data = [{"timestamp": f"{t(i):%Y%m%d%H%M%S}", "in": i % 50, "out": i % 40} for i in range(n)]
    return [js({"serial": "A1", "name": "Main", "data": data})]


def axis_tvpc_export_xml(n):
    items = "".join(f'<item timestamp="{t(i):%Y%m%d%H%M%S}" in="{i % 50}" out="{i % 40}"/>' for i in range(n))
    return [f'<?xml version="1.0"?><tvpc serial="A2" name="Side"><data>{items}</data></tvpc>'.encode()]


def axis_tvpc_live(n):  # one reading per body, 5-minute cumulative totals
    return [js({"serial": "A3", "name": "Main", "timestamp": f"{t(i, 5):%Y%m%d%H%M%S}", "in": 3 * i, "out": 2 * i})
            for i in range(n + 1)]  # fmt: skip


def brickstream_xml(n):
    bodies = []
    for part in chunks(n, 20_000):
        days: dict[str, list[str]] = {}
        for i in part:
            s = t(i)
            days.setdefault(f"{s:%Y-%m-%d}", []).append(
                f'<Count StartTime="{s:%H:%M:%S}" EndTime="{t(i + 1):%H:%M:%S}" UnixStartTime="{int(s.timestamp())}"'
                f' Enters="{i % 50}" Exits="{i % 40}" Status="0"/>'
            )
        reports = "".join(f'<Report Date="{d}"><Object Id="0" Name="Door">{"".join(c)}</Object></Report>'
                          for d, c in days.items())  # fmt: skip
        bodies.append(
            f'<?xml version="1.0"?><Metrics SiteId="bib" DeviceId="BS1"><Properties><TimeZone>0</TimeZone>'
            f'<DST>0</DST></Properties><ReportData Interval="15">{reports}</ReportData></Metrics>'.encode()
        )
    return bodies


def density_counts(n):
    res = []
    for i in range(n):
        a, b = f"{t(i, 5):%Y-%m-%dT%H:%M:%S}+00:00", f"{t(i + 1, 5):%Y-%m-%dT%H:%M:%S}+00:00"
        res.append({"timestamp": a, "interval": {"start": a, "end": b, "analytics": {
            "max": i % 20, "min": 0, "entrances": i % 50, "exits": i % 40, "events": 1}}})  # fmt: skip
    return [js({"results": res, "next": None})]


def eurecam_xml(n):  # two channels per group, one group every 5 minutes
    groups = "".join(
        f'<data_group time="{t(i, 5):%Y-%m-%d %H:%M:%S}">'
        + "".join(
            f'<data_chan chan_id="{c}" type="E">{i % 50}</data_chan><data_chan chan_id="{c}" type="X">{i % 40}'
            f"</data_chan>"
            for c in (1, 2)
        )
        + "</data_group>"
        for i in range(n // 2)
    )
    return [f'<?xml version="1.0"?><eurecam version="3"><header resolution="300"/>{groups}</eurecam>'.encode()]


def footfall_connector(n):
    def row(i):
        start = f"{t(i):%Y-%m-%dT%H:%M:%S}+00:00"
        return {
            "counter_ref": "GATE1",
            "interval_start": start,
            "interval_minutes": 15,
            "entries": i % 50,
            "exits": i % 40,
        }

    return [js({"batch_id": f"b-{k}", "rows": [row(i) for i in part]}) for k, part in enumerate(chunks(n, 30_000))]


def hikvision_isapi(n):
    items = "".join(
        f"<matchElement><timeSpan><startTime>{t(i, 60):%Y-%m-%dT%H:%M:%S}+00:00</startTime><endTime>"
        f"{t(i + 1, 60):%Y-%m-%dT%H:%M:%S}+00:00</endTime></timeSpan><enterCount>{i % 50}</enterCount>"
        f"<exitCount>{i % 40}</exitCount></matchElement>"
        for i in range(n)
    )
    return [(f'<?xml version="1.0"?><CountingStatisticsResult xmlns="http://www.hikvision.com/ver20/XMLSchema">'
             f"<matchList>{items}</matchList></CountingStatisticsResult>").encode()]  # fmt: skip


def irisys_countlogs(n):
    return [js({"SerialNumber": "IRS0042", "CountLogs": [
        {"StartTime": f"{t(i, 5):%Y-%m-%dT%H:%M:%S}+00:00", "EndTime": f"{t(i + 1, 5):%Y-%m-%dT%H:%M:%S}+00:00",
         "Counts": [{"RegisterId": 1, "Name": "In/Out", "In": i % 50, "Out": i % 40}]} for i in part]})
        for part in chunks(n, 5_000)]  # fmt: skip


def occuspace_now(n):  # one snapshot per body, one space each
    return [js({"data": {"id": i, "name": f"Space {i}", "count": i % 90, "percentage": 0.3, "isActive": True}})
            for i in range(n)]  # fmt: skip


def sensource_vea(n):
    rows = [{"recordDate_hour_1": f"{t(i, 60):%Y-%m-%dT%H:%M:%S}.000Z", "name": "Main", "zoneId": "z1",
             "sumins": i % 50, "sumouts": str(i % 40)} for i in range(n)]  # fmt: skip
    return [js({"results": rows})]


def xovis_count_push(n):  # two lines, fw/bw per 15 minutes
    bodies = []
    for part in chunks(n // 2, 10_000):
        els = [{"element-id": e, "element-name": f"Line {e}", "measurement": [
            {"from": f"{t(i):%Y-%m-%dT%H:%M:%S}+00:00", "to": f"{t(i + 1):%Y-%m-%dT%H:%M:%S}+00:00",
             "value": [{"value": i % 50, "label": "fw"}, {"value": i % 40, "label": "bw"}]} for i in part]}
            for e in (1, 2)]  # fmt: skip
        bodies.append(js({"sensor-time": {"timezone": "UTC"}, "content": {"element": els}}))
    return bodies


def xovis_csv_export(n):
    lines = ["from-time,to-time,Forward counter,Backward counter"]
    lines += [f"{t(i):%d/%m/%Y - %H:%M},{t(i + 1):%d/%m/%Y - %H:%M},{i % 50},{i % 40}" for i in range(n)]
    return [("\n".join(lines) + "\n").encode()]


def xovis_live_push(n):  # one-minute cumulative readings of one counter (5 per output row)
    bodies = []
    for part in chunks(5 * n + 1, 20_000):
        frames = [{"time": int(t(i, 1).timestamp() * 1000), "events": [
            {"category": "COUNT", "attributes": {"counter_id": 7, "counter_value": 3 * i}},
            {"category": "ZONE", "attributes": {"zone_id": 1}}]} for i in part]  # fmt: skip
        bodies.append(js({"live_data": {"sensor_info": {"serial_number": "80:1F"}, "frames": frames}}))
    return bodies


def sql_rows(n):
    rows = [{"counter_ref": f"GATE{i % 2}", "entries": i % 50, "exits": i % 40,
             "interval_start": f"{t(i // 2):%Y-%m-%dT%H:%M:%S}+00:00"} for i in range(n)]  # fmt: skip
    return [js({"interval_minutes": 15, "rows": rows})]


def xovis_logics_push(n):  # one line logic, fw/bw per 1-minute record (epoch ms), 5 records per output row
    bodies = []
    for part in chunks(5 * n, 20_000):
        records = [{"from": int(t(i, 1).timestamp() * 1000), "to": int(t(i + 1, 1).timestamp() * 1000),
                    "counts": [{"id": 2, "name": "fw", "value": i % 5}, {"id": 3, "name": "bw", "value": i % 4}]}
                   for i in part]  # fmt: skip
        logic = {"id": 2, "name": "Line 0", "info": "XLT_4X_LINE_IN_OUT_COUNT", "records": records}
        bodies.append(js({"logics_data": {"sensor_info": {"serial_number": "80:1F"}, "logics": [logic]}}))
    return bodies


def irisys_vector_countlogs(n):  # two registers per 15-minute log, bodies under the preset's 1 MiB limit
    bodies = []
    for part in chunks(n // 2, 4_000):
        logs = [{"StartTimestamp": f"{t(i):%Y-%m-%dT%H:%M:%SZ}", "Timestamp": f"{t(i + 1):%Y-%m-%dT%H:%M:%SZ}",
                 "Counts": [{"RegisterId": r, "LogPeriodValue": (i + r) % 50, "Value": i} for r in (0, 1)]}
                for i in part]  # fmt: skip
        bodies.append(js({"CountLogs": logs, "FriendlyDeviceSerial": "V4D-1"}))
    return bodies


def irisys_vector_totals(n):  # two registers' running totals every 15 minutes, bodies under the 1 MiB limit
    bodies = []
    for part in chunks(n // 2 + 1, 6_000):
        logs = [{"Timestamp": f"{t(i):%Y-%m-%dT%H:%M:%SZ}",
                 "Counts": [{"RegisterId": r, "Value": 3 * i + r} for r in (0, 1)]} for i in part]  # fmt: skip
        bodies.append(js({"CountLogs": logs, "FriendlyDeviceSerial": "V4D-1"}))
    return bodies


def _hik(counting: str) -> bytes:
    head = '<EventNotificationAlert xmlns="urn:psialliance-org"><macAddress>44:19:b6:00:00:01</macAddress><channelID>1'
    return f"{head}</channelID><peopleCounting>{counting}</peopleCounting></EventNotificationAlert>".encode()


def hikvision_alert_interval(n):  # one alert per body, one 5-minute TimeRange each
    span = "<TimeRange><startTime>{:%Y-%m-%dT%H:%M:%S}+00:00</startTime><endTime>{:%Y-%m-%dT%H:%M:%S}+00:00</endTime>"
    return [_hik(span.format(t(i, 5), t(i + 1, 5)) + f"</TimeRange><enter>{i % 9}</enter><exit>{i % 7}</exit>")
            for i in range(n)]  # fmt: skip


def hikvision_alert_realtime(n):  # one running-total reading per body, every 5 minutes
    return [_hik(f"<RealTime><time>{t(i, 5):%Y-%m-%dT%H:%M:%S}+00:00</time></RealTime>"
                 f"<enter>{3 * i}</enter><exit>{2 * i}</exit>") for i in range(n + 1)]  # fmt: skip


def sensource_portal_csv(n):  # daily rows of one site, quoted, BOM, closing empty rows
    lines = ['"Site Name","Location Name","Record Date","Ins","Outs"']
    lines += [f'"Main","Library","{t(i, 1440):%Y-%m-%d} 00:00:00","{i % 900}","{i % 800}"' for i in range(n)]
    return [("\ufeff" + "\r\n".join([*lines, '"","","","",""']) + "\r\n").encode()]


def libinsight_gate_count_csv(n):
    lines = ["date,gate_start"] + [f"{t(i, 60):%Y-%m-%d %H:%M},{i % 150}" for i in range(n)]
    return ["\n".join(lines).encode()]


def bare_csv(b: bytes) -> object:
    return list(csv.reader(io.StringIO(b.decode())))


FLOORS: dict[str, Callable[[bytes], object]] = {"json": json.loads, "xml": fromstring, "csv": bare_csv}
ONE_RECORD = {"axis_tvpc_live", "occuspace_now", "hikvision_alert_interval", "hikvision_alert_realtime"}
GENERATORS = {name: fn for name, fn in globals().items() if callable(fn) and name in load_presets()}


def loops_for(fn: Callable[[], object]) -> int:
    """Calls per sample so that one sample lasts about 20 ms (a single call of a small batch is noise)."""
    t0 = time.process_time()
    fn()
    return max(1, int(0.02 / max(time.process_time() - t0, 1e-6)))


def best_pair(floor: Callable[[], object], parse: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best per-call CPU time of floor and parse over interleaved samples.

    CPU time of this process (time.process_time), not wall time: on a shared machine the wall clock also
    counts the time other processes held the cores. Samples alternate floor and parse, at least `repeat`
    rounds and more while the preset has had under a second; the best sample is the least disturbed.
    """
    loops = (loops_for(floor), loops_for(parse))
    best = [float("inf"), float("inf")]
    rounds, spent = 0, 0.0
    while rounds < repeat or (spent < 1.0 and rounds < 10 * repeat):
        for i, fn in enumerate((floor, parse)):
            t0 = time.process_time()
            for _ in range(loops[i]):
                fn()
            took = time.process_time() - t0
            best[i] = min(best[i], took / loops[i])
            spent += took
        rounds += 1
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small-rows", type=int, default=2_000, help="bodies for one-record presets")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated preset names")
    args = parser.parse_args()
    presets = load_presets()
    missing = sorted(set(presets) - set(GENERATORS))
    for name in missing:
        print(f"{name:24s} no generator in bench/parse.py: not measured", flush=True)
    names = [s for s in args.only.split(",") if s] or sorted(set(presets) - set(missing))
    result: dict[str, object] = {}
    for name in names:
        n = args.small_rows if name in ONE_RECORD else args.rows
        bodies = GENERATORS[name](n)
        floor = FLOORS[presets[name].format]

        site = site_of_bodies(name, bodies, timezone="UTC", received_at=RECEIVED)
        payloads = [Payload(i + 1, body, received_at=RECEIVED) for i, body in enumerate(bodies)]

        def run(site=site, payloads=payloads):
            return normalize_counts(site, payloads)

        expected = parse_bodies(name, bodies, timezone="UTC", received_at=RECEIVED)
        pd.testing.assert_frame_equal(run(), expected)
        rows = len(expected)
        t_floor, t_parse = best_pair(lambda bodies=bodies, floor=floor: [floor(b) for b in bodies], run, args.repeat)
        tracemalloc.start()
        run()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        ratio = t_floor / t_parse
        size = sum(map(len, bodies)) / 2**20
        print(f"{name:24s} rows={rows:>7} bodies={len(bodies):>5} parse={rows / t_parse:>11,.0f} rows/s "
              f"floor={rows / t_floor:>11,.0f} rows/s ratio={ratio:.2f} peak_mb={peak:.1f} body_mb={size:.1f}",
              flush=True)  # fmt: skip
        result[f"{name}_ratio"] = round(ratio, 2)
    ratios = {k: v for k, v in result.items() if k.endswith("_ratio")}
    worst = min(ratios, key=ratios.get)
    head = {"rows": args.rows, "min_ratio": ratios[worst], "min_preset": worst.removesuffix("_ratio")}
    if missing:
        head["not_measured"] = ",".join(missing)
    print(f"RESULT {' '.join(f'{k}={v}' for k, v in {**head, **result}.items())} peak_rss_mb={peak_rss_mb():.0f}")


if __name__ == "__main__":
    main()
