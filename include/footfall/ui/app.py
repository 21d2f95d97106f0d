"""The footfall pages, a FastAPI app that Airflow's api-server mounts under /footfall (see plugins/).

Sites (every site's health), a site's page (its day: occupancy raw vs corrected with the forecast band,
entries/exits, flags, revisions, payloads, runs) and the Great Expectations Data Docs, each behind
Airflow's login (footfall.ui.auth). Data comes from footfall.warehouse.health; charts are SVG drawn
here (footfall.ui.charts).
"""

from __future__ import annotations

import gzip
import mimetypes
import time
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from footfall import settings
from footfall.config import Site, load_registry
from footfall.dag_factory import DAG_PREFIX, site_dag_id
from footfall.ui import auth
from footfall.ui.charts import Marker, Series, svg_chart
from footfall.ui.freshness import freshness
from footfall.warehouse import health
from footfall.warehouse.engine import get_engine
from footfall.warehouse.health import as_utc

PREFIX = "/footfall"
TEMPLATES = Path(__file__).with_name("templates")
REGISTRY_TTL_S = 60.0
SEVERITY_COLORS = {"high": "#c62828", "medium": "#ef8f00", "low": "#777777"}


class RegistryCache:
    """Opening hours and thresholds of every site, re-read at most once a minute (not per request)."""

    def __init__(self) -> None:
        self._sites: dict[str, Site] = {}
        self._zones: list[str] = []
        self._read = 0.0

    def sites(self) -> dict[str, Site]:
        if time.monotonic() - self._read > REGISTRY_TTL_S:
            self._sites, _ = load_registry()
            self._zones = sorted({s.timezone for s in self._sites.values()})
            self._read = time.monotonic()
        return self._sites

    def zones(self) -> list[str]:
        self.sites()
        return self._zones


def _links(dag_id: str) -> dict[str, str]:
    return {
        "dag": f"/dags/{quote(dag_id)}",
        "runs": f"/dags/{quote(dag_id)}/runs",
        "page": f"/dags/{quote(dag_id)}/plugin/footfall-site",
        "docs": f"{PREFIX}/docs/index.html",
        "sites": "/plugin/footfall-sites",
    }


def _run_href(dag_id: str, run_id: str | None) -> str:
    return f"/dags/{quote(dag_id)}/runs/{quote(run_id or '', safe='')}"


def _rows(health_rows: list[health.SiteHealth], sites: dict[str, Site], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for h in health_rows:
        fresh_class, fresh_words = freshness(sites.get(h.site_id), h.last_interval_start, now)
        occupancy = h.occupancy_now if h.occupancy_now is not None else h.raw_occupancy_now
        age = h.age_minutes(now)
        rows.append(
            {
                "h": h,
                "fresh_class": fresh_class,
                "fresh_words": fresh_words,
                "age_sort": round(age, 1) if age is not None else 10**9,
                "occupancy": round(occupancy) if occupancy is not None else None,
                "flag_weight": h.flags["high"] * 10000 + h.flags["medium"] * 100 + h.flags["low"],
                "page_href": _links(h.dag_id)["page"],
                "run_href": _run_href(h.dag_id, h.last_run_id),
            }
        )
    return rows


def _health_json(h: health.SiteHealth, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "site_id": h.site_id,
        "name": h.name,
        "last_interval_start": h.last_interval_start.isoformat() if h.last_interval_start else None,
        "freshness": row["fresh_class"],
        "last_run": {"run_id": h.last_run_id, "outcome": h.last_run_outcome, "stage": h.last_run_stage},
        "entries_today": h.entries_today,
        "exits_today": h.exits_today,
        "occupancy_now": row["occupancy"],
        "flags": h.flags,
        "correction_factor": h.correction_factor,
        "forecast_method": h.forecast_method,
    }


def local_time(value: datetime | str | None, zone: ZoneInfo) -> str:
    """An instant as the site's local HH:MM ('' for none)."""
    return as_utc(value).astimezone(zone).strftime("%H:%M") if value else ""


def _site_charts(d: health.SiteDay) -> tuple[str, str]:
    zone = ZoneInfo(d.timezone)
    occ = [
        Series("raw net", [(as_utc(r["interval_start"]), r["raw_net_occupancy"]) for r in d.occupancy], "#9e9e9e"),
        Series("corrected", [(as_utc(r["interval_start"]), r["corrected_occupancy"]) for r in d.occupancy], "#0b57d0"),
    ]
    band = [r for r in d.forecast if r["occupancy_p10"] is not None and r["occupancy_p90"] is not None]
    if band:
        occ.insert(
            0,
            Series(
                "forecast 10-90 %",
                [(as_utc(r["slot_start"]), r["occupancy_p10"]) for r in band],
                "#ef8f00",
                kind="band",
                upper=[(as_utc(r["slot_start"]), r["occupancy_p90"]) for r in band],
            ),
        )
        occ.append(
            Series(
                "forecast median",
                [(as_utc(r["slot_start"]), r["occupancy_p50"]) for r in band],
                "#ef8f00",
                dashed=True,
            )
        )
    markers = [
        Marker(
            as_utc(f["period_start"]),
            as_utc(f["period_end"]),
            f"{f['check_name']} ({f['severity']}): {f['evidence']}",
            SEVERITY_COLORS.get(f["severity"], "#777"),
        )
        for f in d.flags
    ]
    occupancy_chart = svg_chart(
        f"{d.name}: occupancy on {d.day}", d.start, d.end, occ, zone, markers, chart_id="occupancy-chart"
    )
    counts = [
        Series("entries", [(r["interval_start"], float(r["entries"] or 0)) for r in d.intervals], "#1a7f37", "bars"),
        Series(
            "exits", [(r["interval_start"], float(r["exits"] or 0)) for r in d.intervals], "#c62828", "bars", shift=True
        ),
    ]
    counts_chart = svg_chart(
        f"{d.name}: entries and exits on {d.day}", d.start, d.end, counts, zone, markers, chart_id="counts-chart"
    )
    return occupancy_chart, counts_chart


def create_app() -> FastAPI:
    """The pages app; every route needs Airflow's authenticated user."""
    viewer = auth.create_viewer_dependency()
    # A default (not an Annotated alias): this module's annotations are strings, resolved at module level.
    user_dep = Depends(viewer)
    app = FastAPI(title="footfall pages", dependencies=[Depends(viewer)], docs_url=None, redoc_url=None)
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    registry = RegistryCache()

    def now() -> datetime:
        return datetime.now(UTC)

    def visible(user: Any, rows: list[health.SiteHealth]) -> list[health.SiteHealth]:
        allowed = auth.readable_dag_ids(user)
        return [h for h in rows if h.dag_id in allowed]

    @app.get("/sites", response_class=HTMLResponse)
    def sites_page(q: str = "", user: Any = user_dep) -> HTMLResponse:
        at = now()
        rows = _rows(visible(user, health.sites_health(get_engine(), at, registry.zones())), registry.sites(), at)
        html = templates.get_template("sites.html").render(rows=rows, q=q, now_text=f"{at:%Y-%m-%d %H:%M} UTC")
        return HTMLResponse(html)

    @app.get("/api/sites")
    def sites_json(user: Any = user_dep) -> JSONResponse:
        at = now()
        health_rows = visible(user, health.sites_health(get_engine(), at, registry.zones()))
        rows = _rows(health_rows, registry.sites(), at)
        return JSONResponse({"as_of": at.isoformat(), "sites": [_health_json(r["h"], r) for r in rows]})

    def site_page(user: Any, site_id: str, day: date | None) -> HTMLResponse:
        dag_id = site_dag_id(site_id)
        auth.require_site(user, dag_id)
        d = health.site_day(get_engine(), site_id, day, now())
        if d is None:
            raise HTTPException(404, f"no site {site_id!r} in the warehouse")
        zone = ZoneInfo(d.timezone)
        occupancy_chart, counts_chart = _site_charts(d)
        html = templates.get_template("site.html").render(
            d=d,
            links=_links(dag_id),
            base=PREFIX,
            occupancy_chart=occupancy_chart,
            counts_chart=counts_chart,
            run_href=lambda run_id: _run_href(dag_id, run_id),
            local=lambda t: local_time(t, zone),
        )
        return HTMLResponse(html)

    @app.get("/sites/{site_id}", response_class=HTMLResponse)
    def site_by_id(site_id: str, day: Annotated[date | None, Query()] = None, user: Any = user_dep) -> HTMLResponse:
        return site_page(user, site_id, day)

    @app.get("/dags/{dag_id}", response_class=HTMLResponse)
    def site_by_dag(dag_id: str, day: Annotated[date | None, Query()] = None, user: Any = user_dep) -> HTMLResponse:
        if not dag_id.startswith(DAG_PREFIX):
            return HTMLResponse(f"<p>{escape(dag_id)} is not a site DAG: footfall's site page is on site__* DAGs.</p>")
        return site_page(user, dag_id.removeprefix(DAG_PREFIX), day)

    @app.get("/sites/{site_id}/payloads/{payload_id}/raw")
    def raw_payload(site_id: str, payload_id: int, user: Any = user_dep) -> Response:
        auth.require_site(user, site_dag_id(site_id))
        found = health.raw_body(get_engine(), site_id, payload_id)
        if found is None:
            raise HTTPException(404, f"no payload {payload_id} for site {site_id!r}")
        body, content_type = found
        ext = mimetypes.guess_extension((content_type or "").split(";")[0].strip()) or ".bin"
        return Response(
            gzip.decompress(body),
            media_type=content_type or "application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{site_id}-payload-{payload_id}{ext}"'},
        )

    @app.get("/docs/{path:path}")
    def data_docs(path: str, user: Any = user_dep) -> Response:
        root = settings.data_docs_dir().resolve()
        target = (root / (path or "index.html")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(404, "not in the Data Docs (build them with the quality_docs DAG)")
        return FileResponse(target)

    return app
