-- Before a COPY without per-row foreign-key triggers: the counters and payloads the batch
-- references, checked and locked FOR KEY SHARE once (what each row's trigger would do), counted.
SELECT
  (SELECT count(*) FROM (
     SELECT 1 FROM counter
     WHERE site_id = :site_id AND counter_id = ANY(:counter_ids)
     FOR KEY SHARE
   ) AS counters) AS counters,
  (SELECT count(*) FROM (
     SELECT 1 FROM raw_payload
     WHERE payload_id = ANY(:payload_ids)
     FOR KEY SHARE
   ) AS payloads) AS payloads
