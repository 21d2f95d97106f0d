"""Normalize: turn landed vendor bodies into count_interval rows (UTC, native length >= 5 minutes).

The preset (a data file) says where the records are and what each field means; this package is the one
generic interpreter of that mapping, for JSON, XML and CSV alike (footfall.decode turns bytes into a
document). It works in two steps so that a body costs little more than decoding it: every payload is
read into raw columns (one list per field, picked over all records at once), then all payloads'
columns are interpreted as one batch (times, counts, device ids, with numpy), and the counter
semantics and the typed frame are done once on the batch. When the batch fails, each payload is
interpreted alone, in order, so the error names the first payload at fault.
It raises `ParseError` on a shape it does not know (firmware differs: fail loudly, keep the raw), and on
wrong data it can place in the body: a negative or fractional count, or one device's two records for an
instant with different counts (an exact repeat is left out and counted as skipped), each named by its
CSV line or record. Rules on the batch as a whole (times outside the window, one row per key) are the
validation suite's, which reports them all at once. Counter semantics live in footfall.semantics.

The stages, one module each, in the order a body goes through them:

- `footfall.documents` (shared with extract): bytes to a document, the preset's `records` path walked;
- `read`: one body's fields as raw columns (`Raw`); `one_record`: the same for tiny live-value bodies;
- `times`: vendor times to UTC instants, a column at a time;
- `interpretation`: many payloads' raw columns to readings (`Columns`), all at once;
- `batch`: reading then interpreting a run's payloads, and finding the payload at fault;
- `counts`: readings to count_interval rows (cumulative, snapshots, 5-minute sums, later payload wins);
- `frame`: the typed count_interval frame; `adhoc`: a made-up site for one payload file;
- `check`: one file through normalize and validation (`footfall parse`, `footfall presets test`);
- `common`: the `Payload`, the measures, durations.

Everything callers use is re-exported here: import from `footfall.normalize`, not from the modules.
"""

from __future__ import annotations

from footfall.documents import MISSING, Records, decode_document, get_path, lookup, select_records

from .adhoc import CSV_HEADER, adhoc_site, counts_csv, parse_bodies, site_of_bodies
from .batch import parse_payload, read_payloads
from .check import PayloadCheck, check_payload
from .common import BASE_MINUTES, MEASURES, Payload, parse_duration_minutes
from .counts import ROWS_SKIPPED, normalize_counts
from .frame import COLUMNS, Rows, empty_counts, typed_counts, utc_bounds
from .interpretation import Columns, count_column, interpret
from .read import Raw, extract, interval_minutes

__all__ = [
    "BASE_MINUTES",
    "COLUMNS",
    "CSV_HEADER",
    "MEASURES",
    "MISSING",
    "ROWS_SKIPPED",
    "Columns",
    "Payload",
    "PayloadCheck",
    "Raw",
    "Records",
    "Rows",
    "adhoc_site",
    "check_payload",
    "count_column",
    "counts_csv",
    "decode_document",
    "empty_counts",
    "extract",
    "get_path",
    "interpret",
    "interval_minutes",
    "lookup",
    "normalize_counts",
    "parse_bodies",
    "parse_duration_minutes",
    "parse_payload",
    "read_payloads",
    "select_records",
    "site_of_bodies",
    "typed_counts",
    "utc_bounds",
]
