"""The 5-minute cycle under the real scheduler: N footfall sites beside N no-op one-task DAGs.

Usage: .venv/bin/python bench/cycle.py [--sites 150,300,600] [--cycles 3] [--warmup 1]
       [--pg URL] [--executor local|celery] [--workers 2] [--kinds footfall,noop] [--set KEY=VALUE ...]
       [--pre-age-days D [--clean-after K]] [--settings deploy|harness]

For each kind (footfall's site DAGs, then no-op DAGs of the same shape: one `sync` task, the same
timetable) and each N in turn, one real Airflow (api-server, scheduler, dag-processor, and Celery
workers with --executor celery) on a fresh PostgreSQL metadata database, with a fresh PostgreSQL
warehouse and the simulator serving N generated Axis sites (bench/_common.axis_site_yaml). The DAGs
run live, as in production: every 5 minutes the scheduler creates each DAG's run for the interval
that just ended. After --warmup cycles, --cycles cycles are measured, per cycle:

- runs whose task finished before the next interval ended ("within the cycle"), and failures;
- freshness: for footfall, `sync_run.finished_at` minus the interval's end (the data is in the
  warehouse); for no-op DAGs, the task's end minus the interval's end; p50 / p95 / max;
- task duration p50 / p95;
- CPU seconds per site-run, split by process: scheduler (its own process), executor (LocalExecutor
  workers or Celery workers, with the task processes they fork), dag-processor, api-server.

- the burst: every DAG's run is due at the same second; how long after the interval's end the
  scheduler created the runs (`dag_run.queued_at`) and the tasks started (`task_instance.start_date`),
  p50 / p95 / max.

The scheduler's and dag-processor's settings are deploy/airflow.env's (`--settings harness`: the local
harness's alone). With LocalExecutor, parallelism is the harness's (4); with --executor celery, each
worker runs deploy/airflow.env's `WORKER_CONCURRENCY` tasks and parallelism is workers x that, as
deploy/airflow.env sizes it for its two workers. `--set` overrides any of them.

`--pre-age-days D` first writes D days of finished 5-minute runs for the N DAGs into the metadata
database (footfall_devtools.metadata_aging: what a deployment accumulates, 288 runs per DAG per day);
`--clean-after K` then runs footfall's metadata clean (`airflow db clean`, the maintenance DAG's
step, keeping 1 day) once K measured cycles are done, so the cycles before and after it compare
the scheduler's cost and run-creation lag on an aged and a cleaned database.

A kind "keeps up" at N when every DAG's interval finished within its cycle, in every measured cycle.
The largest N that keeps up is reported per kind; the N list is walked upwards and a kind stops at
its first N that does not keep up. Each (kind, N) costs (warmup + cycles + 1) * 5 minutes.

Prints a table and, last, one `RESULT key=value ...` line. Loopback only; every process it starts
is stopped on exit.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from _common import (
    NOOP_DAGS,
    axis_site_yaml,
    fmt,
    peak_rss_mb,
    result_line,
    start_simulator,
    temp_postgres_database,
)

REPO = Path(__file__).resolve().parents[1]
STEP = timedelta(minutes=5)
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
T0 = time.perf_counter()


# deploy/airflow.env's knobs for this workload that the bench applies too (the executor and login stay the
# harness's: LocalExecutor on one box, or --executor celery with the deployments' slots, `celery_slots`).
DEPLOY_PREFIXES = ("AIRFLOW__SCHEDULER__", "AIRFLOW__DAG_PROCESSOR__", "AIRFLOW__CORE__EXECUTE_TASKS_NEW_PYTHON")


def _deploy_env() -> dict[str, str]:
    out = {}
    for line in (REPO / "deploy" / "airflow.env").read_text(encoding="utf-8").splitlines():
        key, _, value = line.strip().partition("=")
        if key.startswith("AIRFLOW__") and value:
            out[key] = value
    return out


def deploy_settings() -> dict[str, str]:
    """The scheduler's and dag-processor's settings of deploy/airflow.env (what production runs)."""
    return {key: value for key, value in _deploy_env().items() if key.startswith(DEPLOY_PREFIXES)}


def celery_slots(workers: int) -> dict[str, str]:
    """deploy/airflow.env's tasks per Celery worker, and parallelism for `workers` of them."""
    per_worker = _deploy_env()["AIRFLOW__CELERY__WORKER_CONCURRENCY"]
    return {
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": per_worker,
        "AIRFLOW__CORE__PARALLELISM": str(workers * int(per_worker)),
    }


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.0f} s] {message}", flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Cycle:
    start: datetime
    expected: int
    within: int = 0
    failed: int = 0
    freshness: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    created: list[float] = field(default_factory=list)  # dag_run.queued_at - interval end (run creation lag)
    started: list[float] = field(default_factory=list)  # task start - interval end
    after_clean: bool = False

    @property
    def kept_up(self) -> bool:
        return self.within == self.expected and not self.failed


@dataclass
class Phase:
    kind: str
    sites: int
    executor: str
    cycles: list[Cycle] = field(default_factory=list)

    @property
    def kept_up(self) -> bool:
        return bool(self.cycles) and all(c.kept_up for c in self.cycles)

    def cpu_per_run(self, part: str | None = None) -> float | None:
        runs = sum(c.expected for c in self.cycles)
        if not runs:
            return None
        return sum(v for c in self.cycles for k, v in c.cpu.items() if part in (None, k)) / runs

    def all_(self, attr: str) -> list[float]:
        return [v for c in self.cycles for v in getattr(c, attr)]


class CpuSplit:
    """CPU seconds of Airflow's components, the executor's workers and task processes apart from the scheduler."""

    def __init__(self, processes: dict[str, int]):
        self.processes = processes

    @staticmethod
    def _own(proc: psutil.Process) -> float:
        t = proc.cpu_times()
        return t.user + t.system

    @staticmethod
    def _tree(proc: psutil.Process) -> float:
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
        return total

    def read(self) -> dict[str, float]:
        parts: dict[str, float] = {"scheduler": 0.0, "executor": 0.0, "dag-processor": 0.0, "api-server": 0.0}
        for name, pid in self.processes.items():
            try:
                proc = psutil.Process(pid)
                if name == "scheduler":
                    own = self._own(proc)
                    parts["scheduler"] += own
                    parts["executor"] += self._tree(proc) - own  # LocalExecutor workers and their tasks
                elif name.startswith("worker"):
                    parts["executor"] += self._tree(proc)
                else:
                    parts[name] = parts.get(name, 0.0) + self._tree(proc)
            except psutil.Error:
                continue
        return parts


def next_boundary(now: datetime) -> datetime:
    floor = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    return floor + STEP


def sleep_until(moment: datetime) -> None:
    while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 5))


def write_sites(directory: Path, count: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(count):
        site_id = f"cycle-{i:04d}"
        refs = [f"ACCC8E{i:04d}{door:02d}" for door in (1, 2)]
        text = axis_site_yaml(site_id, f"Cycle site {i}", refs, res="5m", capacity=400, hours="00:00-24:00")
        (directory / f"{site_id}.yaml").write_text(text, encoding="utf-8")
        ids.append(site_id)
    return ids


def measure_phase(args: argparse.Namespace, kind: str, n: int, tmp: Path) -> Phase:
    import subprocess

    from sqlalchemy import create_engine, text

    from footfall_devtools.local_airflow import LocalAirflow, airflow_env, free_port

    phase = Phase(kind, n, args.executor)
    work = tmp / f"{kind}-{n}"
    with ExitStack() as stack:
        metadata = stack.enter_context(temp_postgres_database(args.pg, f"cycle_af_{kind}_{n}"))
        warehouse = stack.enter_context(temp_postgres_database(args.pg, f"cycle_wh_{kind}_{n}"))
        extra = {
            "FOOTFALL_DB_URL": warehouse,
            "FOOTFALL_PRELOAD": "true",
            "FOOTFALL_DATA_DIR": str(work / "data"),  # Data Docs and exports stay in the run's temp folder
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "120",
            **(deploy_settings() if args.settings == "deploy" else {}),
        }
        if kind == "footfall":
            sites_dir = work / "sites"
            dag_ids = [f"site__{s}" for s in write_sites(sites_dir, n)]
            port = free_port()
            sim = start_simulator(port, sites_dir, seed=n)
            stack.callback(sim.terminate)
            extra |= {"FOOTFALL_SITES_DIR": str(sites_dir), "AIRFLOW_CONN_FOOTFALL_SIM": f"http://127.0.0.1:{port}"}
        else:
            dags_dir = work / "dags"
            dags_dir.mkdir(parents=True)
            (dags_dir / "noop_dags.py").write_text(NOOP_DAGS.format(count=n), encoding="utf-8")
            dag_ids = [f"noop__{i:04d}" for i in range(n)]
            extra["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_dir)
        if args.executor == "celery":
            extra |= {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": args.redis,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata,
            }
            if args.settings == "deploy":  # the deployments' slots: parallelism = workers x tasks per worker
                extra |= celery_slots(args.workers)
        extra |= dict(kv.split("=", 1) for kv in args.set)
        env = airflow_env(work / "airflow_home", api_port=free_port(), metadata_url=metadata, extra=extra)
        if kind == "footfall":
            subprocess.run([str(Path(sys.executable).with_name("footfall")), "db", "upgrade"], env=env, check=True)
        airflow = stack.enter_context(LocalAirflow(env))
        airflow.migrate()
        if args.pre_age_days:
            from footfall_devtools.metadata_aging import age_metadata

            now = datetime.now(UTC)
            aged_until = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5) - 2 * STEP
            t_age = time.perf_counter()
            aged = age_metadata(
                metadata, dag_ids, first=aged_until - timedelta(days=args.pre_age_days), last=aged_until
            )
            progress(f"{kind} N={n}: metadata pre-aged with {aged} runs in {time.perf_counter() - t_age:.0f} s")
        airflow.start()
        if args.executor == "celery":
            airflow.start_celery_workers(args.workers)
        pids = {name: proc.pid for name, proc in airflow.processes.items()}
        airflow.wait_for_dags(dag_ids, timeout=600)
        progress(f"{kind} N={n} ({args.executor}): {len(dag_ids)} DAGs parsed; warming up for {args.warmup} cycle(s)")
        cpu = CpuSplit(pids)
        first = next_boundary(datetime.now(UTC)) + args.warmup * STEP
        sleep_until(first)
        readings = [cpu.read()]
        cleaned_at: int | None = None
        for c in range(args.cycles):
            sleep_until(first + (c + 1) * STEP)
            readings.append(cpu.read())
            progress(f"{kind} N={n}: cycle {c + 1}/{args.cycles} done")
            if args.pre_age_days and args.clean_after == c + 1:
                from footfall.maintenance import clean_airflow_metadata

                t_clean = time.perf_counter()
                clean_airflow_metadata(1, datetime.now(UTC), environ=env)
                cleaned_at = c + 1
                progress(f"{kind} N={n}: airflow db clean (keep 1 day) took {time.perf_counter() - t_clean:.0f} s")
        # The last measured interval's runs have until the end of the next interval to finish.
        sleep_until(first + (args.cycles + 1) * STEP + timedelta(seconds=5))
        meta = create_engine(metadata)
        wh = create_engine(warehouse) if kind == "footfall" else None
        for c in range(args.cycles):
            # Cycle c measures the interval [start - 5 min, start): its runs are created at `start`.
            start = first + c * STEP
            cycle = Cycle(start, len(dag_ids))
            deadline = start + STEP
            with meta.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT dr.dag_id, ti.state, ti.end_date, ti.duration, dr.queued_at, ti.start_date"
                        " FROM dag_run dr"
                        " JOIN task_instance ti ON ti.dag_id = dr.dag_id AND ti.run_id = dr.run_id"
                        " WHERE dr.run_type = 'scheduled' AND dr.data_interval_end = :end"
                    ),
                    {"end": start},
                ).all()
            cycle.after_clean = cleaned_at is not None and c >= cleaned_at
            for _dag_id, state, end_date, duration, queued_at, started_at in rows:
                if queued_at is not None:
                    cycle.created.append((queued_at - start).total_seconds())
                if started_at is not None:
                    cycle.started.append((started_at - start).total_seconds())
                if state == "failed":
                    cycle.failed += 1
                if state == "success" and end_date is not None and end_date <= deadline:
                    cycle.within += 1
                if duration is not None:
                    cycle.durations.append(float(duration))
                if kind == "noop" and end_date is not None:
                    cycle.freshness.append((end_date - start).total_seconds())
            if wh is not None:
                with wh.connect() as conn:
                    loaded = conn.execute(
                        text(
                            "SELECT finished_at FROM sync_run WHERE window_end = :end AND outcome = 'success'"
                            " AND run_id LIKE 'scheduled__%'"
                        ),
                        {"end": start},
                    ).all()
                cycle.freshness = [(f - start).total_seconds() for (f,) in loaded if f is not None]
            before, after = readings[c], readings[c + 1]
            cycle.cpu = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
            phase.cycles.append(cycle)
        meta.dispose()
        if wh is not None:
            wh.dispose()
    return phase


def report(phases: list[Phase]) -> None:
    header = (
        f"{'kind':9} {'exec':7} {'N':>5} {'cycle':>5} {'within':>9} {'fail':>4} {'fresh p50/p95/max s':>20}"
        f" {'task p50/p95 s':>15} {'created p50/max s':>17} {'started p50/p95/max s':>21}"
        f" {'CPU/run s (sched, exec, dagproc, api)':>40}"
    )
    print(header)
    for ph in phases:
        for i, c in enumerate(ph.cycles, 1):
            parts = ", ".join(fmt(c.cpu.get(k, 0.0) / max(c.expected, 1), 2) for k in ("scheduler", "executor"))
            parts += ", " + ", ".join(
                fmt(c.cpu.get(k, 0.0) / max(c.expected, 1), 2) for k in ("dag-processor", "api-server")
            )
            total = sum(c.cpu.values()) / max(c.expected, 1)
            fresh = "/".join(fmt(pct(c.freshness, q), 0) for q in (0.5, 0.95, 1.0))
            task = "/".join(fmt(pct(c.durations, q), 2) for q in (0.5, 0.95))
            created = "/".join(fmt(pct(c.created, q), 0) for q in (0.5, 1.0))
            started = "/".join(fmt(pct(c.started, q), 0) for q in (0.5, 0.95, 1.0))
            mark = "*" if c.after_clean else " "
            print(
                f"{ph.kind:9} {ph.executor:7} {ph.sites:>5} {i:>4}{mark} {f'{c.within}/{c.expected}':>9} {c.failed:>4}"
                f" {fresh:>20} {task:>15} {created:>17} {started:>21} {fmt(total, 2):>6} ({parts})"
            )
    if any(c.after_clean for ph in phases for c in ph.cycles):
        print("* measured after `airflow db clean` of the pre-aged metadata")


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so every Airflow process and database is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", default="150,300,600", help="comma-separated N, walked upwards")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--kinds", default="footfall,noop")
    parser.add_argument("--executor", choices=("local", "celery"), default="local")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (with --executor celery)")
    parser.add_argument("--pg", default=os.environ.get("FOOTFALL_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument("--redis", default=os.environ.get("FOOTFALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--set", action="append", default=[], help="an Airflow setting for this run: KEY=VALUE")
    parser.add_argument(
        "--settings",
        choices=("deploy", "harness"),
        default="deploy",
        help="deploy: deploy/airflow.env's scheduler and dag-processor knobs; harness: the local harness's alone",
    )
    parser.add_argument("--pre-age-days", type=float, default=0, help="days of finished runs written first")
    parser.add_argument("--clean-after", type=int, default=0, help="run airflow db clean after K measured cycles")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sites.split(","))
    phases: list[Phase] = []
    largest: dict[str, int] = {}
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="footfall-cycle-") as tmp:
        try:
            for kind in args.kinds.split(","):
                for n in sizes:
                    phase = measure_phase(args, kind, n, Path(tmp))
                    phases.append(phase)
                    progress(f"{kind} N={n}: {'keeps up' if phase.kept_up else 'falls behind'}")
                    if not phase.kept_up:
                        break
                    largest[kind] = n
        except KeyboardInterrupt:  # the phases finished so far are still reported
            progress("interrupted: reporting the phases measured so far")
    report(phases)
    values: dict[str, object] = {
        "executor": args.executor,
        "cycles": args.cycles,
        "pre_age_days": args.pre_age_days,
        "settings": args.settings,
    }
    for ph in phases:
        key = f"{ph.kind}_{ph.sites}"
        values[f"{key}_kept_up"] = int(ph.kept_up)
        values[f"{key}_fresh_p95_s"] = pct(ph.all_("freshness"), 0.95)
        values[f"{key}_fresh_max_s"] = pct(ph.all_("freshness"), 1.0)
        values[f"{key}_task_p50_s"] = pct(ph.all_("durations"), 0.5)
        values[f"{key}_cpu_per_run_s"] = ph.cpu_per_run()
        values[f"{key}_scheduler_cpu_per_run_s"] = ph.cpu_per_run("scheduler")
        values[f"{key}_executor_cpu_per_run_s"] = ph.cpu_per_run("executor")
        values[f"{key}_created_max_s"] = pct(ph.all_("created"), 1.0)
        values[f"{key}_started_p95_s"] = pct(ph.all_("started"), 0.95)
        if args.pre_age_days:
            for label, group in (("aged", False), ("cleaned", True)):
                cycles = [c for c in ph.cycles if c.after_clean is group]
                runs = sum(c.expected for c in cycles)
                sched = sum(c.cpu.get("scheduler", 0.0) for c in cycles)
                values[f"{key}_{label}_scheduler_cpu_per_run_s"] = round(sched / runs, 3) if runs else None
                values[f"{key}_{label}_created_p95_s"] = pct([v for c in cycles for v in c.created], 0.95)
    for kind in args.kinds.split(","):
        values[f"largest_n_{kind}"] = largest.get(kind, 0)
    if largest.get("noop"):
        values["largest_n_ratio"] = round(largest.get("footfall", 0) / largest["noop"], 2)
    if largest:
        n = min(largest.values())
        cpu = {ph.kind: ph.cpu_per_run() for ph in phases if ph.sites == n}
        if cpu.get("footfall") and cpu.get("noop"):
            values["cpu_ratio_vs_noop"] = round(cpu["footfall"] / cpu["noop"], 2)
    values["peak_rss_mb"] = round(peak_rss_mb())
    print(result_line(values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
