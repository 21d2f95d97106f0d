"""An answer of a source, as it is landed: a leaf module (the HTTP extractor and the warehouse both use it)."""

from __future__ import annotations

from dataclasses import dataclass

from footfall.config import Site


@dataclass(frozen=True)
class Fetched:
    """One answer, verbatim, with what was asked (secrets left out)."""

    counter_ref: str | None
    request: str
    status: int | None
    content_type: str | None
    body: bytes
    error: str | None = None


def source_label(site: Site) -> str:
    """`kind:preset`, as raw_payload.source and error messages name a site's source."""
    return site.source_label


def push_source(preset: str) -> str:
    """raw_payload.source of bodies pushed for a preset."""
    return f"push:{preset}"
