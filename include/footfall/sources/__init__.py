"""Source kinds, registered by kind: `http` (vendor APIs, JSON or XML), `sql` (a site's own database),
`file` (export files dropped in a folder) and `push` (bodies devices and connectors sent us).

Each implements footfall.sources.base.Source; footfall.lifecycle.run_window runs any of them.
Kept light (no pandas): the demo and the DAG layer resolve folders without importing the pipeline;
implementations are imported when a source is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from footfall import settings
from footfall.config import Site, SourceKind
from footfall.errors import ExtractError

if TYPE_CHECKING:
    from footfall.sources.base import Source

# kind -> "module:class" of its implementation (JSON and XML are one HTTP source: the preset decodes)
REGISTRY: dict[str, str] = {
    SourceKind.HTTP.value: "footfall.sources.http:HttpSource",
    SourceKind.SQL.value: "footfall.sources.sql:SqlSource",
    SourceKind.FILE.value: "footfall.sources.files:FileSource",
    SourceKind.PUSH.value: "footfall.sources.push:PushSource",
}


def source_class(kind: str) -> Callable[..., Source]:
    """The implementation registered for `kind`."""
    try:
        module, _, name = REGISTRY[str(getattr(kind, "value", kind))].partition(":")
    except KeyError:
        raise ValueError(f"source kind {kind!r} has no implementation (known: {', '.join(REGISTRY)})") from None
    return getattr(import_module(module), name)


def source_for(site: Site, **options: Any) -> Source:
    """The site's source; `options` go to its constructor (an HTTP source takes `resolve` and `session`)."""
    return source_class(site.source.kind)(**options)


def site_folder(site: Site) -> Path:
    """The `folder` option; `{data_dir}` in it stands for footfall's data folder (FOOTFALL_DATA_DIR)."""
    folder = site.options().get("folder")
    if not folder:
        label = site.source_label
        raise ExtractError(site.id, label, "source.options.folder is missing")
    return Path(str(folder).replace("{data_dir}", str(settings.data_dir()))).expanduser()
