"""# footfall site DAGs

One DAG per file in `include/sites/` (`site__<site id>`), every 5 minutes. Each run's single task,
`sync`, pulls the site's counts for its data interval plus a lookback (so revised intervals are
caught), keeps the raw answer, validates the batch with Great Expectations and replaces exactly that
window in the warehouse. Re-running a run or backfilling a range gives the same tables.

When a run fails, its log names the site, the source, the stage and the reason; the raw payload is in
`raw_payload`, and `sync_run` keeps the outcome per window. A broken site file shows up as one import
error under `site_files.py` naming the file, field and reason; the other sites keep running.
"""

from airflow.sdk import get_parsing_context

from footfall.dag_factory import build_site_dags

build_site_dags(only_dag_id=get_parsing_context().dag_id, doc_md=__doc__)
