"""Ingestion throughput: one API process, N concurrent connectors on loopback, over real HTTPS.

Each simulated connector is a thread with its own keep-alive session that POSTs gzip batches
(unique batch ids, like footfall-connector) as fast as answers come back, for a fixed time.
The same harness then drives the floor: a bare FastAPI endpoint on the same path that only
answers 200, served by the same uvicorn and TLS setup. The gap between the two is what
authentication, body checks and landing in the warehouse cost.

Reports accepted batches/s and rows/s, p50/p99 latency, and the server process's peak RSS
(sampled with psutil). Loopback only; the server processes are ours and stopped at the end.
Last line: `RESULT key=value ...`.

    .venv/bin/python bench/ingest.py [--connectors 50] [--seconds 10] [--rows 96] [--db postgres|sqlite]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
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
PG_ADMIN = os.environ.get("FOOTFALL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


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
    """Peak resident memory of a process tree, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            self._stop.wait(0.05)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def make_body(site_id: str, refs: list[str], rows: int, start: datetime) -> tuple[str, bytes]:
    batch_id = str(uuid.uuid4())
    body = {
        "batch_id": batch_id,
        "site_id": site_id,
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


def drive(url: str, sites: list[tuple[str, str]], rows: int, seconds: float, ca: str) -> dict[str, float]:
    """N connector threads POSTing batches for `seconds`; returns throughput and latency."""
    import requests

    latencies: list[float] = []
    failures: dict[int | str, int] = {}
    lock = threading.Lock()
    start_gate = threading.Barrier(len(sites) + 1)
    deadline_box: list[float] = []

    def connector(site_id: str, token: str, n: int) -> None:
        session = requests.Session()
        session.headers.update(
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
        )
        refs = [f"{site_id.upper()}-A", f"{site_id.upper()}-B"]
        day = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=n)
        mine: list[float] = []
        bad: dict[int | str, int] = {}
        start_gate.wait()
        k = 0
        while time.monotonic() < deadline_box[0]:
            _, body = make_body(site_id, refs, rows, day + timedelta(hours=k))
            k += 1
            t0 = time.perf_counter()
            try:
                response = session.post(f"{url}/v1/sites/{site_id}/batches", data=body, timeout=30, verify=ca)
                status: int | str = response.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            elapsed = time.perf_counter() - t0
            if status == 200:
                mine.append(elapsed)
            else:
                bad[status] = bad.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            for key, count in bad.items():
                failures[key] = failures.get(key, 0) + count

    threads = [threading.Thread(target=connector, args=(s, t, n)) for n, (s, t) in enumerate(sites)]
    for thread in threads:
        thread.start()
    deadline_box.append(time.monotonic() + seconds)
    t0 = time.monotonic()
    start_gate.wait()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - t0
    latencies.sort()
    ok = len(latencies)
    return {
        "batches": ok,
        "batches_per_s": ok / wall,
        "rows_per_s": ok * rows / wall,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[min(ok - 1, int(ok * 0.99))] if latencies else float("nan"),
        "errors": sum(failures.values()),
        "failures": failures,
    }


def serve(args: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_listening(port, process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
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


def drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rows", type=int, default=96, help="rows per batch (96 = a day of 15-minute intervals)")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--certfile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        import uvicorn

        uvicorn.run(floor_app(), host="127.0.0.1", port=args.port, ssl_certfile=args.certfile,
                    ssl_keyfile=args.certfile, log_level="warning")  # fmt: skip
        return 0

    import trustme
    import yaml

    from footfall.api.tokens import create_token
    from footfall.warehouse import schema
    from footfall.warehouse.engine import get_engine, normalize_url, upgrade

    tmp = Path(tempfile.mkdtemp(prefix="footfall-bench-ingest-"))
    ca = trustme.CA()
    server_pem, ca_pem = tmp / "server.pem", tmp / "ca.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
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
    env = {**os.environ, "FOOTFALL_DB_URL": url, "FOOTFALL_SITES_DIR": str(sites_dir),
           "PYTHONPATH": str(REPO / "include")}  # fmt: skip
    results = {}
    try:
        for name in ("floor", "api"):
            port = free_port()
            if name == "floor":
                command = [
                    sys.executable,
                    __file__,
                    "--serve-floor",
                    "--port",
                    str(port),
                    "--certfile",
                    str(server_pem),
                ]
            else:
                command = [sys.executable, "-m", "footfall.cli", "api", "serve", "--port", str(port),
                           "--certfile", str(server_pem), "--keyfile", str(server_pem)]  # fmt: skip
            process = serve(command, port, env)
            sampler = RssSampler(process.pid)
            try:
                results[name] = drive(f"https://127.0.0.1:{port}", sites, args.rows, args.seconds, str(ca_pem))
            finally:
                results[name]["peak_rss_mb"] = sampler.stop()
                stop(process)
        from sqlalchemy import func, select

        with engine.connect() as conn:
            landed = conn.execute(select(func.count()).select_from(schema.ingest_batch)).scalar_one()
    finally:
        engine.dispose()
        if pg:
            drop_pg(pg[0])
    api, floor = results["api"], results["floor"]
    print(f"{'':8} {'batches/s':>10} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'peak MB':>8}")
    for name in ("floor", "api"):
        r = results[name]
        print(f"{name:8} {r['batches_per_s']:10.1f} {r['rows_per_s']:10.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
              f"{r['errors']:7d} {r['peak_rss_mb']:8.1f}")  # fmt: skip
    print(f"warehouse: {normalize_url(url).split(':')[0]}; batches landed {landed} (acknowledged {api['batches']})")
    if api["failures"] or floor["failures"]:
        print(f"failures: api {api['failures']} floor {floor['failures']}")
    print(
        f"RESULT connectors={args.connectors} seconds={args.seconds:g} rows_per_batch={args.rows} "
        f"db={'postgresql' if pg else 'sqlite'} batches_per_s={api['batches_per_s']:.1f} "
        f"rows_per_s={api['rows_per_s']:.0f} p50_ms={api['p50_ms']:.1f} p99_ms={api['p99_ms']:.1f} "
        f"errors={api['errors']} peak_rss_mb={api['peak_rss_mb']:.1f} "
        f"floor_batches_per_s={floor['batches_per_s']:.1f} floor_p50_ms={floor['p50_ms']:.1f} "
        f"floor_p99_ms={floor['p99_ms']:.1f} floor_peak_rss_mb={floor['peak_rss_mb']:.1f} "
        f"vs_floor={api['batches_per_s'] / floor['batches_per_s']:.2f} landed_equals_acked={landed == api['batches']}"
    )
    return 0 if landed == api["batches"] and api["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
