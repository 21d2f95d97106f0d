"""Pre-age an Airflow metadata database: days of finished 5-minute runs for some DAGs, in bulk.

For benchmarks and tests of what a long-running deployment accumulates (288 runs per site per day):
`dag_run` rows and their one `task_instance` each, written with plain INSERTs in chunks (the
Airflow 3.3 columns that have no default are filled as a finished scheduled run fills them).
Run ids follow Airflow's `scheduled__<logical date>` form, so they never collide with live runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from sqlalchemy import create_engine, text

STEP = timedelta(minutes=5)
CHUNK = 5000

_DAG_RUN = text(
    "INSERT INTO dag_run (dag_id, run_id, run_type, state, logical_date, data_interval_start,"
    " data_interval_end, run_after, queued_at, start_date, end_date, clear_number, span_status, triggered_by)"
    " VALUES (:dag_id, :run_id, 'scheduled', 'success', :start, :start, :end, :end, :end, :end, :done, 0,"
    " 'not_started', 'TIMETABLE')"
)
_TASK_INSTANCE = text(
    "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, start_date, end_date, duration, state,"
    " try_number, max_tries, pool, pool_slots, queue, priority_weight, operator, span_status)"
    " VALUES (:id, :task_id, :dag_id, :run_id, -1, :end, :done, 1.0, 'success', 1, 3, 'default_pool', 1,"
    " 'default', 1, '_PythonDecoratedOperator', 'not_started')"
)


def _runs(dag_ids: list[str], first: datetime, last: datetime, task_id: str, pg: bool) -> Iterator[tuple[dict, dict]]:
    t = first
    while t < last:
        for dag_id in dag_ids:
            run_id = f"scheduled__{t.isoformat()}"
            values = {"dag_id": dag_id, "run_id": run_id, "start": t, "end": t + STEP, "done": t + STEP + STEP / 5}
            ident = uuid.uuid4()
            yield values, {**values, "id": str(ident) if pg else ident.hex, "task_id": task_id}
        t += STEP


def age_metadata(url: str, dag_ids: Iterable[str], *, first: datetime, last: datetime, task_id: str = "sync") -> int:
    """Finished runs every 5 minutes in [first, last) for each DAG (one task each); returns the runs written."""
    ids = sorted(dag_ids)
    engine = create_engine(url)
    pg = engine.dialect.name == "postgresql"
    written = 0
    runs: list[dict] = []
    tasks: list[dict] = []
    try:
        for run, task in _runs(ids, first, last, task_id, pg):
            runs.append(run)
            tasks.append(task)
            if len(runs) >= CHUNK:
                written += _flush(engine, runs, tasks)
        written += _flush(engine, runs, tasks)
    finally:
        engine.dispose()
    return written


def _flush(engine, runs: list[dict], tasks: list[dict]) -> int:
    if not runs:
        return 0
    with engine.begin() as conn:
        conn.execute(_DAG_RUN, runs)
        conn.execute(_TASK_INSTANCE, tasks)
    n = len(runs)
    runs.clear()
    tasks.clear()
    return n
