"""Shared fixtures: a throwaway Airflow home, real warehouses (SQLite, PostgreSQL), the simulator, a site registry.

The environment below is set at import time, before anything imports Airflow: Airflow reads its
configuration once, on first import, so a test run never touches a developer's airflow_home, data
folder or site registry.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_TMP = Path(tempfile.mkdtemp(prefix="footfall-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)

AIRFLOW_HOME = _TMP / "airflow_home"
(AIRFLOW_HOME / "plugins").mkdir(parents=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(AIRFLOW_HOME / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "FOOTFALL_DATA_DIR": str(_TMP / "data"),
        "FOOTFALL_PRELOAD": "false",
        "GX_ANALYTICS_ENABLED": "false",
    }
)
# Whatever the developer's shell points at, tests choose their own warehouse, registry and source.
for _name in ("FOOTFALL_DB_URL", "FOOTFALL_SITES_DIR", "AIRFLOW_CONN_FOOTFALL_SIM", "_AIRFLOW_PARSING_CONTEXT_DAG_ID"):
    os.environ.pop(_name, None)
if str(REPO / "include") not in sys.path:
    sys.path.insert(0, str(REPO / "include"))

import psycopg  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from footfall.config import Site  # noqa: E402
from footfall.warehouse.engine import get_engine, normalize_url, upgrade  # noqa: E402
from footfall_simulator import SimulatorHandle, start_in_thread  # noqa: E402

# The simulator's frozen "now": a Friday, 16:07 in Paris, after both 2026 DST changes.
SIM_NOW = datetime(2026, 11, 20, 15, 7, tzinfo=UTC)
SIM_SEED = 20261120
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def pytest_configure(config: pytest.Config) -> None:
    # dag.test() talks to Airflow's execution API through Starlette's TestClient, which warns about httpx.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")


# --- Airflow metadata database -----------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database (SQLite in the throwaway home), migrated once per session."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "include"), os.environ.get("PYTHONPATH")])),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return AIRFLOW_HOME / "airflow.db"


# --- warehouses --------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def _unreachable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not reachable: {reason}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database, dropped afterwards."""
    admin_url = os.environ.get("FOOTFALL_TEST_PG_URL", PG_DEFAULT)
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        _unreachable(f"{admin_url}: {exc}".strip())
    name = f"footfall_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = conninfo.rpartition("/")
        url = f"{base}/{name}"
        try:
            yield url
        finally:
            get_engine(url).dispose()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def more_databases(pg_url: str) -> Iterator[Callable[[str], str]]:
    """`more_databases(kind)`: another database on pg_url's server (Airflow's metadata, a second warehouse),
    its URL; all are dropped afterwards, even while a killed process still holds a connection."""
    conninfo = pg_url.replace("postgresql+psycopg://", "postgresql://")
    base, _, prefix = conninfo.rpartition("/")
    names: list[str] = []

    def make(kind: str) -> str:
        names.append(f"{prefix}_{kind}")
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{names[-1]}"')
        return normalize_url(f"{base}/{names[-1]}")  # postgresql+psycopg: Airflow's async engine needs it too

    yield make
    with psycopg.connect(conninfo, autocommit=True) as admin:
        for name in names:
            get_engine(normalize_url(f"{base}/{name}")).dispose()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def warehouse() -> Callable[[str], Engine]:
    """`warehouse(url)`: bring the schema to head and return the (cached) engine for that URL."""

    def make(url: str) -> Engine:
        upgrade(url)
        return get_engine(url)

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The warehouse URL, once per backend: tests using it run on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


# --- simulator ---------------------------------------------------------------------------------


class FrozenClock:
    """The simulator's clock: fixed, so its answers are byte-identical between runs (tests may move it)."""

    def __init__(self, now: datetime = SIM_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sim_clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def simulator(sim_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorHandle]:
    """The vendor simulator on a loopback port, reachable as Airflow connection `footfall_sim`."""
    with start_in_thread(seed=SIM_SEED, clock=sim_clock) as handle:
        monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_SIM", handle.url)
        yield handle


# --- site registry -----------------------------------------------------------------------------


def axis_site(site_id: str = "test-site", **changes: Any) -> dict[str, Any]:
    """A site file (as data) pulling two simulated Axis counters over `footfall_sim`."""
    doc: dict[str, Any] = {
        "id": site_id,
        "name": f"Test site {site_id}",
        "timezone": "Europe/Paris",
        "capacity": 200,
        "opening_hours": {"regular": {"mon": "08:00-20:00", "sat": "09:00-18:00", "sun": "closed"}},
        "counters": [
            {"id": "main-door", "ref": "SIM0000001"},
            {"id": "side-door", "ref": "SIM0000002"},
        ],
        "source": {
            "kind": "http_json",
            "preset": "axis_tvpc_export_json",
            "connection_id": "footfall_sim",
            "lookback_minutes": 30,
            "options": {"base_path": "/devices/{counter_ref}", "res": "15m"},
        },
        "tags": ["test"],
    }
    doc.update(changes)
    return doc


class Registry:
    """A site registry in a temporary folder (FOOTFALL_SITES_DIR points at it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, doc: dict[str, Any], name: str | None = None) -> Path:
        target = self.path / f"{name or doc['id']}.yaml"
        target.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return target

    def write_text(self, name: str, text: str) -> Path:
        target = self.path / name
        target.write_text(text, encoding="utf-8")
        return target

    def add_site(self, site_id: str = "test-site", **changes: Any) -> Path:
        return self.write(axis_site(site_id, **changes))


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    folder = tmp_path / "sites"
    folder.mkdir()
    monkeypatch.setenv("FOOTFALL_SITES_DIR", str(folder))
    return Registry(folder)


@pytest.fixture
def site_doc() -> Callable[..., dict[str, Any]]:
    """`site_doc(site_id, **changes)`: a valid site file as a dict, to edit before writing."""
    return axis_site


@pytest.fixture
def make_site() -> Callable[..., Site]:
    """`make_site(site_id, **changes)`: a validated Site without writing a file."""

    def make(site_id: str = "test-site", **changes: Any) -> Site:
        return Site.model_validate(axis_site(site_id, **changes))

    return make


# --- vendor bodies -----------------------------------------------------------------------------


def axis_export(serial: str, rows: list[tuple[str, Any, Any]], res: str = "15m") -> bytes:
    """An Axis tvpc `export-json` body: rows are (local "YYYYMMDDhhmmss", in, out)."""
    doc = {
        "serial": serial,
        "name": f"Counter {serial}",
        "timestamp": "20261120160700",
        "res": res,
        "data": [{"timestamp": stamp, "in": entries, "out": exits} for stamp, entries, exits in rows],
    }
    return json.dumps(doc).encode("utf-8")


@pytest.fixture
def axis_body() -> Callable[..., bytes]:
    return axis_export


# --- a real browser --------------------------------------------------------------------------

CHROMIUM = os.environ.get("FOOTFALL_TEST_CHROMIUM", "/usr/bin/chromium")
# The flags a root sandbox without a network needs (no background connections, no sandbox, no GPU).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by playwright (headless); fails in CI when it is missing, skips elsewhere."""
    if not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"a browser is required in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page per test (no cookies shared between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


# --- the shared reference folder (captured real payloads) ---------------------------------------


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the repo (FOOTFALL_SHARED_DIR overrides; .ci/run sets it): captured real
    payloads that may not be redistributed. Missing: a failure in CI, a skip on a laptop."""
    path = Path(os.environ.get("FOOTFALL_SHARED_DIR") or REPO.parent / "shared")
    if not (path / "realworld" / "payloads").is_dir():
        reason = f"{path}/realworld/payloads is missing (set FOOTFALL_SHARED_DIR)"
        if os.environ.get("CI"):
            pytest.fail(f"the shared reference folder is required in CI: {reason}")
        pytest.skip(reason)
    return path
