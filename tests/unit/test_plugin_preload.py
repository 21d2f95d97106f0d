"""The plugin's preload runs once per process tree: never again in a task process forked from a warmed parent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from footfall.ui.preload import should_preload

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "footfall_plugin.py"
SCHEDULER = ["/venv/bin/airflow", "scheduler"]


def test_only_forking_processes_preload():
    assert should_preload(SCHEDULER, {}, {})
    assert should_preload(["airflow", "celery", "worker"], {}, {})
    assert not should_preload(["airflow", "api-server"], {}, {})
    assert not should_preload(["airflow", "dag-processor"], {}, {})


def test_a_warmed_process_tree_does_not_preload_again():
    assert not should_preload(SCHEDULER, {"footfall.pipeline": object()}, {})


def test_preload_can_be_turned_off():
    assert not should_preload(SCHEDULER, {}, {"FOOTFALL_PRELOAD": "false"})
    assert should_preload(SCHEDULER, {}, {"FOOTFALL_PRELOAD": "true"})


FORK_SCRIPT = f"""
import importlib.util, os, sys
sys.argv = {SCHEDULER!r}

def import_plugin(name):
    spec = importlib.util.spec_from_file_location(name, {str(PLUGIN)!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

import_plugin("footfall_plugin_in_scheduler")  # warms up, as the scheduler does at start
import footfall.config as config
import footfall.pipeline as pipeline
print("SCHEDULER_WARM", "footfall.pipeline" in sys.modules, flush=True)
# what a task's DAG file and run import, so that no task imports it again
inherited = ("footfall.dag_factory", "footfall.sources.http", "footfall.sources.push", "footfall.forecast.nowcast")
print("TASK_MODULES_WARM", all(name in sys.modules for name in inherited), flush=True)

calls = []
pipeline.warm_up = lambda: calls.append("warm_up")
config.load_registry = lambda *a, **k: calls.append("load_registry")
pid = os.fork()
if pid == 0:  # a task process: Airflow's task runner imports the plugin again, argv still the scheduler's
    import_plugin("footfall_plugin_in_task")
    os._exit(len(calls) + 10 * ("footfall.ui.app" in sys.modules))  # the pages app is built only when served
_, status = os.waitpid(pid, 0)
print("TASK_CALLS", os.waitstatus_to_exitcode(status), flush=True)
"""


def test_a_forked_task_neither_warms_up_nor_loads_the_registry(tmp_path):
    env = {
        **os.environ,
        "FOOTFALL_PRELOAD": "true",
        "FOOTFALL_SITES_DIR": str(REPO / "include" / "sites"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "include"), os.environ.get("PYTHONPATH")])),
    }
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SCHEDULER_WARM True" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "TASK_CALLS 0" in out.stdout, out.stdout
    assert "TASK_MODULES_WARM True" in out.stdout, out.stdout
