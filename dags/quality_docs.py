"""# quality_docs

Rebuilds the Great Expectations Data Docs site for the data team, daily: the row-level suite every
batch passes (`count_interval`) and the latest validation results of every site, one page per run,
listed under the site id and the Airflow run that produced it. Live runs store their full
validation result in `quality_run.gx_result`; this DAG only renders them (footfall.quality.docs)
into the folder `FOOTFALL_DATA_DOCS_DIR` (default `data/quality_docs`), replacing the previous build.
The same build runs by hand with `footfall quality docs [--site ID] [--out DIR]`.
"""

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, task

from footfall.dag_factory import DEFAULT_ARGS, START_DATE

with DAG(
    dag_id="quality_docs",
    description="Rebuild the GX Data Docs site (suite and recent validations of every site) for the data team",
    schedule=CronTriggerTimetable("15 4 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 2, "execution_timeout": timedelta(minutes=15)},
    tags=["footfall", "quality"],
    doc_md=__doc__,
):

    @task(task_id="build_docs")
    def build() -> dict[str, object]:
        """Render the site from the stored results; returns where it is and what it shows."""
        from footfall.quality.docs import build_docs
        from footfall.warehouse.engine import get_engine

        built = build_docs(get_engine())
        return {"index": str(built.index), "sites": built.sites, "validations": built.validations}

    build()
