"""The ingestion service (FastAPI): connectors and vendor devices push counts over HTTPS.

Every accepted body is landed in raw_payload (and its batch id recorded) before the 2xx is
sent, so an acknowledged batch is never lost; the site's DAG run turns it into counts later.
Requests arriving together share one landing transaction (footfall.api.landing.Lander).
Every refusal is a 4xx with a JSON `reason`; a malformed or unauthorized request never causes a 5xx.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, Literal

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import request_response

from footfall.api import tokens
from footfall.api.batches import ConnectorBatch, check_batch
from footfall.api.bodies import check_xml, inflate, looks_like_xml, parse_json, read_limited
from footfall.api.landing import Lander, Push, PushedBody
from footfall.config import SLUG, ConfigError, Site, SourceKind, load_presets, load_site, site_path
from footfall.errors import Refused
from footfall.keys import key_digest
from footfall.warehouse.engine import get_engine

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 5 * 1024 * 1024
DEFAULT_AUTH_FAILURES = 20
_SLUG = re.compile(SLUG)


def max_body_bytes() -> int:
    """FOOTFALL_API_MAX_BODY_BYTES, default 5 MiB (raw and inflated)."""
    return int(os.environ.get("FOOTFALL_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY))


@lru_cache(maxsize=4096)
def _site_at(site_id: str, mtime_ns: int) -> Site:
    return load_site(site_path(site_id))


@lru_cache(maxsize=4096)
def _site_file(site_id: str, sites_dir: str | None) -> str:
    return str(site_path(site_id))


def push_site(site_id: str) -> Site:
    """The site file (re-read when it changes), which must describe a push site."""
    path = _site_file(site_id, os.environ.get("FOOTFALL_SITES_DIR"))  # a stat per request, no path building
    try:
        site = _site_at(site_id, os.stat(path).st_mtime_ns)
    except FileNotFoundError:
        raise Refused(404, f"site {site_id}: no such site") from None
    except ConfigError as exc:
        log.error("site file unusable: %s", exc)
        raise Refused(409, f"site {site_id}: its site file is invalid; ask the data team") from None
    if site.source.kind != SourceKind.PUSH:
        raise Refused(409, f"site {site_id}: source kind is {site.source.kind.value}, not push")
    return site


def auth_failures_per_minute() -> int:
    """FOOTFALL_API_AUTH_FAILURES_PER_MINUTE: failed token attempts allowed per address and token prefix."""
    return int(os.environ.get("FOOTFALL_API_AUTH_FAILURES_PER_MINUTE", DEFAULT_AUTH_FAILURES))


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "missing bearer token (Authorization: Bearer <token>)")
    return token.strip()


class Gate:
    """Who is asking: a bearer token checked against the warehouse (or the cache of tokens verified
    lately), failed attempts limited per source address and token prefix."""

    def __init__(self) -> None:
        self.cache = tokens.TokenCache()
        self.failures = tokens.FailedAttempts(limit=auth_failures_per_minute())

    async def owner(self, request: Request, engine: Engine, *, fresh: bool = False) -> tokens.TokenOwner:
        token = _bearer(request)
        digest = key_digest(token)
        owner = None if fresh else self.cache.get(digest)
        if owner is not None:
            return owner
        address = request.client.host if request.client else "unknown"
        wait = self.failures.retry_after(address, token)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            raise Refused(429, f"too many failed token attempts from {address} or with this token prefix; "
                           f"retry in {seconds} s", {"Retry-After": str(seconds)})  # fmt: skip
        owner = await run_in_threadpool(tokens.token_owner, engine, token)
        if owner is None:
            self.failures.record(address, token)
            self.cache.forget(digest)
            raise Refused(401, "token is unknown or revoked")
        self.cache.put(digest, owner)
        return owner

    async def authorize(
        self, request: Request, engine: Engine, site_id: str, *, fresh: bool = False
    ) -> tuple[Site, tokens.TokenOwner]:
        """The token must be active and belong to exactly this site; only then is the site looked up."""
        owner = await self.owner(request, engine, fresh=fresh)
        if not _SLUG.match(site_id) or owner.site_id != site_id:
            raise Refused(403, f"this token may not write site {site_id}")
        return push_site(site_id), owner


async def read_body(request: Request, limit: int) -> tuple[bytes, bytes | None]:
    """(the body, its gzip form as received when it can be stored as is)."""
    raw = await read_limited(request.stream(), request.headers.get("content-length"), limit)
    body, stored = inflate(raw, request.headers.get("content-encoding"), limit)
    if not body.strip():
        raise Refused(400, "empty body")
    return body, stored


class Reason(BaseModel):
    """Every refusal's body."""

    reason: str = Field(description="why the request was refused: the site, the source and what is wrong")


class Ack(BaseModel):
    """An acknowledgement: the body is landed (a resend of a batch id gets the first one again)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["accepted"]
    site_id: str
    batch_id: str | None
    payload_id: int
    rows: int
    bytes: int
    sha256: str
    received_at: str


class TokenOk(BaseModel):
    status: Literal["ok"]
    site_id: str
    preset: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": Reason, "description": what}
    for status, what in {
        400: "malformed body (not JSON or XML, bad gzip, empty)",
        401: "no bearer token, or an unknown or revoked one",
        403: "the token belongs to another site",
        404: "no such site",
        409: "the site is not a push site, or its site file is invalid",
        413: "body (raw or inflated) over the size limit",
        415: "unsupported Content-Encoding, or a format the site's preset does not take",
        422: "the batch or the request does not check (the reason names the field)",
        429: "too many failed token attempts from this address or with this token prefix; see Retry-After",
        503: "the warehouse is unavailable; retry later",
    }.items()
}
BEARER_TOKEN = {"type": "http", "scheme": "bearer", "description": "a site token from `footfall tokens create`"}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its $defs inlined (an OpenAPI request body cannot point into $defs)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def _body(content: dict[str, Any]) -> dict[str, Any]:
    return {"security": [{"HTTPBearer": []}], "requestBody": {"required": True, "content": content}}


class LeanRoute(APIRoute):
    """A route documented in /openapi.json like any other, whose endpoint is called with the request and
    its path parameters as they are (strings) and returns its own Response: FastAPI's per-request
    parameter solving, dependency stacks and response encoding are skipped, which on the push routes
    cost about as much as everything else FastAPI and uvicorn do for a request. Refusals raised by the
    endpoint reach the app's exception handlers as from any route."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)

        async def handle(request: Request) -> Response:
            return await endpoint(request=request, **request.path_params)

        self.app = request_response(handle)


class PushDoor:
    """The push routes answered in front of Starlette's middleware and router (ASGI): at thousands
    of pushes a second, the error middleware, the exception middleware, the router's walk over every
    route and the request/response wrappers cost as much as landing a batch does. What they do for a
    push is done here: a Refused is answered with its reason, anything else is logged and answered 500
    (as the error middleware would); every other request, and a push under a root path, goes on to the
    app as before. The routes stay registered (LeanRoute): their path patterns are the ones matched here,
    and they serve /openapi.json and that fallback."""

    def __init__(self, app: Any, routes: list[LeanRoute]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            for route in self.routes:
                match = route.path_regex.match(scope["path"])
                if match is not None:
                    await self._answer(scope, receive, send, route, match.groupdict())
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Any, receive: Any, send: Any, route: LeanRoute, params: dict[str, str]) -> None:
        try:
            response = await route.endpoint(request=Request(scope, receive), **params)
        except Refused as exc:
            response = _reason(exc.status, exc.reason, exc.headers)
        except Exception:
            log.exception("POST %s failed", scope["path"])
            response = _reason(500, "internal error; the request was not landed")
        await response(scope, receive, send)


def _acknowledged(ack: dict[str, Any]) -> Response:
    """A 200 with the acknowledgement, encoded by msgspec (JSONResponse's json.dumps costs more)."""
    return Response(_ACK_JSON.encode(ack), media_type="application/json")


_ACK_JSON = msgspec.json.Encoder()


def _reason(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"reason": reason}, status_code=status, headers=headers)


def create_app(engine: Engine | None = None, only: Literal["ingest", "share"] | None = None) -> FastAPI:
    """The service; the warehouse is FOOTFALL_DB_URL unless an engine is given.

    Both halves by default: ingestion (pushes, per-site tokens) and sharing (footfall.share: the public
    read API and the widget); `only` (or FOOTFALL_API_ONLY) serves one of them."""
    only = only or os.environ.get("FOOTFALL_API_ONLY") or None  # type: ignore[assignment]
    if only not in (None, "ingest", "share"):
        raise ValueError(f"only must be ingest or share, not {only!r}")

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        yield
        lander = getattr(app_.state, "lander", None)
        if lander is not None:
            lander.close()  # what waits is landed and answered before the process stops

    app = FastAPI(
        lifespan=lifespan,
        title="footfall API",
        version="1",
        description="Connectors and counting devices push counts here (each site has its own tokens); "
        "visitors' pages, widgets and partners read occupancy, forecasts and waits under /v1/public.",
    )
    app.state.engine = engine

    def warehouse() -> Engine:
        if app.state.engine is None:
            app.state.engine = get_engine()
        return app.state.engine

    @app.exception_handler(Refused)
    async def _rejected(_: Request, exc: Refused) -> JSONResponse:
        return _reason(exc.status, exc.reason, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _reason(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        return _reason(422, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")

    @app.get("/healthz", summary="liveness: the process answers and the warehouse is reachable")
    async def healthz() -> dict[str, str]:
        from footfall.warehouse.engine import ping

        await run_in_threadpool(ping, warehouse())
        return {"status": "ok"}

    if only != "share":  # first: a push is matched by the first routes tried, not after the share API's
        add_ingest(app, warehouse)
    if only != "ingest":
        from footfall.share.routes import add_share

        add_share(app, warehouse)
    return app


def add_ingest(app: FastAPI, warehouse: Callable[[], Engine]) -> None:
    """The ingestion routes: token check, connector batches, vendor pushes (landed by one Lander)."""
    lander = app.state.lander = Lander(warehouse)
    gate = app.state.gate = Gate()
    openapi = app.openapi

    def with_bearer() -> dict:
        schema = openapi()  # cached by FastAPI after the first call
        schema.setdefault("components", {}).setdefault("securitySchemes", {}).setdefault("HTTPBearer", BEARER_TOKEN)
        return schema

    app.openapi = with_bearer  # type: ignore[method-assign]
    batch_schema = _inline(ConnectorBatch.model_json_schema())
    any_body = {"schema": {"type": "string", "format": "binary"}}

    @app.get("/v1/sites/{site_id}/token", summary="check a token: 200 when it may write this site",
             response_model=None, responses={200: {"model": TokenOk}, **REFUSALS},
             openapi_extra={"security": [{"HTTPBearer": []}]})  # fmt: skip
    async def check_token(site_id: str, request: Request) -> dict[str, str]:
        site, _ = await gate.authorize(request, warehouse(), site_id, fresh=True)
        return {"status": "ok", "site_id": site.id, "preset": site.source.preset}

    async def post_batch(site_id: str, request: Request) -> Response:
        site, owner = await gate.authorize(request, warehouse(), site_id)
        body, stored = await read_body(request, min(max_body_bytes(), site.preset.max_body_bytes))
        pushed = check_batch(body, site, request.headers.get("content-type"), stored)
        return _acknowledged(await lander.land(Push(site, pushed, owner.token_id)))

    app.router.add_api_route(
        "/v1/sites/{site_id}/batches",
        post_batch,
        methods=["POST"],
        route_class_override=LeanRoute,
        summary="a footfall-connector batch (JSON, optionally gzip); idempotent on batch_id",
        response_model=None,
        responses={
            200: {"model": Ack, "description": "acknowledged (a resend gets the first acknowledgement)"},
            **REFUSALS,
        },
        openapi_extra=_body({"application/json": {"schema": batch_schema}}),
    )

    async def post_vendor_push(preset: str, site_id: str, request: Request) -> Response:
        site, owner = await gate.authorize(request, warehouse(), site_id)
        if preset not in load_presets() or site.source.preset != preset:
            raise Refused(422, f"site {site_id} takes preset {site.source.preset}, not {preset!r}")
        body, stored = await read_body(request, min(max_body_bytes(), site.preset.max_body_bytes))
        content_type = request.headers.get("content-type")
        if looks_like_xml(body, content_type):
            check_xml(body)
            if site.preset.format != "xml":
                raise Refused(415, f"site {site_id}, source push:{preset}: expects {site.preset.format}, got XML")
        elif site.preset.format == "json":
            parse_json(body)
        elif site.preset.format == "xml":
            raise Refused(415, f"site {site_id}, source push:{preset}: expects XML")
        pushed = PushedBody(
            preset=preset, body=body, content_type=content_type, request=f"POST /v1/push/{preset}/{site_id}",
            stored=stored,
        )  # fmt: skip
        return _acknowledged(await lander.land(Push(site, pushed, owner.token_id)))

    app.router.add_api_route(
        "/v1/push/{preset}/{site_id}",
        post_vendor_push,
        methods=["POST"],
        route_class_override=LeanRoute,
        summary="a vendor device's push (the site's preset says the format)",
        response_model=None,
        responses={200: {"model": Ack}, **REFUSALS},
        openapi_extra=_body({"application/json": any_body, "application/xml": any_body}),
    )
    pushes = [route for route in app.router.routes if isinstance(route, LeanRoute)]
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: PushDoor(build_stack(), pushes)  # type: ignore[method-assign]


def create_served_app() -> FastAPI:
    """create_app for `serve`: after start-up, the objects of every import are frozen out of the garbage
    collector's scans (gc.freeze), so a full collection does not walk pandas' and SQLAlchemy's modules
    in the middle of requests. The access log leaves out accepted pushes (skip_accepted_pushes). The
    interpreter's thread switch interval is shortened (5 ms -> 0.5 ms): the landing thread takes the GIL
    back after every round trip to the warehouse, and while the event loop is busy parsing requests it
    would otherwise wait up to 5 ms each time."""
    import gc
    import sys

    import pandas  # noqa: F401  (the share read path imports it on its first request: freeze it too)

    app = create_app()
    skip_accepted_pushes(logging.getLogger("uvicorn.access"))
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.0005)
    return app


_PUSH_PATHS = ("/v1/sites/", "/v1/push/")


def skip_accepted_pushes(access_log: logging.Logger) -> None:
    """uvicorn's access log without a line per accepted push: each is a row of ingest_batch or raw_payload
    already (with its time), and at thousands a second the line costs more than landing the batch does.
    Refusals, token checks and every other route keep their line. The accepted push is dropped before a
    log record is made (a logging filter would drop it only after: ~10 us a request)."""
    if getattr(access_log.info, "skips_accepted_pushes", False):
        return
    info = access_log.info

    def access_info(msg: object, *args: object, **kwargs: Any) -> None:
        if len(args) == 5 and args[4] == 200 and args[1] == "POST" and str(args[2]).startswith(_PUSH_PATHS):
            return
        info(msg, *args, **kwargs)

    access_info.skips_accepted_pushes = True  # type: ignore[attr-defined]
    access_log.info = access_info  # type: ignore[method-assign]


def serve(
    host: str, port: int, *, certfile: str | None = None, keyfile: str | None = None, workers: int = 1,
    only: str | None = None,
) -> None:  # fmt: skip
    """Run the service with uvicorn (HTTPS when a certificate is given); `only` serves ingest or share alone."""
    import uvicorn

    if only:
        os.environ["FOOTFALL_API_ONLY"] = only  # read by create_app in every worker

    uvicorn.run(
        "footfall.api.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        workers=workers,
        log_level="info",
        proxy_headers=True,
        timeout_graceful_shutdown=10,  # a stop never waits forever on an idle keep-alive connection
    )
