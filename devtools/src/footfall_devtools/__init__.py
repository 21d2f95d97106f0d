"""Developer tooling beside the footfall product: the demo, real Airflow on one machine, test and bench helpers.

These tools run from a footfall checkout, so unlike `footfall` they know its layout: `REPO_DIR`
holds `dags/`, `plugins/`, `include/sites/` and the git-ignored `data/` and `airflow_home/`.
"""

import os
from pathlib import Path

REPO_DIR = Path(os.environ.get("FOOTFALL_REPO_DIR") or Path(__file__).resolve().parents[3])
"""The checkout the tools drive (`FOOTFALL_REPO_DIR` overrides, e.g. for a non-editable install)."""


def use_checkout_settings() -> None:
    """Point footfall at this checkout's registry and data folder unless the environment already does."""
    os.environ.setdefault("FOOTFALL_SITES_DIR", str(REPO_DIR / "include" / "sites"))
    os.environ.setdefault("FOOTFALL_DATA_DIR", str(REPO_DIR / "data"))
