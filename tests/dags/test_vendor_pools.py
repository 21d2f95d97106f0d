"""Per-vendor pools: a site read through a vendor's cloud API (a `shared_api` preset) takes its vendor's pool,
only where the deployment created the pools; a site that is its own device takes none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import bindparam, create_engine, text

from footfall.config import load_registry
from footfall.dag_factory import VENDOR_POOLS_ENV, vendor_pools
from footfall_devtools.local_airflow import LocalAirflow, airflow_env


def vea(site_doc):
    doc = site_doc("vea-site")
    doc["source"] = {"kind": "http_json", "preset": "sensource_vea", "connection_id": "vea"}
    return doc


def live_airflow(registry, airflow_db, home: Path) -> tuple[LocalAirflow, str]:
    """A LocalAirflow on a copy of the migrated metadata DB, on the test registry, without vendor pools yet."""
    home.mkdir()
    shutil.copy(airflow_db, home / "airflow.db")
    url = f"sqlite:///{home / 'airflow.db'}"
    env = airflow_env(home, metadata_url=url, extra={"FOOTFALL_SITES_DIR": str(registry.path),
                                                     "FOOTFALL_PRELOAD": "false"})  # fmt: skip
    env.pop(VENDOR_POOLS_ENV, None)
    return LocalAirflow(env), url


def triggered_pools(airflow: LocalAirflow, url: str, dag_ids: tuple[str, ...]) -> dict[str, str]:
    """The real dag-processor parses the DAG folder; a run of each DAG is triggered; its sync task instance's
    pool is read from Airflow's own metadata DB."""
    airflow.cli("dag-processor", "--num-runs", "1", timeout=240)
    for dag_id in dag_ids:
        airflow.cli("dags", "trigger", dag_id)
    engine = create_engine(url)
    with engine.connect() as conn:
        query = "SELECT dag_id, pool FROM task_instance WHERE task_id = 'sync' AND dag_id IN :dags"
        pools = dict(conn.execute(text(query).bindparams(bindparam("dags", expanding=True)), {"dags": dag_ids}).all())
    engine.dispose()
    return pools


def test_live_airflow_without_pools_runs_every_sync_in_the_default_pool(registry, site_doc, airflow_db, tmp_path):
    registry.add_site("axis-1")
    registry.write(vea(site_doc))
    airflow, url = live_airflow(registry, airflow_db, tmp_path / "airflow_home")
    pools = triggered_pools(airflow, url, ("site__vea-site", "site__axis-1"))
    assert pools == {"site__vea-site": "default_pool", "site__axis-1": "default_pool"}


def test_live_airflow_runs_each_cloud_api_sync_in_its_vendors_pool(registry, site_doc, airflow_db, tmp_path):
    """LocalAirflow creates the pools as the deployments do; then a cloud-API site's sync takes its vendor's
    pool and a device's the default one."""
    registry.add_site("axis-1")
    registry.add_site("axis-2")
    registry.write(vea(site_doc))
    sites, _ = load_registry()
    assert sorted(vendor_pools(sites.values())) == ["vendor_sensource"]

    airflow, url = live_airflow(registry, airflow_db, tmp_path / "airflow_home")
    created = airflow.create_vendor_pools()
    listed = json.loads(airflow.cli("pools", "list", "--output", "json").stdout)
    slots = {p["pool"]: int(p["slots"]) for p in listed}
    assert sorted(created) == ["vendor_sensource"]
    assert slots["vendor_sensource"] == 4 and "vendor_axis" not in slots
    assert airflow.env[VENDOR_POOLS_ENV] == "true"  # processes started from here on use them

    pools = triggered_pools(airflow, url, ("site__vea-site", "site__axis-1"))
    assert pools == {"site__vea-site": "vendor_sensource", "site__axis-1": "default_pool"}


def test_footfall_sites_pools_writes_what_airflow_pools_import_reads(registry, site_doc, airflow_db, tmp_path):
    """The deployments' way (compose's airflow-init, `make stack-init`): the CLI's JSON, imported by Airflow."""
    from footfall.cli import main

    registry.add_site("axis-1")
    registry.write(vea(site_doc))
    pools_file = tmp_path / "pools.json"
    assert main(["sites", "pools", "--dir", str(registry.path), "--slots", "3", "--output", str(pools_file)]) == 0
    assert sorted(json.loads(pools_file.read_text(encoding="utf-8"))) == ["vendor_sensource"]

    airflow = LocalAirflow(airflow_env(home=airflow_db.parent, extra={"FOOTFALL_SITES_DIR": str(registry.path)}))
    airflow.cli("pools", "import", str(pools_file))
    listed = json.loads(airflow.cli("pools", "list", "--output", "json").stdout)
    assert {p["pool"]: int(p["slots"]) for p in listed}["vendor_sensource"] == 3
