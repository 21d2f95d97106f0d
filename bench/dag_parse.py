"""Parsing N site files in Airflow's real dag-processor, beside N no-op DAGs of the same shape.

Usage: .venv/bin/python bench/dag_parse.py [--sites 1000] [--runs 2]

One fresh Airflow home (SQLite metadata, migrated), one DAG folder holding the project's DAG files
(`sites.py`, `site_files.py`, `forecasts.py`, `import_history.py`, ...) and `noop_dags.py`: N DAGs
of one `sync` task on the site DAGs' timetable, Airflow's own cost of N DAGs (the floor). N site files
are generated with bench/_common.axis_site_yaml. `airflow dag-processor --num-runs R` parses the folder
R times, with the footfall plugin's registry warm-up on (production: the dag-processor validates the
registry once, each forked parse only what changed) and then off (every parse decodes and validates
every file). Per file: Airflow's own `dag.last_parse_duration` (the last of the R parses).
Beside it, in this process: the registry's cold load (YAML and validation of every file, what the
warm-up pays once) and a warm load (every file read, none changed).

Prints a table and, last, one `RESULT key=value ...` line. Nothing listens on the network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import axis_site_yaml, fmt, peak_rss_mb, result_line

REPO = Path(__file__).resolve().parents[1]
NOOP_DAGS = '''"""No-op DAGs shaped like footfall's site DAGs (one `sync` task, the same timetable)."""

from datetime import UTC, datetime

from airflow.sdk import DAG, CronDataIntervalTimetable, task

for i in range({count}):
    with DAG(
        dag_id=f"noop__{{i:04d}}",
        schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=4,
        tags=["bench"],
    ):

        @task(task_id="sync")
        def sync(site_id: str = f"noop-{{i:04d}}") -> dict:
            return {{"site_id": site_id, "rows_loaded": 0}}

        sync()
'''


def write_sites(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        site_id = f"cycle-{i:04d}"
        refs = [f"ACCC8E{i:04d}{door:02d}" for door in (1, 2)]
        text = axis_site_yaml(site_id, f"Cycle site {i}", refs, res="5m", capacity=400, hours="00:00-24:00")
        (directory / f"{site_id}.yaml").write_text(text, encoding="utf-8")


def parse_durations(env: dict[str, str], runs: int) -> dict[str, float]:
    """`airflow dag-processor --num-runs R`, then the last parse duration of each file from Airflow's `dag` rows."""
    from sqlalchemy import create_engine, text

    from footfall_devtools.local_airflow import LocalAirflow

    airflow = LocalAirflow(env)
    airflow.cli("dag-processor", "--num-runs", str(runs), timeout=1800)
    engine = create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT relative_fileloc, MAX(last_parse_duration), COUNT(*) FROM dag GROUP BY relative_fileloc")
        ).all()
    engine.dispose()
    return {str(f): float(d) for f, d, _ in rows if d is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)

    from footfall_devtools.local_airflow import LocalAirflow, airflow_env

    with tempfile.TemporaryDirectory(prefix="footfall-dag-parse-") as tmp:
        root = Path(tmp)
        sites_dir, dags_dir = root / "sites", root / "dags"
        write_sites(sites_dir, args.sites)
        shutil.copytree(REPO / "dags", dags_dir, ignore=shutil.ignore_patterns("__pycache__"))
        (dags_dir / "noop_dags.py").write_text(NOOP_DAGS.format(count=args.sites), encoding="utf-8")

        os.environ["FOOTFALL_SITES_DIR"] = str(sites_dir)
        from footfall import config

        config.load_presets()
        t0 = time.perf_counter()
        sites, errors = config.load_registry(sites_dir)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        config.load_registry(sites_dir)
        warm = time.perf_counter() - t0
        assert len(sites) == args.sites and not errors

        figures: dict[str, dict[str, float]] = {}
        for preload in ("true", "false"):
            home = root / f"home-{preload}"
            home.mkdir()
            env = airflow_env(
                home,
                extra={
                    "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
                    "FOOTFALL_SITES_DIR": str(sites_dir),
                    "FOOTFALL_DATA_DIR": str(root / "data"),
                    "FOOTFALL_PRELOAD": preload,
                    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "0",
                    "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "600",
                },
            )
            LocalAirflow(env).migrate()
            figures[preload] = parse_durations(env, args.runs)
            print(f"preload={preload}: {figures[preload]}", flush=True)

    files = sorted({f for fig in figures.values() for f in fig})
    print(f"{'file':24} {'warm registry s':>16} {'no warm-up s':>13}")
    for f in files:
        print(f"{f:24} {fmt(figures['true'].get(f), 2):>16} {fmt(figures['false'].get(f), 2):>13}")
    print(f"registry load in-process: cold {cold:.2f} s, warm (no file changed) {warm:.3f} s for {args.sites} files")
    floor = figures["true"].get("noop_dags.py")
    sites_warm, sites_cold = figures["true"].get("sites.py"), figures["false"].get("sites.py")
    values: dict[str, object] = {
        "sites": args.sites,
        "sites_py_parse_s": sites_warm,
        "sites_py_parse_no_warmup_s": sites_cold,
        "noop_parse_s": floor,
        "ratio_vs_noop": round(sites_warm / floor, 2) if sites_warm and floor else None,
        "forecasts_py_parse_s": figures["true"].get("forecasts.py"),
        "import_history_py_parse_s": figures["true"].get("import_history.py"),
        "registry_cold_s": round(cold, 2),
        "registry_warm_s": round(warm, 3),
        "peak_rss_mb": round(peak_rss_mb()),
    }
    print(result_line(values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
