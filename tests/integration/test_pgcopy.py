"""Binary COPY bodies built with numpy (footfall.pgcopy), read back by a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import psycopg
import pytest

from footfall import pgcopy

TABLE = "CREATE TEMPORARY TABLE t (name text, day date, at timestamptz, n int4, big int8, x float8)"


def copy_back(url: str, body: bytes) -> list[tuple]:
    with psycopg.connect(url) as conn:
        conn.execute(TABLE)
        with conn.cursor().copy("COPY t (name, day, at, n, big, x) FROM STDIN (FORMAT binary)") as copy:
            copy.write(body)
        return conn.execute("SELECT name, day, at, n, big, x FROM t ORDER BY big").fetchall()


def test_every_kind_with_nulls_and_many_texts_round_trips(pg_url):
    # The Paris autumn change: 00:30 and 01:30 UTC are 02:30 CEST and 02:30 CET, two distinct instants.
    instants = pd.DatetimeIndex(
        ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "1999-12-31T23:59:59.5Z", "2026-03-29T01:00:00Z"]
    )
    names = np.array(["porte-nord", "porte-sud", "porte-nord", "accès-é"], dtype=object)
    days = pd.Series([date(2026, 10, 25), date(2026, 10, 25), date(1999, 12, 31), date(2026, 3, 29)])
    n = np.array([1, -(2**31), 2**31 - 1, 0])
    x = np.array([0.5, np.nan, -1e300, 3.0])
    body = pgcopy.copy_body(
        [
            pgcopy.Column("text", names),
            pgcopy.Column("date", pgcopy.dates_days(days)),
            pgcopy.Column("timestamptz", pgcopy.instants_us(instants)),
            pgcopy.Column("int4", n, missing=np.array([False, False, False, True])),
            pgcopy.Column("int8", np.array([1, 2, 3, 2**40])),
            pgcopy.Column("float8", x, missing=np.isnan(x)),
        ]
    )
    rows = copy_back(pg_url, body)
    assert [r[0] for r in rows] == list(names)
    assert [r[1] for r in rows] == list(days)
    assert [r[2] for r in rows] == [t.to_pydatetime() for t in instants]
    assert rows[0][2].astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert [r[3] for r in rows] == [1, -(2**31), 2**31 - 1, None]
    assert [r[4] for r in rows] == [1, 2, 3, 2**40]
    assert [r[5] for r in rows] == [0.5, None, -1e300, 3.0]


def test_no_rows_is_an_empty_copy(pg_url):
    assert copy_back(pg_url, pgcopy.copy_body([pgcopy.Column("text", np.array([], dtype=object))] * 6)) == []


def test_a_value_of_the_wrong_kind_is_refused_by_the_server(pg_url):
    body = pgcopy.copy_body([pgcopy.Column("int8", np.array([1]))] * 6)  # int8 where text and date are due
    with pytest.raises(psycopg.errors.DataError):
        copy_back(pg_url, body)
