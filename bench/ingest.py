"""Ingestion throughput: the API pinned to one core, wrk (Lua-scripted POSTs) pinned to the other.

N keep-alive connections (the connectors) POST gzip footfall-connector batches, each with its own
batch id and its site's token, as fast as answers come back, for a fixed time. The load generator
is wrk (C, one thread) on core 1 and the server on core 0 (taskset), so the generator does not eat
the server's CPU; PostgreSQL is not pinned (--pg-core keeps the API's backends on another core, as the
database runs on a host of its own in production). The same harness then drives the floor: a bare FastAPI
endpoint on the same path that reads the body and answers 200, served by the same uvicorn. The gap
between the two is what authentication, body checks and landing in the warehouse cost. Both servers run
side by side and are driven in turns, --rounds times (the api's rounds each send batches not sent before):
this machine's speed drifts by a third from one minute to the next, and the ratio is the median of the
rounds' ratios, the p99 the worst round's.

Bodies are made before the run (unique batch ids, spread over the N sites) and written to a file the
Lua script reads; after the run every acknowledged batch must be in the warehouse: the rows of
raw_payload and ingest_batch are counted and compared with wrk's 2xx count (the script counts them).
Plain HTTP by default, as production runs it behind its TLS proxy (deploy/Procfile); --tls serves
HTTPS from the API itself (both sides then pay for TLS). Last line: `RESULT key=value ...`.

    .venv/bin/python bench/ingest.py [--connectors 50] [--seconds 10] [--rows 96] [--db postgres|sqlite]
        [--workers 1] [--tls] [--pg-core 1] [--rounds 3] [--bodies N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))
sys.path.insert(0, str(REPO / "bench"))
PG_ADMIN = os.environ.get("FOOTFALL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

from _common import result_line  # noqa: E402

# wrk's script: each request is the next pre-made body (path, token, gzip bytes), counted by status.
POST_LUA = """
local requests, n = {}, 0
local i = tonumber(os.getenv("START") or "0")  -- a later round goes on with batches not sent yet
ok, bad, wrapped = 0, 0, 0  -- globals: done() reads them with thread:get
function init(args)
  local f = assert(io.open(os.getenv("BODIES"), "rb"))
  while true do
    local head = f:read("*l")
    if not head then break end
    local path, token, size = head:match("^(%S+) (%S+) (%d+)$")
    local body = f:read(tonumber(size))
    f:read(1)
    n = n + 1
    requests[n] = wrk.format("POST", path, {["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json", ["Content-Encoding"] = "gzip"}, body)
  end
  f:close()
end
function request()
  i = i + 1
  if i > n then i, wrapped = 1, wrapped + 1 end
  return requests[i]
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
function setup(thread) threads = threads or {}; table.insert(threads, thread) end
function done(summary, latency, requests_)
  local t = threads[1]
  io.write(string.format("LUA ok=%d bad=%d wrapped=%d\\n", t:get("ok"), t:get("bad"), t:get("wrapped")))
end
"""


async def floor_accept(site_id: str, request: Request) -> dict[str, str]:
    """The floor: the same route, reading the body and answering 200, nothing else."""
    await request.body()
    return {"status": "accepted"}


def floor_app() -> FastAPI:
    app = FastAPI()
    app.post("/v1/sites/{site_id}/batches")(floor_accept)
    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not listening on {port}")


class RssSampler:
    """Peak resident memory of a process tree, sampled every 50 ms, and the CPU time its processes used
    meanwhile (user + system, of every process seen; on a shared machine the server's CPU time per batch
    tells more than its wall-clock rate, which follows the other processes' load)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._sample()
        self._cpu_start = dict(self._cpu_last)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        try:
            procs = [self.process, *self.process.children(recursive=True)]
            self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            for p in procs:
                times = p.cpu_times()
                self._cpu_last[p.pid] = times.user + times.system
        except psutil.Error:
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.05)

    def stop(self) -> tuple[float, float]:
        """(peak RSS in MiB, CPU seconds used since the start)."""
        self._stop.set()
        self._thread.join()
        self._sample()
        cpu = sum(t - self._cpu_start.get(pid, 0.0) for pid, t in self._cpu_last.items())
        return self.peak / 2**20, cpu


def make_body(site_id: str, refs: list[str], rows: int, start: datetime) -> tuple[str, bytes]:
    batch_id = str(uuid.uuid4())
    body = {
        "batch_id": batch_id,
        "site_id": site_id,
        "query": "gates",
        "cursor": 0,
        "rows": [
            {
                "counter_ref": refs[i % len(refs)],
                "interval_start": (start + timedelta(minutes=15 * (i // len(refs)))).isoformat(),
                "interval_minutes": 15,
                "entries": i % 17,
                "exits": i % 13,
            }
            for i in range(rows)
        ],
    }
    return batch_id, gzip.compress(json.dumps(body, separators=(",", ":")).encode(), mtime=0)


def write_bodies(path: Path, sites: list[tuple[str, str]], rows: int, count: int) -> None:
    """`count` distinct batches, round robin over the sites, in the Lua script's format."""
    with path.open("wb") as out:
        for k in range(count):
            site_id, token = sites[k % len(sites)]
            refs = [f"{site_id.upper()}-A", f"{site_id.upper()}-B"]
            day = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=k // len(sites))
            _, body = make_body(site_id, refs, rows, day)
            out.write(f"/v1/sites/{site_id}/batches {token} {len(body)}\n".encode() + body + b"\n")


def wrk(url: str, seconds: float, connections: int, bodies: Path, script: Path, start: int = 0) -> dict[str, float]:
    """One wrk run; its requests are the bodies from number `start` on."""
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency",
               "--timeout", "10s", "-s", str(script), url]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True,
                         env={**os.environ, "BODIES": str(bodies), "START": str(start)}, check=False)  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr.strip()} {run.stdout.strip()}")
    out = run.stdout

    def latency(label: str) -> float:
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert found, out
        value, unit = found.groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    counted = re.search(r"LUA ok=(\d+) bad=(\d+) wrapped=(\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    assert counted, out
    ok, bad, wrapped = map(int, counted.groups())
    return {
        "batches": ok,
        "batches_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) * ok / max(1, ok + bad),
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "errors": bad,
        "socket_errors": sum(map(int, sockets.groups())) if sockets else 0,
        "wrapped": wrapped,
    }


def serve(args: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    wait_listening(port, process)
    return process


def stop(process: subprocess.Popen) -> None:
    """SIGINT to the server's own process group (uvicorn stops gracefully; py-spy writes its profile)."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def pg_database() -> tuple[str, str] | None:
    """A fresh PostgreSQL database (name, URL), or None when the server is not reachable."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.Error:
        return None
    name = f"footfall_bench_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, PG_ADMIN.rpartition("/")[0] + f"/{name}"


class BackendPinner:
    """Keeps the PostgreSQL backends serving database `name` (the API's pool) on `core` while the run lasts,
    as the database runs in production, on a host of its own: none takes turns on the API's core. A
    connection opened during the run is pinned within a tenth of a second."""

    def __init__(self, name: str, core: str) -> None:
        self.name, self.core, self.pinned = name, core, set[int]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            while not self._stop.is_set():
                rows = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,)
                ).fetchall()
                for (pid,) in rows:
                    if pid not in self.pinned:
                        subprocess.run(["taskset", "-pc", self.core, str(pid)], check=False, capture_output=True)
                        self.pinned.add(pid)
                self._stop.wait(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return len(self.pinned)


def drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def summary(rounds: list[dict[str, float]]) -> dict[str, float]:
    """One server's rounds as one line: the median rate and p50, the worst p99 and peak, totals of the counts
    and the CPU per batch over all of them."""
    batches = sum(r["batches"] for r in rounds)
    return {
        "batches": batches,
        "batches_per_s": statistics.median(r["batches_per_s"] for r in rounds),
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": max(r["p99_ms"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "socket_errors": sum(r["socket_errors"] for r in rounds),
        "wrapped": sum(r["wrapped"] for r in rounds),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds),
        "cpu_us_per_batch": sum(r["cpu_us_per_batch"] * r["batches"] for r in rounds) / max(1, batches),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rows", type=int, default=96, help="rows per batch (96 = a day of 15-minute intervals)")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (all on the server's core)")
    parser.add_argument("--tls", action="store_true", help="HTTPS served by the API itself (and by the floor)")
    parser.add_argument("--rounds", type=int, default=3, help="floor and api runs in turns, --seconds each")
    parser.add_argument("--bodies", type=int, help="distinct batches made before the run (default: 7,000 a second)")
    parser.add_argument(
        "--pg-core",
        help="pin the API's PostgreSQL backends to this core after the warm-up "
        "(e.g. 1, beside wrk: the database on a host of its own); unpinned by default",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the API during the run: collapsed stacks to this file")
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--certfile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        import uvicorn

        uvicorn.run(floor_app(), host="127.0.0.1", port=args.port, ssl_certfile=args.certfile,
                    ssl_keyfile=args.certfile, log_level="warning")  # fmt: skip
        return 0
    if not shutil.which("wrk") or not shutil.which("taskset"):
        print("bench/ingest.py needs wrk and taskset: apt-get install -y wrk util-linux", file=sys.stderr)
        return 2

    import yaml
    from sqlalchemy import func, select

    from footfall.api.tokens import create_token
    from footfall.warehouse import schema
    from footfall.warehouse.engine import get_engine, upgrade

    tmp = Path(tempfile.mkdtemp(prefix="footfall-bench-ingest-"))
    server_pem = tmp / "server.pem"
    if args.tls:
        import trustme

        trustme.CA().issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    sites_dir = tmp / "sites"
    sites_dir.mkdir()
    site_ids = [f"bench-{n:02d}" for n in range(args.connectors)]
    for site_id in site_ids:
        doc = {
            "id": site_id,
            "name": site_id,
            "timezone": "Europe/Paris",
            "counters": [{"id": s, "ref": f"{site_id.upper()}-{s.upper()}"} for s in ("a", "b")],
            "source": {"kind": "push", "preset": "footfall_connector"},
        }
        (sites_dir / f"{site_id}.yaml").write_text(yaml.safe_dump(doc))
    pg = pg_database() if args.db == "postgres" else None
    url = pg[1] if pg else f"sqlite:///{tmp / 'warehouse.db'}"
    upgrade(url)
    engine = get_engine(url)
    sites = [(site_id, create_token(engine, site_id)[1]) for site_id in site_ids]
    script = tmp / "post.lua"
    script.write_text(POST_LUA)
    bodies = tmp / "bodies.bin"
    args.bodies = args.bodies or int(7_000 * args.seconds * args.rounds)
    write_bodies(bodies, sites, args.rows, args.bodies)
    warm_bodies = tmp / "warm.bin"  # the warm-up's own batches, counted apart
    write_bodies(warm_bodies, sites, args.rows, 2000)
    env = {**os.environ, "FOOTFALL_DB_URL": url, "FOOTFALL_SITES_DIR": str(sites_dir),
           "PYTHONPATH": str(REPO / "include")}  # fmt: skip
    tls = ["--certfile", str(server_pem)] if args.tls else []
    targets: dict[str, str] = {}
    runs: dict[str, list[dict[str, float]]] = {"floor": [], "api": []}
    landed: dict[str, int] = {}
    servers: dict[str, subprocess.Popen] = {}
    pinner = None
    try:
        for name in ("floor", "api"):
            port = free_port()
            if name == "floor":
                command = [sys.executable, __file__, "--serve-floor", "--port", str(port), *tls]
            else:
                keyfile = ["--keyfile", str(server_pem)] if tls else []
                command = [sys.executable, "-m", "footfall.cli", "api", "serve", "--port", str(port),
                           "--workers", str(args.workers), *tls, *keyfile]  # fmt: skip
            if name == "api" and args.profile:
                spy = str(Path(sys.executable).with_name("py-spy"))
                command = [spy, "record", "--nonblocking", "-r", "200", "-f", "raw", "-o", str(args.profile),
                           "--", *command]  # fmt: skip
            servers[name] = serve(["taskset", "-c", "0", *command], port, env)
            targets[name] = f"{'https' if args.tls else 'http'}://127.0.0.1:{port}"
            wrk(targets[name], 2, args.connectors, warm_bodies, script)  # connections, caches, the pool
        time.sleep(1)  # requests in flight when wrk stopped
        with engine.connect() as conn:
            warm_landed = conn.execute(select(func.count()).select_from(schema.ingest_batch)).scalar_one()
        pinner = BackendPinner(pg[0], args.pg_core) if pg and args.pg_core else None
        sent = 0  # the api's bodies used so far: each round sends new batches
        for _ in range(args.rounds):
            for name in ("floor", "api"):  # in turns, so a drift of the machine's speed touches both alike
                sampler = RssSampler(servers[name].pid)
                run = wrk(targets[name], args.seconds, args.connectors, bodies, script, sent if name == "api" else 0)
                run["peak_rss_mb"], cpu_s = sampler.stop()
                run["cpu_us_per_batch"] = 1e6 * cpu_s / max(1, run["batches"])
                runs[name].append(run)
                if name == "api":
                    sent += int(run["batches"] + run["errors"]) + args.connectors  # and those in flight at the stop
        if pinner is not None:
            print(f"{pinner.stop()} PostgreSQL backend(s) of the API kept on core {args.pg_core}", flush=True)
            pinner = None
    finally:
        if pinner is not None:
            pinner.stop()
        for process in servers.values():
            stop(process)
    try:
        with engine.connect() as conn:
            landed["batches"] = conn.execute(select(func.count()).select_from(schema.ingest_batch)).scalar_one()
            landed["payloads"] = conn.execute(select(func.count()).select_from(schema.raw_payload)).scalar_one()
            landed["rows"] = conn.execute(select(func.coalesce(func.sum(schema.ingest_batch.c.rows), 0))).scalar_one()
    finally:
        engine.dispose()
        if pg:
            drop_pg(pg[0])
        shutil.rmtree(tmp, ignore_errors=True)
    results = {name: summary(rounds) for name, rounds in runs.items()}
    ratios = [a["batches_per_s"] / f["batches_per_s"] for f, a in zip(runs["floor"], runs["api"], strict=True)]
    api, floor = results["api"], results["floor"]
    # The warm-up's batches are in the warehouse too; a batch in flight when wrk stops may land unacknowledged.
    acked = int(sum(r["batches"] for r in runs["api"]))
    landed_run = landed["batches"] - warm_landed
    print(f"{args.connectors} connections, {args.rows} rows per batch, {'HTTPS' if args.tls else 'HTTP'}, "
          f"{args.workers} API worker(s) on core 0, wrk on core 1, "
          f"warehouse {'postgresql' if pg else 'sqlite'}")  # fmt: skip
    print(f"{'':8} {'batches/s':>10} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'peak MB':>8} "
          f"{'CPU us/batch':>12}")  # fmt: skip
    for name in ("floor", "api"):
        r = results[name]
        print(f"{name:8} {r['batches_per_s']:10.1f} {r['batches_per_s'] * args.rows:10.0f} {r['p50_ms']:8.2f} "
              f"{r['p99_ms']:8.2f} {int(r['errors'] + r['socket_errors']):7d} {r['peak_rss_mb']:8.1f} "
              f"{r['cpu_us_per_batch']:12.0f}")  # fmt: skip
    print(
        f"acknowledged {acked} batches in the run; landed {landed_run} in ingest_batch ({landed_run - acked} "
        "in flight when wrk stopped: landed, never acknowledged) "
        f"(raw_payload holds {landed['payloads']} bodies, {landed['rows']} rows, warm-up included)"
    )
    if api["wrapped"]:
        print(f"note: the pool of {args.bodies} bodies wrapped {api['wrapped']} time(s): resends land nothing")
    ratio = statistics.median(ratios)
    print("rounds, api vs floor: " + ", ".join(
        f"{a['batches_per_s']:.0f}/{f['batches_per_s']:.0f} = {r:.3f} (p99 {a['p99_ms']:.1f} ms)"
        for f, a, r in zip(runs["floor"], runs["api"], ratios, strict=True)))  # fmt: skip
    errors = int(api["errors"] + api["socket_errors"])
    ok = landed_run >= acked and landed["payloads"] == landed["batches"] and errors == 0 and not api["wrapped"]
    print(
        result_line(
            {
                "connectors": args.connectors,
                "seconds": args.seconds,
                "rows_per_batch": args.rows,
                "db": "postgresql" if pg else "sqlite",
                "tls": args.tls,
                "workers": args.workers,
                "pg_core": args.pg_core or "unpinned",
                "batches_per_s": api["batches_per_s"],
                "rows_per_s": api["batches_per_s"] * args.rows,
                "p50_ms": api["p50_ms"],
                "p99_ms": api["p99_ms"],
                "errors": errors,
                "peak_rss_mb": api["peak_rss_mb"],
                "cpu_us_per_batch": round(api["cpu_us_per_batch"]),
                "floor_cpu_us_per_batch": round(floor["cpu_us_per_batch"]),
                "cpu_vs_floor": round(floor["cpu_us_per_batch"] / api["cpu_us_per_batch"], 3),
                "load_avg": round(os.getloadavg()[0], 2),
                "floor_batches_per_s": floor["batches_per_s"],
                "floor_p99_ms": floor["p99_ms"],
                "vs_floor": round(ratio, 3),
                "rounds": args.rounds,
                "vs_floor_min": round(min(ratios), 3),
                "vs_floor_max": round(max(ratios), 3),
                "acked": acked,
                "landed": landed_run,
                "every_acked_landed": landed_run >= acked,
                "targets_met": ok and ratio >= 0.5 and api["p99_ms"] < 50,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
