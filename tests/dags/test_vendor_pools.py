"""Per-vendor pools: a site read through a vendor's cloud API (a `shared_api` preset) takes its vendor's pool,
only where the deployment created the pools; a site that is its own device takes none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag
from sqlalchemy import create_engine, text

from footfall.config import load_registry
from footfall.dag_factory import VENDOR_POOLS_ENV, vendor_pools
from footfall_devtools.local_airflow import LocalAirflow, airflow_env

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


def vea(site_doc):
    doc = site_doc("vea-site")
    doc["source"] = {"kind": "http_json", "preset": "sensource_vea", "connection_id": "vea"}
    return doc


def test_without_pools_the_task_uses_the_default_pool(registry, site_doc, monkeypatch):
    monkeypatch.delenv(VENDOR_POOLS_ENV, raising=False)
    registry.add_site("axis-site")
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    assert bag.dags["site__axis-site"].get_task("sync").pool == "default_pool"


def test_with_pools_each_vendor_cloud_api_has_its_own_and_devices_none(registry, site_doc, monkeypatch):
    monkeypatch.setenv(VENDOR_POOLS_ENV, "true")
    registry.add_site("axis-site")
    registry.write(vea(site_doc))
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    assert bag.dags["site__axis-site"].get_task("sync").pool == "default_pool"  # its own device: no shared limit
    assert bag.dags["site__vea-site"].get_task("sync").pool == "vendor_sensource"


def test_live_airflow_runs_each_cloud_api_sync_in_its_vendors_pool(registry, site_doc, airflow_db, tmp_path):
    """LocalAirflow creates the pools as the deployments do; the real dag-processor serializes the DAGs, and a
    triggered run's task instances, in Airflow's own metadata DB, take the vendor's pool or the default one."""
    registry.add_site("axis-1")
    registry.add_site("axis-2")
    registry.write(vea(site_doc))
    sites, _ = load_registry()
    assert sorted(vendor_pools(sites.values())) == ["vendor_sensource"]

    home = tmp_path / "airflow_home"
    home.mkdir()
    shutil.copy(airflow_db, home / "airflow.db")
    url = f"sqlite:///{home / 'airflow.db'}"
    env = airflow_env(home, metadata_url=url, extra={"FOOTFALL_SITES_DIR": str(registry.path),
                                                     "FOOTFALL_PRELOAD": "false"})  # fmt: skip
    airflow = LocalAirflow(env)
    created = airflow.create_vendor_pools()

    listed = json.loads(airflow.cli("pools", "list", "--output", "json").stdout)
    slots = {p["pool"]: int(p["slots"]) for p in listed}
    assert sorted(created) == ["vendor_sensource"]
    assert slots["vendor_sensource"] == 4 and "vendor_axis" not in slots
    assert airflow.env[VENDOR_POOLS_ENV] == "true"  # processes started from here on use them

    airflow.cli("dag-processor", "--num-runs", "1", timeout=240)
    for dag_id in ("site__vea-site", "site__axis-1"):
        airflow.cli("dags", "trigger", dag_id)
    engine = create_engine(url)
    with engine.connect() as conn:
        query = "SELECT dag_id, pool FROM task_instance WHERE task_id = 'sync' AND dag_id IN (:vea, :axis)"
        pools = dict(conn.execute(text(query), {"vea": "site__vea-site", "axis": "site__axis-1"}).all())
    engine.dispose()
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
