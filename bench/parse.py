"""Parse throughput per preset on large payloads, beside bare decoding of the same bytes (the floor).

For each preset: rows/s of `parse_bodies` (decode + map + time + semantics) and of bare `json.loads`,
defusedxml `fromstring` or `csv.reader` on the same bytes, measured in the same run; ratio = parse / floor
speed (target >= 0.5); peak memory via tracemalloc. Last line: RESULT key=value ...
Usage: .venv/bin/python bench/parse.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from defusedxml.ElementTree import fromstring

from footfall.normalize import parse_bodies

START = datetime(2026, 1, 1, tzinfo=UTC)


def axis_json(n: int) -> bytes:
    data = [{"timestamp": (START + timedelta(minutes=15 * i)).strftime("%Y%m%d%H%M%S"), "in": i % 50, "out": i % 40}
            for i in range(n)]  # fmt: skip
    return json.dumps({"serial": "A1", "data": data}).encode()


def hikvision_xml(n: int) -> bytes:
    items = "".join(
        f"<matchElement><timeSpan><startTime>{(START + timedelta(hours=i)).strftime('%Y-%m-%dT%H:%M:%S+00:00')}"
        f"</startTime></timeSpan><enterCount>{i % 50}</enterCount><exitCount>{i % 40}</exitCount></matchElement>"
        for i in range(n)
    )
    return f"<CountingStatisticsResult><matchList>{items}</matchList></CountingStatisticsResult>".encode()


def xovis_csv(n: int) -> bytes:
    lines = ["from-time,to-time,Forward counter,Backward counter"]
    for i in range(n):
        t = START + timedelta(minutes=15 * i)
        lines.append(f"{t:%d/%m/%Y - %H:%M},{t + timedelta(minutes=15):%d/%m/%Y - %H:%M},{i % 50},{i % 40}")
    return ("\n".join(lines) + "\n").encode()


def sensource_json(n: int) -> bytes:
    rows = [{"recordDate_hour_1": (START + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
             "zoneId": "z1", "sumins": i % 50, "sumouts": str(i % 40)} for i in range(n)]  # fmt: skip
    return json.dumps({"results": rows}).encode()


CASES = {
    "axis_tvpc_export_json": (axis_json, lambda b: json.loads(b)),
    "sensource_vea": (sensource_json, lambda b: json.loads(b)),
    "hikvision_isapi": (hikvision_xml, lambda b: fromstring(b)),
    "xovis_csv_export": (xovis_csv, lambda b: list(csv.reader(io.StringIO(b.decode())))),
}


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    n = parser.parse_args().rows
    result = {}
    for name, (make, floor) in CASES.items():
        body = make(n)
        rows = parse_bodies(name, [body], timezone="UTC")
        assert len(rows) == n, (name, len(rows))
        t_floor = best(lambda: floor(body))  # noqa: B023
        t_parse = best(lambda: parse_bodies(name, [body], timezone="UTC"))  # noqa: B023
        tracemalloc.start()
        parse_bodies(name, [body], timezone="UTC")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        ratio = t_floor / t_parse
        print(f"{name:24s} rows={n} parse={n / t_parse:,.0f} rows/s floor={n / t_floor:,.0f} rows/s "
              f"ratio={ratio:.2f} peak_mb={peak / 2**20:.1f} body_mb={len(body) / 2**20:.1f}")  # fmt: skip
        result[f"{name}_ratio"] = round(ratio, 2)
        result[f"{name}_peak_mb"] = round(peak / 2**20, 1)
    result["min_ratio"] = min(v for k, v in result.items() if k.endswith("_ratio"))
    print(f"RESULT rows={n} " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
