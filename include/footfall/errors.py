"""Errors that name the site, the source, the stage and the reason (what the data team reads first)."""

from __future__ import annotations


class FootfallError(Exception):
    """Base class; `str()` is the one line a person sees in the Airflow log or the CLI."""


class SiteDataError(FootfallError):
    """A batch for one site that cannot be loaded: the raw payload is kept, nothing is loaded."""

    stage = "extract"

    def __init__(self, site_id: str, source: str, reason: str, payload_ids: list[int] | None = None):
        self.site_id = site_id
        self.source = source
        self.reason = reason
        self.payload_ids = payload_ids or []
        kept = f" (raw payload {', '.join(map(str, self.payload_ids))} kept)" if self.payload_ids else ""
        super().__init__(f"site {site_id}, source {source}: {self.stage} failed: {reason}{kept}")


class ExtractError(SiteDataError):
    """The source could not be read (HTTP error, timeout, oversized body)."""

    stage = "extract"


class ParseError(SiteDataError):
    """A body that is not the shape its preset describes."""

    stage = "normalize"


class ValidationFailed(SiteDataError):
    """The row-level suite failed: a structural problem, so the batch is not loaded."""

    stage = "validate"


class Refused(FootfallError):
    """A request an HTTP service of footfall refuses (ingestion or share): a 4xx or 503 with a reason for
    the caller, and headers such as Retry-After or WWW-Authenticate. Answered as JSON `{"reason": ...}`."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {reason}")
        self.status, self.reason, self.headers = status, reason, headers or {}
