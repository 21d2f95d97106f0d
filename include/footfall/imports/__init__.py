"""History imports: months or years of counts from a site's API or from an export file, in chunks.

An import is planned as chunks of whole local days (a day or a week each; `plan`). A file is read
once, streamed in blocks of rows, and each chunk's rows are landed as raw payloads (`readers`), so
the import can be re-processed without the file; chunks are then normalized, validated and loaded
like live data through the one run lifecycle, replacing exactly their window (`run`).
`import_chunk` records every chunk's outcome, so a re-run skips the chunks already done: an import
interrupted half-way and run again ends identical to one that never stopped. `parallel` runs many
sites' imports, two at a time in their own processes.
"""
