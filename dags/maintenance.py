"""# maintenance

Daily upkeep, at 02:40 UTC (before the forecasts' retrain and the Data Docs build):

1. `clean_airflow_metadata`: `airflow db clean` of run history older than FOOTFALL_METADATA_RETENTION_DAYS
   (default 7). Every site adds 288 runs a day; the scheduler's loop slows as dag_run and
   task_instance grow, so old runs go (Airflow keeps each DAG's latest scheduled run).
2. `raw_payload_retention`: each site's raw vendor bodies older than its `retention_days` (site
   file, default 30) are removed; counts, corrected occupancy, flags and forecasts stay.
3. `vacuum_warehouse`: VACUUM/ANALYZE of the warehouse (PostgreSQL or SQLite).

Each step is idempotent: a re-run removes nothing more. The logic is in footfall.maintenance.
"""

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, task

from footfall.dag_factory import DEFAULT_ARGS, START_DATE

with DAG(
    dag_id="maintenance",
    description="Clean Airflow's run history, apply raw-payload retention per site, VACUUM/ANALYZE the warehouse",
    schedule=CronTriggerTimetable("40 2 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 2, "execution_timeout": timedelta(hours=1)},
    tags=["footfall", "maintenance"],
    doc_md=__doc__,
):

    @task(task_id="clean_airflow_metadata")
    def clean_metadata() -> dict[str, object]:
        """`airflow db clean` with the deployment's retention, as its own process."""
        from datetime import UTC, datetime

        from footfall.maintenance import clean_airflow_metadata, metadata_retention_days

        days = metadata_retention_days()
        output = clean_airflow_metadata(days, datetime.now(UTC))
        return {"retention_days": days, "output_tail": output[-2000:]}

    @task(task_id="raw_payload_retention")
    def retention() -> dict[str, object]:
        """Each site's raw bodies older than its retention_days removed; aggregates kept."""
        from datetime import UTC, datetime

        from footfall.config import load_registry
        from footfall.maintenance import apply_retention
        from footfall.warehouse.engine import get_engine

        sites, _ = load_registry()
        results = apply_retention(get_engine(), sites.values(), datetime.now(UTC))
        return {
            "sites": len(results),
            "deleted": sum(r.deleted for r in results),
            "emptied": sum(r.emptied for r in results),
            "bytes_removed": sum(r.bytes_removed for r in results),
        }

    @task(task_id="vacuum_warehouse")
    def vacuum_warehouse() -> list[str]:
        """VACUUM/ANALYZE after the deletes, so their space is reused and plans see the new sizes."""
        from footfall.maintenance import vacuum
        from footfall.warehouse.engine import get_engine

        return vacuum(get_engine())

    clean_metadata() >> retention() >> vacuum_warehouse()
