"""The dag-processor validates the site registry once in its own process (the footfall plugin), and every
parse it forks still sees a site file that changed since: real `airflow dag-processor`, its metadata DB."""

from __future__ import annotations

import shutil
import subprocess
import time

from sqlalchemy import create_engine, text

from footfall_devtools.local_airflow import airflow_command, airflow_env


def test_a_parse_forked_from_the_warm_dag_processor_sees_an_edited_site_file(airflow_db, registry, site_doc, tmp_path):
    for site_id in ("alpha", "beta"):
        registry.add_site(site_id)
    home = tmp_path / "airflow_home"
    home.mkdir()
    shutil.copy(airflow_db, home / "airflow.db")
    url = f"sqlite:///{home / 'airflow.db'}"
    env = airflow_env(
        home,
        metadata_url=url,
        extra={
            "FOOTFALL_SITES_DIR": str(registry.path),
            "FOOTFALL_PRELOAD": "true",  # the plugin warms the registry in the dag-processor
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "0",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
        },
    )
    engine = create_engine(url)

    def display_names() -> dict[str, str]:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT dag_id, dag_display_name FROM dag WHERE dag_id IN ('site__alpha', 'site__beta')")
            ).all()
        return dict(rows)

    log = (home / "dag-processor.out").open("wb")
    proc = subprocess.Popen(
        [*airflow_command(), "dag-processor"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while display_names() != {"site__alpha": "Test site alpha", "site__beta": "Test site beta"}:
            assert proc.poll() is None and time.monotonic() < deadline, (home / "dag-processor.out").read_text()[-3000:]
            time.sleep(1)
        registry.write(site_doc("beta", name="Beta, renamed"))  # after the warm-up: only a forked parse can see it
        while display_names().get("site__beta") != "Beta, renamed":
            assert proc.poll() is None and time.monotonic() < deadline, (home / "dag-processor.out").read_text()[-3000:]
            time.sleep(1)
        assert display_names()["site__alpha"] == "Test site alpha"
        assert "preloaded for the processes this one forks" in (home / "dag-processor.out").read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        engine.dispose()
