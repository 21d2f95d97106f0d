"""The fault suite reuses the integration tests' helpers (the TLS ingestion service, the connector's
gate table and config writer): their folder is put on the import path here."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))

from private_pg import PrivatePostgres  # noqa: E402


@pytest.fixture
def server() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL server (initdb + pg_ctl in a temporary folder) that a test may crash."""
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


@pytest.fixture(autouse=True)
def _scenario_clock():
    """Each scenario's figures carry the seconds its test took so far (fault_figures.record)."""
    import fault_figures

    fault_figures.STARTED = time.monotonic()
    yield
