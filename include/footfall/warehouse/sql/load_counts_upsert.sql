-- Insert new intervals; update changed ones; leave identical ones untouched (so a re-run
-- changes nothing, not even loaded_at or payload_id). {latest_wins} is empty for a replace and, for
-- a merge, leaves an interval loaded from a later payload alone.
INSERT INTO count_interval
  (site_id, counter_id, interval_start, interval_minutes, entries, exits, occupancy, payload_id, loaded_at)
SELECT :site_id, counter_id, interval_start, interval_minutes, entries, exits, occupancy, payload_id, :loaded_at
FROM {staging}
WHERE true
ON CONFLICT (site_id, counter_id, interval_start) DO UPDATE SET
  interval_minutes = excluded.interval_minutes,
  entries = excluded.entries,
  exits = excluded.exits,
  occupancy = excluded.occupancy,
  payload_id = excluded.payload_id,
  loaded_at = excluded.loaded_at
WHERE (count_interval.interval_minutes IS DISTINCT FROM excluded.interval_minutes
   OR count_interval.entries IS DISTINCT FROM excluded.entries
   OR count_interval.exits IS DISTINCT FROM excluded.exits
   OR count_interval.occupancy IS DISTINCT FROM excluded.occupancy)
  {latest_wins}
