-- Before the upsert: keep what each changed interval was, and which payloads the old and new
-- values came from (a re-sent or revised interval is updated, and the revision is kept here).
-- Identical intervals are not revisions, so re-running a window records nothing. {latest_wins} is
-- empty for a replace and, for a merge, keeps out a payload older than the loaded one (it is not applied).
INSERT INTO interval_revision
  (site_id, counter_id, interval_start,
   old_interval_minutes, old_entries, old_exits, old_occupancy,
   new_interval_minutes, new_entries, new_exits, new_occupancy,
   old_payload_id, new_payload_id, revised_at)
SELECT c.site_id, c.counter_id, c.interval_start,
       c.interval_minutes, c.entries, c.exits, c.occupancy,
       s.interval_minutes, s.entries, s.exits, s.occupancy,
       c.payload_id, s.payload_id, :revised_at
FROM {staging} AS s
JOIN count_interval AS c
  ON c.site_id = :site_id
 AND c.counter_id = s.counter_id
 AND c.interval_start = s.interval_start
 {latest_wins}
WHERE (c.interval_minutes IS DISTINCT FROM s.interval_minutes
   OR c.entries IS DISTINCT FROM s.entries
   OR c.exits IS DISTINCT FROM s.exits
   OR c.occupancy IS DISTINCT FROM s.occupancy)
