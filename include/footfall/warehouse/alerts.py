"""Alert state: which (check, counter) problems of a site are open, so an alert is sent when one starts
or clears, not on every run. Kept light (no pandas): the DAG layer imports the alerts module."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from footfall.warehouse import schema


def update_open_problems(
    engine: Engine, site_id: str, problems: set[tuple[str, str]], now: datetime, unknown_checks: Iterable[str] = ()
) -> tuple[list[tuple[str, str]], list[tuple[str, str, datetime]]]:
    """Record which (check, counter) problems are open; returns those that started, and those that
    cleared with when they had opened. A check in `unknown_checks` neither starts nor clears anything."""
    t = schema.alert_state
    started: list[tuple[str, str]] = []
    cleared: list[tuple[str, str, datetime]] = []
    with engine.begin() as conn:
        known = {
            (r.check_name, r.counter_id): r.open_since for r in conn.execute(select(t).where(t.c.site_id == site_id))
        }
        for check, counter in sorted(problems - known.keys()):
            conn.execute(
                insert(t).values(
                    site_id=site_id, check_name=check, counter_id=counter, open_since=now, last_seen=now, last_sent=now
                )
            )
            started.append((check, counter))
        for check, counter in sorted(problems & known.keys()):
            conn.execute(
                update(t)
                .where(t.c.site_id == site_id, t.c.check_name == check, t.c.counter_id == counter)
                .values(last_seen=now)
            )
        unknown = set(unknown_checks)
        for check, counter in sorted(k for k in known.keys() - problems if k[0] not in unknown):
            conn.execute(delete(t).where(t.c.site_id == site_id, t.c.check_name == check, t.c.counter_id == counter))
            cleared.append((check, counter, known[(check, counter)]))
    return started, cleared
