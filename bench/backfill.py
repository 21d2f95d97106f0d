"""History import throughput: export files through parse -> validate -> flag -> load, against a bare COPY.

Usage: .venv/bin/python bench/backfill.py [--sites N] [--days D] [--workers 2] [--pg-url URL]
       [--first 2025-01-01] [--profile FILE]

1. Writes one counts-CSV export per site (5-minute intervals, one counter, D local days, numpy with
   a fixed seed, so every run reads the same bytes) into a temporary folder, and a site registry.
2. In a temporary PostgreSQL database on --pg-url's server (created and dropped here), imports the
   files through `footfall.imports.parallel.run_imports`, --workers sites at a time (each site is
   `run_import`, what `footfall import --file` runs): stream and land raw chunks, normalize,
   validate with the GX suite, load, run the quality checks. Timed, wall.
3. The floor, in the same run and database: the very rows that step 2 loaded, read back as COPY
   text beforehand (not timed), then written with one bare `COPY ... FROM STDIN` per site into a
   fresh table defined like count_interval (columns, primary key, foreign keys). Timed, wall: once
   on one connection (the floor of the ratio), once on --workers connections at a time.

Prints rows/s for both, their ratio, the 1,000-site-year extrapolation (linear in rows, from the
measured import rate) and the import's peak RSS (the largest of the workers and this process
before the floor, which holds every row in memory); last line
`RESULT rows_per_s=... copy_rows_per_s=... ratio=... peak_rss_mb=...`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

from _common import axis_site_yaml, children_peak_rss_mb, fmt, peak_rss_mb, result_line, temp_postgres_database

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
ZONE = "Europe/Paris"
T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f} s] {message}", flush=True)


def site_id(i: int) -> str:
    return f"import-{i:04d}"


def site_yaml(i: int, counters: int = 1) -> str:
    """`counters` counters, open 08:00-20:00 every day (the quality checks then have real opening hours)."""
    refs = [f"IMP{i:04d}{c:03d}" for c in range(1, counters + 1)]
    return axis_site_yaml(
        site_id(i), f"Import bench site {i}", refs, res="5m", capacity=400, hours="08:00-20:00", zone=ZONE
    )


def time_grid(first: date, days: int) -> tuple[list[str], object]:
    """UTC starts of every 5-minute interval of the local days, as ISO strings, and local hours."""
    import pandas as pd

    start = pd.Timestamp(first).tz_localize(ZONE)
    end = pd.Timestamp(first + timedelta(days=days)).tz_localize(ZONE)
    grid = pd.date_range(start.tz_convert("UTC"), end.tz_convert("UTC"), freq="5min", inclusive="left")
    local_hour = grid.tz_convert(ZONE).hour.to_numpy()
    return list(grid.strftime("%Y-%m-%dT%H:%M:%S+00:00")), local_hour


def write_export(path: Path, i: int, grid: list[str], local_hour: object) -> int:
    """One site's export: busier at midday while open, zero at night; entries equal exits per day roughly."""
    import numpy as np

    rng = np.random.default_rng(1000 + i)
    hour = np.asarray(local_hour)
    rate = np.where((hour >= 8) & (hour < 20), 6 + 10 * np.exp(-((hour - 13) ** 2) / 8), 0.0)
    entries = rng.poisson(rate)
    exits = rng.poisson(rate)
    prefix = f"{site_id(i)},door-1,"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("site_id,counter_id,interval_start,interval_minutes,entries,exits,occupancy\n")
        handle.writelines(
            f"{prefix}{t},5,{e},{x},\n" for t, e, x in zip(grid, entries.tolist(), exits.tolist(), strict=True)
        )
    return len(grid)


def floor_copy(url: str, sites: list[str], streams: int) -> dict[str, tuple[int, float]]:
    """Bare COPY of the rows the import loaded (read back untimed) into fresh tables; {table: (rows, s)}.

    `same` is count_interval's definition with its foreign keys (what every load into count_interval
    pays), `bare` the same without them (columns, primary key and defaults only); `parallel` is
    `same` again on `streams` connections at once (sites shared between them), as the import's workers.
    """
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    columns = "site_id, counter_id, interval_start, interval_minutes, entries, exits, occupancy, payload_id, loaded_at"
    out = {}

    def copy_all(table: str, part: list[bytes]) -> None:
        with psycopg.connect(dsn, autocommit=True) as own:
            for body in part:
                with own.transaction(), own.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(body)

    with psycopg.connect(dsn, autocommit=True) as conn:
        bodies = []
        for sid in sites:
            buffer = io.BytesIO()
            query = f"COPY (SELECT {columns} FROM count_interval WHERE site_id = '{sid}') TO STDOUT"
            with conn.cursor().copy(query) as copy:
                for block in copy:
                    buffer.write(block)
            bodies.append(buffer.getvalue())
        for table in ("floor_same", "floor_parallel"):
            conn.execute(f"CREATE TABLE {table} (LIKE count_interval INCLUDING ALL)")
            conn.execute(f"ALTER TABLE {table} ADD FOREIGN KEY (payload_id) REFERENCES raw_payload (payload_id)")
            conn.execute(
                f"ALTER TABLE {table} ADD FOREIGN KEY (site_id, counter_id) REFERENCES counter (site_id, counter_id)"
            )
        conn.execute("CREATE TABLE floor_bare (LIKE count_interval INCLUDING DEFAULTS INCLUDING INDEXES)")
        for table in ("floor_same", "floor_bare", "floor_parallel"):
            parts = [bodies[i::streams] for i in range(streams)] if table == "floor_parallel" else [bodies]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(len(parts)) as pool:
                list(pool.map(copy_all, [table] * len(parts), parts))
            seconds = time.perf_counter() - t0
            out[table.removeprefix("floor_")] = (conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0], seconds)
    return out


def write_big_export(path: Path, target_bytes: int, counters: int, first: date) -> tuple[int, date]:
    """One site's export of about `target_bytes`: every counter every 5 minutes, time-major, day after day."""
    import numpy as np

    rng = np.random.default_rng(7)
    rows, day = 0, first
    with path.open("w", encoding="utf-8") as handle:
        handle.write("site_id,counter_id,interval_start,interval_minutes,entries,exits,occupancy\n")
        while handle.tell() < target_bytes:
            grid, _ = time_grid(day, 1)
            counts = rng.poisson(4, size=(len(grid), counters, 2)).tolist()
            handle.writelines(
                f"{site_id(0)},door-{c + 1},{t},5,{pair[0]},{pair[1]},\n"
                for t, row in zip(grid, counts, strict=True)
                for c, pair in enumerate(row)
            )
            rows += len(grid) * counters
            day += timedelta(days=1)
    return rows, day - timedelta(days=1)


def measure_rss(args: argparse.Namespace, tmp: Path, url: str) -> list[dict[str, float]]:
    """`footfall import` of a multi-GB export in a child process, RSS sampled every 0.2 s.

    The child streams and lands the whole file, then loads batches; it is stopped (an interrupted
    import, which a re-run resumes) after --rss-batches batches, since the whole load would take long.
    """
    import subprocess

    import psutil
    from sqlalchemy import create_engine, text

    out = []
    for gb in args.rss_gb:
        path = tmp / f"big-{gb}.csv"
        rows, last = write_big_export(path, int(gb * 2**30), args.rss_counters, args.first)
        progress(f"{path.stat().st_size / 2**30:.2f} GiB export, {rows} rows, {args.first}..{last}")
        with temp_postgres_database(args.pg_url, "rss") as big_url:
            from footfall.warehouse.engine import get_engine, normalize_url, upgrade

            upgrade(big_url)
            env = {**os.environ, "FOOTFALL_DB_URL": big_url}
            cmd = [sys.executable, "-m", "footfall.cli", "import", "--site", site_id(0), "--file", str(path)]
            cmd += ["--from", str(args.first), "--to", str(last)]
            t0 = time.perf_counter()
            log_path = tmp / f"import-{gb}.log"
            with log_path.open("wb") as log_file:
                child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
            proc, peak, read_peak, read_s, batches_done = psutil.Process(child.pid), 0.0, 0.0, None, 0
            engine = create_engine(normalize_url(big_url))
            try:
                while child.poll() is None:
                    peak = max(peak, proc.memory_info().rss / 2**20)
                    time.sleep(0.2)
                    if int(time.perf_counter() - t0) % 5 == 0:
                        with engine.connect() as conn:
                            batches_done = conn.execute(
                                text("SELECT count(DISTINCT finished_at) FROM import_chunk")
                            ).scalar_one()
                        if batches_done and read_s is None:  # the whole file was read and landed before
                            read_s, read_peak = time.perf_counter() - t0, peak
                        if batches_done >= args.rss_batches:
                            child.terminate()
                            child.wait(timeout=60)
                with engine.connect() as conn:
                    batches_done = conn.execute(
                        text("SELECT count(DISTINCT finished_at) FROM import_chunk")
                    ).scalar_one()
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                engine.dispose()
                get_engine(big_url).dispose()
        path.unlink()
        if child.returncode not in (0, -15):
            raise SystemExit(f"footfall import failed: {log_path.read_text()[-2000:]}")
        out.append(
            {
                "gb": gb,
                "rows": rows,
                "read_s": read_s or 0.0,
                "read_peak_mb": read_peak,
                "peak_mb": peak,
                "batches": batches_done,
                "exit": child.returncode,  # -15: stopped here after --rss-batches; 1: the import failed
            }
        )
        progress(f"{gb} GiB: {out[-1]}")
    return out


class StageSeconds(logging.Handler):
    """Sums the per-batch stage seconds that footfall.imports.run logs (normalize, validate, load, checks).

    The import's workers are forked with this handler, so each batch appends a JSON line to a file
    (small appends are atomic) and `totals` reads them all back.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("import batch") and isinstance(record.args, tuple):
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record.args[-1]) + "\n")

    def totals(self) -> dict[str, float]:
        seconds: dict[str, float] = {}
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        for line in lines:
            for stage, value in json.loads(line).items():
                seconds[stage] = seconds.get(stage, 0.0) + value
        return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--first", type=date.fromisoformat, default=date(2025, 1, 1), help="first local day")
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL server (a temporary database is made)")
    parser.add_argument("--workers", type=int, default=2, help="sites imported at a time, each in its own process")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the import phase here (with --workers 1)")
    parser.add_argument(
        "--rss-gb",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[],
        help="instead: peak RSS of `footfall import` on exports of these sizes, e.g. 1,2",
    )
    parser.add_argument("--rss-counters", type=int, default=50, help="counters of the --rss-gb site")
    parser.add_argument("--rss-batches", type=int, default=2, help="stop the --rss-gb import after these batches")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="footfall-backfill-")))
        sites_dir = tmp / "sites"
        sites_dir.mkdir()
        os.environ["FOOTFALL_SITES_DIR"] = str(sites_dir)
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        url = stack.enter_context(temp_postgres_database(args.pg_url, "backfill"))
        os.environ["FOOTFALL_DB_URL"] = url

        from footfall import validate
        from footfall.imports.parallel import run_imports
        from footfall.warehouse.engine import get_engine, upgrade

        upgrade(url)
        engine = get_engine(url)
        stack.callback(engine.dispose)
        if args.rss_gb:
            (sites_dir / f"{site_id(0)}.yaml").write_text(site_yaml(0, args.rss_counters), encoding="utf-8")
            measured = measure_rss(args, tmp, url)
            for m in measured:
                print(
                    f"{m['gb']} GiB, {m['rows']} rows: read, landed and first batch loaded in {m['read_s']:.0f} s, "
                    f"peak RSS {m['read_peak_mb']:.0f} MiB by then, {m['peak_mb']:.0f} MiB after {m['batches']} batches"
                )
            print(result_line({f"rss_mb_{m['gb']:g}gb": round(m["peak_mb"]) for m in measured}))
            return 0
        validate.warm_up()

        grid, local_hour = time_grid(args.first, args.days)
        files, written = [], 0
        for i in range(args.sites):
            (sites_dir / f"{site_id(i)}.yaml").write_text(site_yaml(i), encoding="utf-8")
            path = tmp / f"{site_id(i)}.csv"
            written += write_export(path, i, grid, local_hour)
            files.append(path)
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        progress(f"{args.sites} export(s), {written} rows, {size_mb:.0f} MiB")

        stages = StageSeconds(tmp / "stages.jsonl")
        history_log = logging.getLogger("footfall.imports.run")
        history_log.setLevel(logging.INFO)
        history_log.addHandler(stages)
        logging.getLogger("footfall.quality").setLevel(logging.WARNING)
        last = args.first + timedelta(days=args.days - 1)
        jobs = [(site_id(i), path) for i, path in enumerate(files)]
        profiler = cProfile.Profile() if args.profile else None
        engine.dispose()  # the workers are forked: no pooled connection to share with them
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        results = run_imports(jobs, args.first, last, db_url=url, workers=args.workers)
        import_s = time.perf_counter() - t0
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        # The import's own peak: the workers' and this process's before the floor buffers every row.
        peak_mb = max(peak_rss_mb(), children_peak_rss_mb())
        progress(f"imported {len(results)} sites with {args.workers} worker(s) in {import_s:.0f} s")
        for sid, chunks in results.items():
            if not all(r["status"] == "done" for r in chunks):
                raise SystemExit(f"{sid}: not every chunk loaded: {chunks[:3]}")
        with engine.connect() as conn:
            loaded = conn.exec_driver_sql("SELECT count(*) FROM count_interval").scalar_one()
        if loaded != written:
            raise SystemExit(f"loaded {loaded} rows, the exports had {written}")

        floors = floor_copy(url, [site_id(i) for i in range(args.sites)], max(1, args.workers))
        copy_rows, copy_s = floors["same"]
        rate, copy_rate = loaded / import_s, copy_rows / copy_s
        parallel_rate = floors["parallel"][0] / floors["parallel"][1]
        bare_rate = floors["bare"][0] / floors["bare"][1]
        year_1000 = 1000 * 365 * len(grid) / args.days / rate
        print(
            f"import: {loaded} rows in {import_s:.1f} s = {rate:,.0f} rows/s (parse, land, validate, flag, load; "
            f"{args.workers} site(s) at a time)"
        )
        print(
            f"floor:  {copy_rows} rows in {copy_s:.1f} s = {copy_rate:,.0f} rows/s "
            "(bare COPY of the same rows into a table defined like count_interval, foreign keys included)"
        )
        print(f"ratio:  {rate / copy_rate:.2f} (target >= 0.5)")
        print(f"bare COPY without the foreign keys: {bare_rate:,.0f} rows/s, ratio {rate / bare_rate:.3f}")
        print(
            f"COPY with the foreign keys on {args.workers} connections at once: {parallel_rate:,.0f} rows/s, "
            f"ratio {rate / parallel_rate:.3f}"
        )
        seconds = stages.totals()
        busy = seconds.pop("total", 0.0)
        # Stage seconds add up over the workers (process time in each, not wall): read+land is the rest.
        read_s = import_s * max(1, args.workers) - busy
        parts = {"read+land": read_s, **seconds}
        print(
            "import stages, summed over workers, s: "
            + ", ".join(f"{k} {v:.1f} ({loaded / v:,.0f} rows/s)" for k, v in parts.items() if v)
        )
        share = seconds.get("checks", 0.0) / (import_s * max(1, args.workers))
        without_checks = rate / (1 - share)
        print(
            f"without the quality checks ({share:.0%} of the workers' time): {without_checks:,.0f} rows/s, "
            f"ratio {without_checks / copy_rate:.2f}"
        )
        print(
            f"1,000 sites x 365 days extrapolated linearly from this rate: {year_1000 / 60:.1f} min "
            "(target < 15 min; measured on this machine, not run at that size)"
        )
        print(
            f"peak RSS of the import: {peak_mb:.0f} MiB (largest process: a worker, or this one before the floor); "
            f"with the floor's buffers {peak_rss_mb():.0f} MiB; python {sys.version.split()[0]}"
        )
        print(
            result_line(
                {
                    "sites": args.sites,
                    "days": args.days,
                    "rows": loaded,
                    "rows_per_s": round(rate),
                    "copy_rows_per_s": round(copy_rate),
                    "ratio": round(rate / copy_rate, 3),
                    "workers": args.workers,
                    "ratio_vs_copy_without_fk": round(rate / bare_rate, 3),
                    "copy_parallel_rows_per_s": round(parallel_rate),
                    "ratio_vs_parallel_copy": round(rate / parallel_rate, 3),
                    "year_1000_sites_min": float(fmt(year_1000 / 60)),
                    "checks_s": round(seconds.get("checks", 0.0), 1),
                    "ratio_without_checks": round(without_checks / copy_rate, 3),
                    "peak_rss_mb": round(peak_mb),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
