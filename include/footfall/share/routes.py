"""The public read API and the widget, added to the footfall API app (`add_share`).

Access: a site whose file says `sharing: {public: true}` needs no key; any other site needs a partner
key naming it (`Authorization: Bearer ffp_...`). No key for a private site is 401, a key for other
sites 403, an unknown site 404, too many requests 429 with Retry-After; every refusal is JSON with a
`reason`, and nothing here answers 5xx (a warehouse that cannot be read is a 503 with a reason).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from footfall.config import Site
from footfall.errors import Refused
from footfall.share import service
from footfall.share.access import KeyCache, RateLimiter, bearer, public_rate_per_minute
from footfall.share.http import PublicCORS, Rendered, cached_json, etag_of, max_age, render, respond
from footfall.share.models import ErrorOut, ForecastOut, HoursOut, NowOut, SitesOut, TodayOut
from footfall.warehouse.share import Partner

log = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no key (or an unknown or revoked key) for a site that is not public"},
    403: {"model": ErrorOut, "description": "the key does not grant this site"},
    404: {"model": ErrorOut, "description": "no such site"},
    429: {"model": ErrorOut, "description": "rate limit reached; Retry-After says when to try again"},
    503: {"model": ErrorOut, "description": "the warehouse cannot be read right now"},
}
SiteId = Annotated[str, Path(description="site id, as in its site file", max_length=64)]
LANGS = ("en", "fr", "de")
BEARER = {"type": "http", "scheme": "bearer", "description": "a partner key from `footfall partners create`"}


def _static(name: str) -> bytes:
    return resources.files("footfall.share").joinpath("static", name).read_bytes()


class Share:
    """The state behind the routes: warehouse, key cache, rate limiter, facts cache."""

    def __init__(self, engine: Callable[[], Engine], cache_seconds: float | None = None) -> None:
        self.engine = engine
        self.keys = KeyCache(engine)
        self.limiter = RateLimiter()
        self.facts = service.FactsCache(engine, cache_seconds)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # tests move it
        self.rendered: dict[tuple[str, int], tuple[service.Facts, Site, Rendered]] = {}

    async def caller(self, request: Request) -> Partner | None:
        """The partner of the request's key (401 for a bad key), after the rate limit of that key or address."""
        key = bearer(request.headers.get("authorization"))
        partner = None
        if key is not None:
            partner = self.keys.lookup(key) if self.keys.cached(key) else await run_in_threadpool(self.keys.lookup, key)
            if partner is None:
                raise Refused(401, "key is unknown or revoked", {"WWW-Authenticate": "Bearer"})
            self.limiter.check(f"partner:{partner.partner_id}", partner.rate_per_minute)
        else:
            self.limiter.check(f"ip:{request.client.host if request.client else '-'}", public_rate_per_minute())
        return partner

    @staticmethod
    def readable(site: Site, partner: Partner | None) -> bool:
        return site.sharing.public or (partner is not None and site.id in partner.sites)

    async def site(self, request: Request, site_id: str) -> tuple[Site, bool]:
        """The site the caller may read, and whether it is public."""
        partner = await self.caller(request)
        site = service.site_file(site_id)
        if site is None:
            raise Refused(404, f"site {site_id}: no such site")
        if not self.readable(site, partner):
            if partner is None:
                raise Refused(401, f"site {site_id} is not public: send a partner key", {"WWW-Authenticate": "Bearer"})
            raise Refused(403, f"this key may not read site {site_id}")
        return site, site.sharing.public


def add_share(app: FastAPI, engine: Callable[[], Engine], cache_seconds: float | None = None) -> Share:
    """Add the public API (/v1/public/...), /widget.js and /embed/{id} to `app`."""
    share = Share(engine, cache_seconds)
    app.state.share = share
    app.add_middleware(PublicCORS)

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"reason": exc.reason}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(SQLAlchemyError)
    async def _warehouse(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("share: warehouse read failed: %s", exc)
        return JSONResponse({"reason": "the warehouse cannot be read right now"}, 503, {"Retry-After": "60"})

    # The bearer scheme is documented, not a FastAPI dependency: Share.caller checks keys (a dependency per
    # request cost a third of /now's time).
    auth: dict[str, Any] = {"security": [{"HTTPBearer": []}]}
    openapi = app.openapi

    def with_bearer() -> dict:
        schema = openapi()  # cached by FastAPI after the first call
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["HTTPBearer"] = BEARER
        return schema

    app.openapi = with_bearer  # type: ignore[method-assign]
    tags: list[str | Enum] = ["public"]

    @app.get("/v1/public/sites", tags=tags, response_model=SitesOut, openapi_extra=auth, responses=ERRORS,
             summary="the sites the caller may read")  # fmt: skip
    async def sites(request: Request) -> Response:
        partner = await share.caller(request)
        visible = [s for s in await run_in_threadpool(service.all_sites) if share.readable(s, partner)]
        out = SitesOut(sites=[service.site_out(s) for s in visible])
        return cached_json(request, out, seconds=300, public=partner is None)

    @app.get("/v1/public/sites/{site_id}/now", tags=tags, response_model=NowOut, openapi_extra=auth,
             responses=ERRORS, summary="occupancy, level, wait and usual value now")  # fmt: skip
    async def now(site_id: SiteId, request: Request) -> Response:
        site, public = await share.site(request, site_id)
        moment = share.clock()
        facts = await share.facts.get(site, moment)
        # The body changes at most once a second (age_seconds): render it once per second, site and facts.
        key = (site.id, int(moment.timestamp()))
        hit = share.rendered.get(key)
        if hit is None or hit[0] is not facts or hit[1] is not site:
            if len(share.rendered) > 1000:
                share.rendered.clear()
            hit = share.rendered[key] = (facts, site, render(service.now_out(site, facts, moment), {"age_seconds"}))
        return respond(request, hit[2], seconds=max_age(moment), public=public)

    @app.get("/v1/public/sites/{site_id}/today", tags=tags, response_model=TodayOut, openapi_extra=auth,
             responses=ERRORS, summary="half hours of the local day: observed, forecast band, usual, wait")  # fmt: skip
    async def today(site_id: SiteId, request: Request) -> Response:
        site, public = await share.site(request, site_id)
        moment = share.clock()
        out = service.today_out(site, await share.facts.get(site, moment))
        return cached_json(request, out, seconds=max_age(moment), public=public)

    @app.get("/v1/public/sites/{site_id}/forecast", tags=tags, response_model=ForecastOut, openapi_extra=auth,
             responses=ERRORS, summary="half-hour forecasts up to the end of the 'days'-th local day")  # fmt: skip
    async def forecast(site_id: SiteId, request: Request, days: Annotated[int, Query(ge=1, le=7)] = 7) -> Response:
        site, public = await share.site(request, site_id)
        moment = share.clock()
        out = await run_in_threadpool(service.forecast_out, share.engine(), site, moment, days)
        return cached_json(request, out, seconds=max_age(moment), public=public)

    @app.get("/v1/public/sites/{site_id}/hours", tags=tags, response_model=HoursOut, openapi_extra=auth,
             responses=ERRORS, summary="opening hours of a local week (0 = this week)")  # fmt: skip
    async def opening_hours(
        site_id: SiteId, request: Request, week: Annotated[int, Query(ge=0, le=52)] = 0
    ) -> Response:
        site, public = await share.site(request, site_id)
        out = service.hours_out(site, share.clock(), week)
        return cached_json(request, out, seconds=3600, public=public)

    widget_tags: list[str | Enum] = ["widget"]
    widget = _static("widget.js")
    widget_tag = etag_of(widget)

    script: dict[int | str, dict[str, Any]] = {
        200: {"content": {"text/javascript": {}}, "description": "the script"},
        304: {"description": "unchanged"},
    }

    @app.get("/widget.js", tags=widget_tags, summary="the <footfall-occupancy> web component", response_class=Response,
             responses=script)  # fmt: skip
    async def widget_js(request: Request) -> Response:
        headers = {"ETag": widget_tag, "Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
        if request.headers.get("if-none-match") == widget_tag:
            return Response(status_code=304, headers=headers)
        return Response(widget, media_type="text/javascript; charset=utf-8", headers=headers)

    page = _static("embed.html").decode()

    @app.get("/embed/{site_id}", tags=widget_tags, responses=ERRORS, summary="the widget as a page for an iframe")
    async def embed(
        site_id: SiteId,
        request: Request,
        lang: Annotated[Literal["en", "fr", "de"], Query()] = "en",
        theme: Annotated[Literal["light", "dark"], Query()] = "light",
    ) -> Response:
        share.limiter.check(f"ip:{request.client.host if request.client else '-'}", public_rate_per_minute())
        site = service.site_file(site_id)
        if site is None:
            raise Refused(404, f"site {site_id}: no such site")
        if not site.sharing.public:
            raise Refused(401, f"site {site_id} is not public: it cannot be embedded", {"WWW-Authenticate": "Bearer"})
        body = (
            page.replace("{{lang}}", lang)
            .replace("{{theme}}", theme)
            .replace("{{site}}", html.escape(site.id))
            .replace("{{name}}", html.escape(site.name))
        )
        return Response(
            body,
            media_type="text/html; charset=utf-8",
            headers={
                "Cache-Control": "public, max-age=300",
                "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors *",
            },
        )

    return share
