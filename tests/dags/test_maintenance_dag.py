"""The maintenance DAG parses, runs daily and orders its steps: metadata clean, retention, then VACUUM."""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

from footfall.maintenance import db_clean_command, metadata_retention_days

REPO = Path(__file__).resolve().parents[2]


def test_the_maintenance_dag_orders_its_steps():
    bag = DagBag(dag_folder=str(REPO / "dags" / "maintenance.py"))
    assert bag.import_errors == {}
    dag = bag.dags["maintenance"]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert dag.get_task("raw_payload_retention").upstream_task_ids == {"clean_airflow_metadata"}
    assert dag.get_task("vacuum_warehouse").upstream_task_ids == {"raw_payload_retention"}
    assert all(t.retries >= 2 for t in dag.tasks) and "footfall" in dag.tags


def test_db_clean_command_and_retention_setting():
    from datetime import UTC, datetime

    command = db_clean_command(7, datetime(2026, 12, 8, 2, 40, tzinfo=UTC), airflow="airflow")
    assert command[:5] == ["airflow", "db", "clean", "--clean-before-timestamp", "2026-12-01T02:40:00+00:00"]
    assert {"--skip-archive", "--yes", "--error-on-cleanup-failure"} <= set(command)
    assert metadata_retention_days({}) == 7 and metadata_retention_days({"FOOTFALL_METADATA_RETENTION_DAYS": "3"}) == 3
