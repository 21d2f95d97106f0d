-- Replace exactly one site's window: rows the new batch no longer has are removed.
DELETE FROM count_interval
WHERE site_id = :site_id
  AND interval_start >= :window_start
  AND interval_start < :window_end
  AND NOT EXISTS (
    SELECT 1 FROM {staging} AS s
    WHERE s.counter_id = count_interval.counter_id
      AND s.interval_start = count_interval.interval_start
  )
