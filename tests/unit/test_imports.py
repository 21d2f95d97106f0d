"""History import pieces without a database: streamed blocks keep line numbers, routing, batching, landed bodies."""

from __future__ import annotations

import gzip
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footfall.errors import ParseError
from footfall.imports.plan import batches, plan_chunks
from footfall.imports.readers import (
    OFFSET,
    chunk_body,
    chunk_index,
    has_offset,
    normalize_file_rows,
    read_blocks,
    row_instants,
)
from footfall.normalize import Payload

HEADER = "site_id,counter_id,interval_start,interval_minutes,entries,exits,occupancy"


def rows(count: int, start: str = "2026-10-24T22:00:00+00:00") -> list[str]:
    first = np.datetime64(start.removesuffix("+00:00"))
    return [
        f"test-site,main-door,{first + np.timedelta64(15 * i, 'm')}+00:00,15,{i % 7},{i % 5}," for i in range(count)
    ]


def test_blocks_keep_each_rows_line_number_across_blank_lines_crlf_and_gzip(tmp_path: Path) -> None:
    lines = [HEADER, *rows(3), "", *rows(2, "2026-10-25T10:00:00+00:00"), "", ""]
    text = "\r\n".join(lines) + "\r\n"
    plain = tmp_path / "export.csv"
    plain.write_text(text, encoding="utf-8")
    zipped = tmp_path / "export.csv.gz"
    zipped.write_bytes(gzip.compress(text.encode()))

    for path in (plain, zipped):
        blocks = list(read_blocks(path, block_rows=2))
        numbers = np.concatenate([b.numbers for b in blocks]).tolist()
        assert numbers == [2, 3, 4, 6, 7]
        assert [line for b in blocks for line in b.lines] == [*rows(3), *rows(2, "2026-10-25T10:00:00+00:00")]
        assert blocks[0].fields["entries"].tolist() == ["0", "1"]


def test_header_without_interval_start_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("site_id,counter_id,start,entries\nx,y,z,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: header lacks interval_start"):
        list(read_blocks(path))


def test_rows_route_to_the_local_day_that_holds_them_including_the_25_hour_day(make_site) -> None:
    site = make_site()
    plans = plan_chunks(site, date(2026, 10, 24), date(2026, 10, 26), "file:x:1")
    instants = np.array(
        [
            np.datetime64("2026-10-23T21:59:59", "ns"),  # before the first local midnight
            np.datetime64("2026-10-23T22:00:00", "ns"),  # 24 Oct 00:00 Paris (CEST)
            np.datetime64("2026-10-25T22:59:00", "ns"),  # 25 Oct 23:59 Paris (CET), still the long day
            np.datetime64("2026-10-25T23:00:00", "ns"),  # 26 Oct 00:00 Paris
            np.datetime64("2026-10-26T23:00:00", "ns"),  # after the last planned day
        ]
    ).view(np.int64)

    assert chunk_index(plans, instants).tolist() == [-1, 0, 1, 2, -1]
    assert plans[1].end - plans[1].start == timedelta(hours=25)


def test_unreadable_or_naive_instant_names_file_and_line(make_site, tmp_path: Path) -> None:
    site = make_site()
    good = rows(2)
    for bad, reason in (("2026-10-24 12:00", "has no UTC offset"), ("yesterday", "is not an ISO 8601 instant")):
        path = tmp_path / "x.csv"
        path.write_text("\n".join([HEADER, good[0], good[1].replace(good[1].split(",")[2], bad)]) + "\n")
        block = next(read_blocks(path))
        with pytest.raises(ParseError, match=re.escape(f"x.csv: line 3: interval_start '{bad}' {reason}")):
            row_instants(site, "file:x.csv:1", "x.csv", block)


def test_batches_are_runs_of_pending_chunks_bounded_by_size(make_site, monkeypatch) -> None:
    monkeypatch.setattr("footfall.imports.plan.BATCH_BYTES", 100)
    plans = plan_chunks(make_site(), date(2026, 1, 1), date(2026, 1, 6), "file:x:1")
    done = {plans[2].start}
    sizes = {p.start: 40 for p in plans}

    groups = batches(plans, done, sizes)

    assert [[plans.index(p) for p in g] for g in groups] == [[0, 1], [3, 4], [5]]
    assert all(g[i].end == g[i + 1].start for g in groups for i in range(len(g) - 1)), "contiguous windows"


def test_landed_body_round_trips_and_a_bad_value_names_its_export_line(make_site) -> None:
    site = make_site()
    data = rows(4)
    first = chunk_body("file:e.csv:1", HEADER, np.array([10, 11]), np.array(data[:2], dtype=object))
    second = chunk_body(
        "file:e.csv:1",
        HEADER,
        np.array([40, 41]),
        np.array([data[2], data[3].replace(",15,3,", ",15,-3,")], dtype=object),
    )

    ok = normalize_file_rows(site, [Payload(1, first)], name="e.csv")
    assert ok["entries"].tolist() == [0, 1] and ok["payload_id"].tolist() == [1, 1]
    assert str(ok["interval_start"].dt.tz) == "UTC"

    with pytest.raises(ParseError, match=re.escape("e.csv: line 41: entries '-3' is negative")) as err:
        normalize_file_rows(site, [Payload(1, first), Payload(2, second)], name="e.csv")
    assert err.value.payload_ids == [2]


def test_offset_check_is_the_pattern_on_the_whole_value() -> None:
    values = ["2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00Z", "2026-01-01T00:00+0100", "2026-01-01T00:00-05"]
    values += ["2026-01-01T00:00:00", "2026-01-01 12:00", "2026-01-01", "Z", "", "noon+01:00", "+01:0"]

    assert has_offset(pd.Series(values, dtype=str)).tolist() == [re.search(OFFSET, v) is not None for v in values]


def test_spaced_numbers_read_as_meant_and_text_that_looks_missing_is_refused(make_site) -> None:
    site = make_site()
    data = rows(3)
    spaced = data[1].replace(",15,1,1,", ", 15 , 1 ,1,")
    body = chunk_body("file:e.csv:1", HEADER, np.array([2, 3, 4]), np.array([data[0], spaced, data[2]], dtype=object))

    ok = normalize_file_rows(site, [Payload(1, body)], name="e.csv")
    assert ok["interval_minutes"].tolist() == [15, 15, 15] and ok["entries"].tolist() == [0, 1, 2]
    assert ok["occupancy"].isna().all()

    nan = data[2].replace(",15,2,2,", ",15,NaN,2,")
    body = chunk_body("file:e.csv:1", HEADER, np.array([2, 3]), np.array([data[0], nan], dtype=object))
    with pytest.raises(ParseError, match=re.escape("e.csv: line 3: entries 'NaN' is not a number")):
        normalize_file_rows(site, [Payload(1, body)], name="e.csv")
