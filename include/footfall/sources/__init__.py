"""Source kinds that are not HTTP: a database query (`sql`) and export files dropped in a folder (`file`).

Kept light (no pandas): the demo and the DAG layer resolve folders without importing the pipeline.
"""

from __future__ import annotations

from pathlib import Path

from footfall import settings
from footfall.config import Site
from footfall.errors import ExtractError


def site_folder(site: Site) -> Path:
    """The `folder` option; `{data_dir}` in it stands for footfall's data folder (FOOTFALL_DATA_DIR)."""
    folder = site.options().get("folder")
    if not folder:
        label = site.source_label
        raise ExtractError(site.id, label, "source.options.folder is missing")
    return Path(str(folder).replace("{data_dir}", str(settings.data_dir()))).expanduser()
