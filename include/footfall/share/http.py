"""HTTP caching and CORS of the public API: weak ETags, max-age aligned to the 5-minute loads, 304s.

A response's ETag hashes its body without `age_seconds` (which changes every second but says nothing
new), so a widget revalidating every minute gets 304 until the next load changes the numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

CADENCE_SECONDS = 300
LOAD_LAG_SECONDS = 60  # a 5-minute run lands its counts within about a minute of the boundary
PUBLIC_PREFIX = "/v1/public/"


def max_age(now: datetime, cadence: int = CADENCE_SECONDS, lag: int = LOAD_LAG_SECONDS) -> int:
    """Seconds until the next load should have landed: the next 5-minute boundary plus the lag."""
    return cadence - (int(now.timestamp()) - lag) % cadence


def etag_of(body: bytes) -> str:
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


@dataclass(frozen=True)
class Rendered:
    """A response body and its ETag, computed once and answered many times."""

    body: bytes
    etag: str


def render(model: BaseModel, volatile: set[str] | None = None) -> Rendered:
    body = model.model_dump_json().encode()
    stable = model.model_dump_json(exclude=volatile).encode() if volatile else body
    return Rendered(body, etag_of(stable))


def respond(request: Request, rendered: Rendered, *, seconds: int, public: bool) -> Response:
    """The body as JSON with ETag and Cache-Control, or a 304 when the client's copy is current."""
    headers = {
        "ETag": rendered.etag,
        "Cache-Control": f"{'public' if public else 'private'}, max-age={seconds}",
        "Vary": "Authorization",
    }
    if _matches(request.headers.get("if-none-match"), rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type="application/json", headers=headers)


def cached_json(
    request: Request, model: BaseModel, *, seconds: int, public: bool, volatile: set[str] | None = None
) -> Response:
    return respond(request, render(model, volatile), seconds=seconds, public=public)


class PublicCORS:
    """CORS (any origin, GET, bearer keys) for the public API's paths only; the ingestion routes get none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET"],
            allow_headers=["Authorization", "If-None-Match"],
            expose_headers=["ETag", "Retry-After", "Cache-Control"],
            max_age=3600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PUBLIC_PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
