"""DAG policy: every site DAG parses, and follows the rules the data team relies on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import CronDataIntervalTimetable

from footfall.dag_factory import counts_asset

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
DEMO_SITES = sorted(p.stem for p in (REPO / "include" / "sites").glob("*.yaml"))


def parse() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def site_dag_ids(bag: DagBag) -> list[str]:
    return sorted(d for d in bag.dag_ids if d.startswith("site__"))


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    assert "FOOTFALL_SITES_DIR" not in os.environ  # the demo registry
    return parse()


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_site_file(dagbag):
    assert DEMO_SITES, "the demo registry has site files"
    site_dags = sorted(d for d in dagbag.dag_ids if d.startswith("site__"))
    assert site_dags == [f"site__{site_id}" for site_id in DEMO_SITES]


def test_every_dag_policy(dagbag):
    """Every footfall DAG, site or not: tagged, documented, and retried."""
    for dag in dagbag.dags.values():
        assert "footfall" in dag.tags, dag.dag_id
        assert dag.doc_md, dag.dag_id
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag.dag_id}.{task.task_id} needs retries >= 2"


def test_import_history_dag(dagbag):
    dag = dagbag.dags["import_history"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # triggered by analysts, never scheduled
    assert set(dag.params) >= {"site", "start", "end", "source", "file", "chunk"}
    assert dag.params.get_param("site").schema["enum"] == DEMO_SITES
    assert sorted(dag.task_ids) == ["import_chunk", "plan"]
    assert dag.get_task("import_chunk").upstream_task_ids == {"plan"}


@pytest.mark.parametrize("site_id", DEMO_SITES)
def test_site_dag_policy(dagbag, site_id):
    dag = dagbag.dags[f"site__{site_id}"]

    assert "footfall" in dag.tags
    assert dag.doc_md and "footfall" in dag.doc_md
    assert dag.description

    timetable = dag.timetable
    assert isinstance(timetable, CronDataIntervalTimetable)
    assert timetable.expression == "*/5 * * * *"
    assert str(getattr(timetable.timezone, "name", timetable.timezone)) == "UTC"
    assert dag.catchup is False
    assert 1 <= dag.max_active_runs <= 16
    assert dag.start_date is not None and dag.start_date.tzinfo is not None

    assert dag.task_ids == ["sync"]
    for task in dag.tasks:
        assert task.retries >= 2, f"{dag.dag_id}.{task.task_id} needs retries >= 2"
        assert task.execution_timeout is not None
    assert dag.get_task("sync").outlets == [counts_asset(site_id)]
    assert dag.get_task("sync").multiple_outputs is False  # the run's summary is one XCom, not one per key


def test_parsing_imports_no_heavy_libraries():
    """The DAG file is parsed every few seconds: the data libraries load only when a task runs."""
    code = (
        "import sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS_FOLDER)!r})\n"
        "assert bag.dags and not bag.import_errors, bag.import_errors\n"
        "heavy = [m for m in ('pandas', 'great_expectations', 'footfall.pipeline') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    path = os.pathsep.join(filter(None, [str(REPO / "include"), os.environ.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "HEAVY=\n" in out.stdout, out.stdout[-2000:]


# --- a registry with broken files ------------------------------------------------------------------------


def test_broken_site_file_is_one_import_error(registry, site_doc):
    for site_id in ("alpha", "beta", "gamma"):
        registry.add_site(site_id)
    broken = registry.write(site_doc("delta", timezone="Mars/Olympus_Mons"))

    bag = parse()

    assert site_dag_ids(bag) == ["site__alpha", "site__beta", "site__gamma"]
    assert len(bag.import_errors) == 1
    ((where, message),) = bag.import_errors.items()
    assert Path(where) == DAGS_FOLDER / "site_files.py"  # not sites.py: Airflow would hide every site DAG
    assert str(broken) in message
    assert "timezone: 'Mars/Olympus_Mons' is not an IANA time zone" in message


def test_several_broken_files_still_one_import_error_naming_each(registry, site_doc):
    registry.add_site("alpha")
    bad_yaml = registry.write_text("beta.yaml", "id: beta\nname: [unclosed\n")
    bad_preset = registry.write(site_doc("gamma", source={**site_doc()["source"], "preset": "acme"}))

    bag = parse()

    assert site_dag_ids(bag) == ["site__alpha"]
    assert len(bag.import_errors) == 1
    ((where, message),) = bag.import_errors.items()
    assert Path(where) == DAGS_FOLDER / "site_files.py"
    assert str(bad_yaml) in message and "not valid YAML" in message
    assert str(bad_preset) in message and "source.preset 'acme' is unknown" in message


def test_empty_registry_gives_no_dags_and_no_errors(registry):
    bag = parse()
    assert site_dag_ids(bag) == []
    assert bag.import_errors == {}


# --- parsing for one task run ------------------------------------------------------------------------------


def test_parsing_context_builds_only_that_dag(registry, site_doc, monkeypatch):
    registry.add_site("alpha")
    registry.add_site("beta")
    registry.write(site_doc("gamma", timezone="Nowhere/Land"))  # never read when running alpha's task
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "site__alpha")

    bag = parse()

    assert site_dag_ids(bag) == ["site__alpha"]
    assert bag.import_errors == {}


def test_parsing_context_for_a_broken_site_reports_the_error(registry, site_doc, monkeypatch):
    registry.add_site("alpha")
    broken = registry.write(site_doc("gamma", timezone="Nowhere/Land"))
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "site__gamma")

    bag = parse()

    assert "site__gamma" not in bag.dag_ids
    (message,) = bag.import_errors.values()
    assert str(broken) in message


# --- alerts ------------------------------------------------------------------------------------------------


def test_a_site_with_alerts_gets_a_failure_callback(registry, site_doc):
    registry.write(
        site_doc("alerted", alerts={"webhook_connection_id": "footfall_alerts", "email": ["ops@example.org"]})
    )
    registry.add_site("quiet")

    bag = parse()

    assert bag.import_errors == {}
    callbacks = bag.dags["site__alerted"].get_task("sync").on_failure_callback
    assert sorted(type(c).__name__ for c in callbacks) == ["SmtpNotifier", "WebhookNotifier"]
    assert callbacks[[type(c).__name__ for c in callbacks].index("WebhookNotifier")].connection_id == "footfall_alerts"
    assert not bag.dags["site__quiet"].get_task("sync").on_failure_callback


# --- site DAGs explain themselves ---------------------------------------------------------------------------


def test_site_dag_is_named_and_documented_from_its_site_file(registry, site_doc):
    path = registry.write(
        site_doc(
            "docs",
            name="Piscine des Docs",
            capacity=120,
            opening_hours={"regular": {"mon": "08:00-12:00, 14:00-20:00"}, "closed_days": ["2026-12-25"]},
        )
    )

    dag = parse().dags["site__docs"]

    assert dag.dag_display_name == "Piscine des Docs"
    doc = dag.doc_md
    assert doc.startswith("# Piscine des Docs")
    for expected in (
        "| time zone | Europe/Paris |",
        "| capacity | 120 |",
        "| source | http_json, preset `axis_tvpc_export_json` |",
        "| connection id | `footfall_sim` |",
        "| `main-door` |",
        "`SIM0000001`",
        "| mon | 08:00-12:00, 14:00-20:00 |",
        "| tue | closed |",
        "Closed: 2026-12-25",
        f"| site file | `{path}` |",
        "(/dags/site__docs/plugin/footfall-site)",
        "footfall site DAGs",  # the common doc follows the site's own
    ):
        assert expected in doc, expected
