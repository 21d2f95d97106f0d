-- Does the site's window hold any row yet? Asked counter by counter, so each probe is one short
-- range of the primary key (site_id, counter_id, interval_start) whatever history the site has.
SELECT 1
FROM counter AS k
CROSS JOIN LATERAL (
  SELECT 1 FROM count_interval AS c
  WHERE c.site_id = k.site_id
    AND c.counter_id = k.counter_id
    AND c.interval_start >= :window_start
    AND c.interval_start < :window_end
  LIMIT 1
) AS found
WHERE k.site_id = :site_id
LIMIT 1
