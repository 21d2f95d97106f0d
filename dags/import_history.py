"""# import_history

An analyst's history import for one site, as an Airflow DAG: from the site's own API history, or from an export file
(counts CSV `site_id,counter_id,interval_start,interval_minutes,entries,exits,occupancy`, plain,
gzipped or XLSX). Trigger it with Params (site, start and end local dates, source, file, chunk).

`plan` splits the range into chunks of a day or a week (for a file it also lands the file's rows
per chunk, streaming, so memory stays bounded); `import_chunk` is mapped over the chunks, so the
grid shows progress chunk by chunk. Each chunk is validated like live data and replaces exactly
its window; a re-run skips the chunks already done, so a failed or interrupted import resumes.
"""

from footfall.dag_factory import build_import_dag

build_import_dag(doc_md=__doc__)
