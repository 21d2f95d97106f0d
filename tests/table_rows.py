"""Rows of a warehouse table in a form two runs can be compared on: the volatile columns (ids, stamps,
run ids) left out, sorted by content. Used by the tests that assert "the same tables as one clean run"."""

from __future__ import annotations

import json

from sqlalchemy import Engine, Table, select


def comparable_rows(engine: Engine, table: Table, volatile: set[str]) -> list[dict]:
    with engine.connect() as conn:
        found = [dict(r) for r in conn.execute(select(table)).mappings()]
    return sorted(
        ({k: v for k, v in r.items() if k not in volatile} for r in found),
        key=lambda r: json.dumps(r, sort_keys=True, default=str),
    )
