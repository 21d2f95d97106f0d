"""# retrain_forecasts

Retrains footfall's one global forecasting model from the whole consolidated history (live and
backfilled counts of every site), backtests it against the baselines (persistence, same slot
yesterday, same slot last week, 4-week median), promotes it only if it beats both the current model
and the best baseline on WAPE (else the best available method serves, and the reason is logged
and stored in `forecast_model`), then writes every site's next 7 days at its resolution with
10/50/90 % quantiles and, for sites with a capacity, the expected wait to get in (`forecast`).

Scheduled every hour, the cadence the model needs: counts arrive every 5 minutes, but an hour of
them changes a model trained on months. (It used to run on every site's counts Asset, which queued a
run per 5-minute cycle and made this file read the whole site registry at every parse.) While no site
has enough history (a fresh install), the task is skipped with that reason instead of failing. The
task imports pandas and LightGBM only when it runs.
"""

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, task

from footfall.dag_factory import DEFAULT_ARGS, START_DATE

HOURLY = "18 * * * *"  # between two 5-minute cycles (their runs start at :15 and :20): off their burst

with DAG(
    dag_id="retrain_forecasts",
    description="Retrain the global forecast model, backtest against baselines, publish 7-day forecasts and waits",
    schedule=CronTriggerTimetable(HOURLY, timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 2, "execution_timeout": timedelta(minutes=30)},
    tags=["footfall", "forecast"],
    doc_md=__doc__,
):

    @task(task_id="retrain", multiple_outputs=False)  # the summary is one XCom, not one per key
    def retrain(**context: object) -> dict[str, object]:
        """Train, backtest, decide what serves, publish."""
        from airflow.sdk.exceptions import AirflowSkipException

        from footfall.forecast.publish import NotEnoughHistory, run_retrain

        try:
            return run_retrain(str(context["run_id"]))
        except NotEnoughHistory as exc:
            raise AirflowSkipException(str(exc)) from None

    retrain()
