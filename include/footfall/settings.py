"""Where footfall finds its database, site registry and data folder: the environment, else the working directory.

footfall never looks for these next to its own code (it may be installed anywhere): a deployment
sets `FOOTFALL_SITES_DIR` and `FOOTFALL_DATA_DIR`, or runs from the folder holding `include/sites`
and `data/` (a checkout, the Docker image's /opt/footfall). Presets are package data.
"""

from __future__ import annotations

import os
from pathlib import Path

from footfall import PACKAGE_DIR


def data_dir() -> Path:
    """Folder for the embedded database and other local state: `FOOTFALL_DATA_DIR`, else `./data`."""
    return Path(os.environ.get("FOOTFALL_DATA_DIR") or "data").absolute()


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
    """The site registry, one YAML file per site: `FOOTFALL_SITES_DIR`, else `./include/sites`."""
    return Path(os.environ.get("FOOTFALL_SITES_DIR") or Path("include", "sites")).absolute()


def presets_dir() -> Path:
    """Vendor presets shipped with the package (data files, one per vendor format)."""
    return PACKAGE_DIR / "presets"
