"""Where footfall finds its database, site registry and data folder (environment first)."""

from __future__ import annotations

import os
from pathlib import Path

from footfall import PACKAGE_DIR, PROJECT_DIR


def data_dir() -> Path:
    """Folder for the embedded database and other local state (git-ignored)."""
    return Path(os.environ.get("FOOTFALL_DATA_DIR", PROJECT_DIR / "data"))


def db_url() -> str:
    """Warehouse URL: `FOOTFALL_DB_URL`, else an SQLite file in the data folder."""
    url = os.environ.get("FOOTFALL_DB_URL")
    if url:
        return url
    return f"sqlite:///{data_dir() / 'footfall.db'}"


def data_docs_dir() -> Path:
    """Where `footfall quality docs` builds the Great Expectations Data Docs site for the data team."""
    return Path(os.environ.get("FOOTFALL_DATA_DOCS_DIR", data_dir() / "quality_docs"))


def sites_dir() -> Path:
    """The site registry: one YAML file per site."""
    return Path(os.environ.get("FOOTFALL_SITES_DIR", PROJECT_DIR / "include" / "sites"))


def presets_dir() -> Path:
    """Vendor presets shipped with the package (data files, one per vendor format)."""
    return PACKAGE_DIR / "presets"
