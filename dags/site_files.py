"""# site_files: the site registry's check, for Airflow's import-errors list

Holds no DAG. When a file in `include/sites/` is broken, parsing this file fails with one import
error that names every broken file, the field and the reason (Browse > Dag Import Errors in the
Airflow UI, or `airflow dags list-import-errors`). The site DAGs come from `sites.py`, which skips
a broken file instead of failing: Airflow marks every DAG of a file with an import error stale, so
one bad site file would otherwise hide every site.
"""

from airflow.sdk import get_parsing_context

from footfall.dag_factory import check_site_files

if get_parsing_context().dag_id is None:  # a task run never needs this file: no DAG of its comes from here
    check_site_files()
