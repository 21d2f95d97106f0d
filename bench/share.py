"""Public read API: `GET /v1/public/sites/{id}/now` at 200 concurrent connections beside a bare FastAPI endpoint.

One site is synced from the simulator through the real pipeline (six weeks up to now, quality checks,
corrected occupancy) and forecast by the real retrain; `footfall api serve --only share` then serves it,
pinned to core 0 with taskset, and wrk (Debian's, pinned to core 1) drives 200 keep-alive connections.
The floor is a bare FastAPI app answering the same path with a fixed small JSON, served by the same
uvicorn settings, measured in the same run. Two loads each:

- saturated: every connection sends its next request as soon as the answer arrives (req/s; p99 here is
  mostly queueing: 200 connections / req/s);
- paced: each connection waits so that the 200 offer `--paced-rate` req/s in total (wrk's Lua `delay`),
  the latency a visitor sees when the server is not overloaded.

Reports req/s, p50/p99 and the server's peak RSS; the read model's per-request cost is what the ratio
shows (it never scans history: see footfall.warehouse.share). Last line: `RESULT key=value ...`.

    .venv/bin/python bench/share.py [--seconds 10] [--connections 200] [--paced-rate 2000] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))
sys.path.insert(0, str(REPO / "bench"))

from _common import result_line  # noqa: E402
from ingest import RssSampler, drop_pg, free_port, pg_database, serve, stop, wait_listening  # noqa: E402

SITE = "bench-bib"
SITE_YAML = """id: bench-bib
name: Bench library
timezone: Europe/Paris
country: FR
capacity: 600
opening_hours:
  regular: {mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00", thu: "00:00-24:00", fri: "00:00-24:00",
            sat: "00:00-24:00", sun: "00:00-24:00"}
counters:
  - {id: main-door, ref: SIM0000001}
  - {id: side-door, ref: SIM0000002}
source:
  kind: http_json
  preset: axis_tvpc_export_json
  connection_id: footfall_sim
  options: {base_path: "/devices/{counter_ref}", res: 15m}
quality: {closed_on_public_holidays: false}
sharing: {public: true, message: "Bench notice"}
"""
PACE_LUA = """
local gap = tonumber(os.getenv("PACE_MS"))
function delay() return gap end
"""


def floor_app():  # the bare endpoint: same path, a fixed small JSON
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/public/sites/{site_id}/now")
    async def now(site_id: str) -> dict[str, object]:
        return {"site": site_id, "level": "low", "percent": 12}

    return app


def prepare(url: str, sites_dir: Path) -> None:
    """Six weeks of the site synced from the simulator (real pipeline) and a published forecast."""
    from footfall.config import get_site
    from footfall.forecast.publish import retrain_sites
    from footfall.pipeline import sync_window
    from footfall.timewindow import Window, floor_time
    from footfall.warehouse.engine import get_engine, upgrade
    from footfall_simulator import start_in_thread

    now = datetime.now(UTC)
    sites_dir.mkdir(parents=True, exist_ok=True)
    (sites_dir / f"{SITE}.yaml").write_text(SITE_YAML)
    os.environ["FOOTFALL_SITES_DIR"] = str(sites_dir)
    upgrade(url)
    engine = get_engine(url)
    with start_in_thread(seed=7, clock=lambda: now) as sim:
        os.environ["AIRFLOW_CONN_FOOTFALL_SIM"] = sim.url
        site = get_site(SITE)
        end = floor_time(now, 15)
        sync_window(site, Window(end - timedelta(days=42), end), engine=engine, run_id="bench")
    retrain_sites(engine, [site], run_id="bench", now=now)
    engine.dispose()


def wrk(url: str, seconds: float, connections: int, pace_ms: float | None) -> dict[str, float]:
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    command += ["--timeout", "5s"]
    env = dict(os.environ)
    if pace_ms is not None:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        script.write_text(PACE_LUA)
        command += ["-s", str(script)]
        env["PACE_MS"] = f"{pace_ms:g}"
    out = subprocess.run([*command, url], capture_output=True, text=True, env=env, check=True).stdout

    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(map(int, sockets.groups())) if sockets else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--paced-rate", type=float, default=2000.0, help="total req/s offered in the paced runs")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        import uvicorn

        uvicorn.run(floor_app(), host="127.0.0.1", port=args.port, log_level="info", proxy_headers=True)
        return 0
    if not shutil.which("wrk"):
        print("bench/share.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="footfall-bench-share-"))
    pg = pg_database() if args.db == "postgres" else None
    url = pg[1] if pg else f"sqlite:///{tmp / 'warehouse.db'}"
    began = time.perf_counter()
    prepare(url, tmp / "sites")
    prepared_s = time.perf_counter() - began
    env = {**os.environ, "FOOTFALL_DB_URL": url, "FOOTFALL_SITES_DIR": str(tmp / "sites"),
           "FOOTFALL_SHARE_PUBLIC_RATE": "100000000", "PYTHONPATH": str(REPO / "include")}  # fmt: skip
    env.pop("AIRFLOW_CONN_FOOTFALL_SIM", None)
    pace_ms = 1000.0 * args.connections / args.paced_rate
    results: dict[str, dict[str, float]] = {}
    try:
        for name in ("floor", "share"):
            port = free_port()
            if name == "floor":
                command = [sys.executable, __file__, "--serve-floor", "--port", str(port)]
            else:
                command = [sys.executable, "-m", "footfall.cli", "api", "serve", "--only", "share", "--port", str(port)]
            process = serve(["taskset", "-c", "0", *command], port, env)  # its own process group: stop() signals it
            try:
                wait_listening(port, process)
                target = f"http://127.0.0.1:{port}/v1/public/sites/{SITE}/now"
                wrk(target, 2, args.connections, None)  # warm-up: connections, the usual profile, caches
                sampler = RssSampler(process.pid)
                results[name] = wrk(target, args.seconds, args.connections, None)
                paced = wrk(target, args.seconds, args.connections, pace_ms)
                results[name].update({f"paced_{k}": v for k, v in paced.items()})
                results[name]["peak_rss_mb"] = sampler.stop()
            finally:
                stop(process)
    finally:
        if pg:
            drop_pg(pg[0])
    share, floor = results["share"], results["floor"]
    ratio = share["rps"] / floor["rps"]
    print(f"warehouse {'postgresql' if pg else 'sqlite'}, site synced and forecast in {prepared_s:.1f} s")
    print(f"{'':6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'sock.err':>8} | paced {args.paced_rate:g} req/s: "
          f"{'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} | {'errors':>6} {'peak MB':>8}")  # fmt: skip
    for name in ("floor", "share"):
        r = results[name]
        print(f"{name:6} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {int(r['socket_errors']):8d} |{'':21}"
              f"{r['paced_rps']:8.0f} {r['paced_p50_ms']:7.2f} {r['paced_p99_ms']:7.2f} | "
              f"{int(r['errors'] + r['paced_errors'] + r['paced_socket_errors']):6d} "
              f"{r['peak_rss_mb']:8.1f}")  # fmt: skip
    # Non-2xx answers are errors in either phase. Socket timeouts (5 s) while saturated are queueing, not
    # answers: at 200 connections on one core the bare endpoint shows them too, so they are reported
    # beside the floor's; in the paced phase (what a visitor meets) any socket error fails the run.
    errors = int(share["errors"] + share["paced_errors"] + share["paced_socket_errors"])
    ok = ratio >= 0.5 and share["paced_p99_ms"] < 20 and errors == 0
    print(
        result_line(
            {
                "connections": args.connections,
                "seconds": args.seconds,
                "db": "postgresql" if pg else "sqlite",
                "now_rps": share["rps"],
                "floor_rps": floor["rps"],
                "vs_floor": round(ratio, 3),
                "now_p50_ms": share["p50_ms"],
                "now_p99_ms": share["p99_ms"],
                "floor_p99_ms": floor["p99_ms"],
                "paced_rate": args.paced_rate,
                "now_paced_p50_ms": share["paced_p50_ms"],
                "now_paced_p99_ms": share["paced_p99_ms"],
                "floor_paced_p99_ms": floor["paced_p99_ms"],
                "errors": errors,
                "saturated_socket_errors": int(share["socket_errors"]),
                "floor_saturated_socket_errors": int(floor["socket_errors"]),
                "peak_rss_mb": share["peak_rss_mb"],
                "floor_peak_rss_mb": floor["peak_rss_mb"],
                "targets_met": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
