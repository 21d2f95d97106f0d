"""Parsing N site files as Airflow's dag-processor does, beside N no-op DAGs of the same shape.

Usage: .venv/bin/python bench/dag_parse.py [--sites 1000] [--repeat 5]

Airflow 3.3's dag-processor forks one process per DAG file parse from its own long-lived process;
the child builds a DagBag of that one file and serializes its DAGs (dag_processing.processor:
`BundleDagBag`, `_serialize_dags`), then exits. This bench does the same with Airflow's own
functions: a parent process that has imported Airflow and footfall's DAG factory (what the plugin
and Airflow's pre-import give the dag-processor), then per file `--repeat` forked parses, timed in
the child from fork to serialized DAGs, min and median. Files: the project's DAG files (`sites.py`
builds the site DAGs; `site_files.py`, `forecasts.py`, `import_history.py` also read the registry)
and `noop_dags.py`, N DAGs of one `sync` task on the site DAGs' timetable: Airflow's own cost of N
DAGs (the floor). Two parents: with the footfall plugin's registry warm-up (production: the
dag-processor validates every site file once, each forked parse only the files that changed) and
without (every parse decodes and validates every file).

Each parse is timed in wall seconds and in the child's CPU seconds: on a shared box the wall time
follows the load average (the same parse took 1.6 s or 12 s), the CPU time much less, so the
target (1,000 site files parsed in <= 2 s) is read on `sites_py_parse_cpu_s`, beside the no-op
floor's `noop_parse_cpu_s`.

N site files are generated with bench/_common.axis_site_yaml. Prints a table and, last, one
`RESULT key=value ...` line. Nothing listens on the network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import NOOP_DAGS, axis_site_yaml, fmt, peak_rss_mb, result_line

REPO = Path(__file__).resolve().parents[1]
FILES = ("sites.py", "site_files.py", "forecasts.py", "import_history.py", "noop_dags.py")


def write_sites(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        site_id = f"cycle-{i:04d}"
        refs = [f"ACCC8E{i:04d}{door:02d}" for door in (1, 2)]
        text = axis_site_yaml(site_id, f"Cycle site {i}", refs, res="5m", capacity=400, hours="00:00-24:00")
        (directory / f"{site_id}.yaml").write_text(text, encoding="utf-8")


def forked_parse(path: Path, bundle: Path) -> tuple[float, float, int, int]:
    """One parse of `path` in a forked child, as the dag-processor's: (wall seconds, CPU seconds, DAGs,
    import errors). On a shared box the wall time follows the load; the child's CPU time much less."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, serialize, report, exit without running the parent's cleanup
        os.close(read)
        code = 0
        try:
            import structlog
            from airflow.dag_processing.dagbag import BundleDagBag
            from airflow.dag_processing.processor import _serialize_dags

            t0, c0 = time.perf_counter(), time.process_time()
            bag = BundleDagBag(dag_folder=path, bundle_path=bundle, bundle_name="dags-folder", load_op_links=False)
            dags, errors = _serialize_dags(bag, structlog.get_logger())
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            os.write(write, f"{seconds} {cpu} {len(dags)} {len(bag.import_errors) + len(errors)}".encode())
        except BaseException as exc:
            os.write(write, f"error {type(exc).__name__}: {exc}".encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    if answer.startswith("error"):
        raise RuntimeError(f"{path.name}: {answer}")
    seconds, cpu, dags, errors = answer.split()
    return float(seconds), float(cpu), int(dags), int(errors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="footfall-dag-parse-") as tmp:
        root = Path(tmp)
        sites_dir, dags_dir = root / "sites", root / "dags"
        write_sites(sites_dir, args.sites)
        shutil.copytree(REPO / "dags", dags_dir, ignore=shutil.ignore_patterns("__pycache__"))
        (dags_dir / "noop_dags.py").write_text(NOOP_DAGS.format(count=args.sites), encoding="utf-8")
        os.environ.update(
            {
                "FOOTFALL_SITES_DIR": str(sites_dir),
                "FOOTFALL_DATA_DIR": str(root / "data"),
                "AIRFLOW_HOME": str(root / "airflow_home"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            }
        )
        import airflow.sdk  # noqa: F401 - the dag-processor's own process has Airflow imported

        import footfall.dag_factory  # noqa: F401 - pre-imported by Airflow's parsing_pre_import_modules
        from footfall import config

        config.load_presets()
        figures: dict[str, dict[str, list[float]]] = {"cold": {}, "warm": {}}
        cpu: dict[str, list[float]] = {}  # warm parses' CPU seconds per file
        counts: dict[str, tuple[int, int]] = {}
        for mode in ("cold", "warm"):
            t0 = time.perf_counter()
            if mode == "warm":
                config.load_registry()  # what the plugin does in the dag-processor's own process
                warm_up_s = time.perf_counter() - t0
            for name in FILES:
                runs = [forked_parse(dags_dir / name, dags_dir) for _ in range(args.repeat)]
                figures[mode][name] = [s for s, _, _, _ in runs]
                if mode == "warm":
                    cpu[name] = [c for _, c, _, _ in runs]
                counts[name] = runs[-1][2:]
            print(f"{mode}: " + ", ".join(f"{n} {min(v):.2f}" for n, v in figures[mode].items()), flush=True)

    print(
        f"{'file':20} {'DAGs':>5} {'errors':>6} {'warm min/median s':>18} {'warm CPU min s':>15}"
        f" {'cold min/median s':>18}"
    )
    for name in FILES:
        warm, cold = figures["warm"][name], figures["cold"][name]
        print(
            f"{name:20} {counts[name][0]:>5} {counts[name][1]:>6}"
            f" {fmt(min(warm), 2) + ' / ' + fmt(statistics.median(warm), 2):>18} {fmt(min(cpu[name]), 2):>15}"
            f" {fmt(min(cold), 2) + ' / ' + fmt(statistics.median(cold), 2):>18}"
        )
    print(f"registry warm-up in the dag-processor's own process (once): {warm_up_s:.2f} s for {args.sites} files")
    floor = min(figures["warm"]["noop_dags.py"])
    sites_warm = min(figures["warm"]["sites.py"])
    values: dict[str, object] = {
        "sites": args.sites,
        "sites_py_parse_s": round(sites_warm, 2),
        "sites_py_parse_cold_s": round(min(figures["cold"]["sites.py"]), 2),
        "noop_parse_s": round(floor, 2),
        "sites_py_parse_cpu_s": round(min(cpu["sites.py"]), 2),
        "noop_parse_cpu_s": round(min(cpu["noop_dags.py"]), 2),
        "cpu_ratio_vs_noop": round(min(cpu["sites.py"]) / min(cpu["noop_dags.py"]), 2),
        "ratio_vs_noop": round(sites_warm / floor, 2),
        "registry_files_parse_s": round(sum(min(figures["warm"][n]) for n in FILES if n != "noop_dags.py"), 2),
        "registry_files_parse_cold_s": round(sum(min(figures["cold"][n]) for n in FILES if n != "noop_dags.py"), 2),
        "registry_warm_up_s": round(warm_up_s, 2),
        "peak_rss_mb": round(peak_rss_mb()),
    }
    print(result_line(values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
