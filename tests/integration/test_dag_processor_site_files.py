"""A broken site file hides only its own DAG, in Airflow's real dag-processor and metadata database.

`airflow dag-processor --num-runs N` parses the project's DAG folder into a metadata DB of its own;
the test reads Airflow's `dag` and `import_error` rows, as the UI does.
"""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import create_engine, text

from footfall_devtools.local_airflow import LocalAirflow, airflow_env

SITES = ("alpha", "beta", "gamma")


@pytest.fixture
def processor(airflow_db, registry, tmp_path):
    """A dag-processor run against a copy of the migrated metadata, on the test registry."""
    home = tmp_path / "airflow_home"
    home.mkdir()
    shutil.copy(airflow_db, home / "airflow.db")
    url = f"sqlite:///{home / 'airflow.db'}"
    env = airflow_env(
        home,
        metadata_url=url,
        extra={
            "FOOTFALL_SITES_DIR": str(registry.path),
            "FOOTFALL_PRELOAD": "false",
            # Parse every file on each loop, and scan for stale DAGs on every loop (its option is [scheduler]'s).
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "0",
            "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "1",
            "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "0",
        },
    )
    airflow = LocalAirflow(env)
    engine = create_engine(url)

    def run(num_runs: int = 2) -> tuple[dict[str, bool], dict[str, str]]:
        airflow.cli("dag-processor", "--num-runs", str(num_runs), timeout=240)
        with engine.connect() as conn:
            # This registry's DAGs (the copied metadata may hold DAGs that earlier tests serialized).
            ids = ", ".join(f"'site__{s}'" for s in SITES)
            dags = dict(conn.execute(text(f"SELECT dag_id, is_stale FROM dag WHERE dag_id IN ({ids})")).all())
            errors = dict(conn.execute(text("SELECT filename, stacktrace FROM import_error")).all())
        return {k: bool(v) for k, v in dags.items()}, errors

    yield run
    engine.dispose()


def test_a_broken_site_file_hides_only_its_own_dag(processor, registry, site_doc):
    for site_id in SITES:
        registry.add_site(site_id)

    dags, errors = processor(1)
    assert dags == {f"site__{s}": False for s in SITES}  # every DAG active
    assert errors == {}

    broken = registry.write(site_doc("beta", capacity=-5))
    dags, errors = processor(2)

    assert dags["site__alpha"] is False and dags["site__gamma"] is False  # still active
    assert dags["site__beta"] is True  # only the broken site's DAG is hidden
    assert set(errors) == {"site_files.py"}  # not sites.py, whose DAGs would all go stale
    message = errors["site_files.py"]
    assert str(broken) in message
    assert "capacity: Input should be greater than 0" in message

    registry.add_site("beta")  # fixed: the error goes, the DAG comes back
    dags, errors = processor(1)
    assert dags == {f"site__{s}": False for s in SITES}
    assert errors == {}
