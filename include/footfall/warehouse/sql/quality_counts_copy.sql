-- The counts a quality run reads, for one or many sites, each over its own range, as CSV (COPY is
-- several times faster than fetching rows one by one). Instants are written in UTC without an
-- offset. Parameters are bound by psycopg: site ids and the [first, last) starts of their ranges.
COPY (
  SELECT c.site_id, c.counter_id, c.interval_start AT TIME ZONE 'UTC', c.interval_minutes,
         c.entries, c.exits, c.occupancy
  FROM unnest(%(site_ids)s::text[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS r(site_id, first, last)
  JOIN count_interval AS c
    ON c.site_id = r.site_id AND c.interval_start >= r.first AND c.interval_start < r.last
) TO STDOUT (FORMAT csv)
