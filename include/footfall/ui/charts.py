"""Server-side SVG charts for the site page: no chart library, no CDN, readable by tests and screen readers.

Each series is one element with `data-series="<name>"` and its points in `data-points`, so a browser test
can check what was drawn, not only that something was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 900, 260
PAD_L, PAD_R, PAD_T, PAD_B = 48, 12, 16, 28


@dataclass
class Series:
    name: str
    points: list[tuple[datetime, float]]
    color: str
    kind: str = "line"  # line | bars | band (band: points of (t, low) and `upper`)
    upper: list[tuple[datetime, float]] = field(default_factory=list)
    dashed: bool = False  # a line drawn dashed
    shift: bool = False  # bars drawn beside the previous series' bars, not over them


@dataclass
class Marker:
    """A span on the time axis (a quality flag), with its tooltip."""

    start: datetime
    end: datetime
    label: str
    color: str


def svg_chart(
    title: str,
    start: datetime,
    end: datetime,
    series: Sequence[Series],
    zone: ZoneInfo,
    markers: Sequence[Marker] = (),
    chart_id: str = "chart",
) -> str:
    """One time chart over [start, end) in the site's local time."""
    values = [v for s in series for _, v in [*s.points, *s.upper] if v is not None]
    top = max([*values, 1.0]) * 1.1
    bottom = min([*values, 0.0])
    span = (end - start).total_seconds() or 1.0

    def x(t: datetime) -> float:
        return PAD_L + (WIDTH - PAD_L - PAD_R) * max(0.0, min(1.0, (t - start).total_seconds() / span))

    def y(v: float) -> float:
        return PAD_T + (HEIGHT - PAD_T - PAD_B) * (1 - (v - bottom) / ((top - bottom) or 1.0))

    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{WIDTH - PAD_L - PAD_R}" height="{HEIGHT - PAD_T - PAD_B}" '
        'fill="#fafafa" stroke="#ddd"/>',
    ]
    for i in range(5):  # value grid
        v = bottom + (top - bottom) * i / 4
        parts.append(
            f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
            f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v:.0f}</text>'
        )
    hours = max(1, int(span // 3600 // 12))
    tick = start
    while tick <= end:  # time axis, local hours
        parts.append(
            f'<text x="{x(tick):.1f}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle">'
            f"{tick.astimezone(zone):%H:%M}</text>"
        )
        tick += timedelta(hours=hours)
    for m in markers:
        x0, x1 = x(m.start), x(m.end)
        parts.append(
            f'<rect class="flag-marker" x="{x0:.1f}" y="{PAD_T}" width="{max(2.0, x1 - x0):.1f}" '
            f'height="{HEIGHT - PAD_T - PAD_B}" fill="{m.color}" opacity="0.18"><title>{escape(m.label)}</title></rect>'
        )
    for s in series:
        data = escape(",".join(f"{v:g}" for _, v in s.points))
        common = f'data-series="{escape(s.name)}" data-points="{data}"'
        if s.kind == "bars":
            slot = (WIDTH - PAD_L - PAD_R) / max(1, span / 900) * 0.4
            bars = "".join(
                f'<rect x="{x(t) + (slot if s.shift else 0):.1f}" y="{y(max(v, 0)):.1f}" width="{slot:.1f}" '
                f'height="{abs(y(0) - y(v)):.1f}" fill="{s.color}"/>'
                for t, v in s.points
            )
            parts.append(f"<g {common}>{bars}</g>")
        elif s.kind == "band":
            upper = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s.upper)
            lower = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in reversed(s.points))
            parts.append(f'<polygon {common} points="{upper} {lower}" fill="{s.color}" opacity="0.25"/>')
        else:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s.points)
            dash = ' stroke-dasharray="5,4"' if s.dashed else ""
            parts.append(f'<polyline {common} points="{path}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>')
    legend_x = PAD_L + 8
    for s in series:
        parts.append(
            f'<rect x="{legend_x}" y="{PAD_T + 6}" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{legend_x + 14}" y="{PAD_T + 15}" font-size="11">{escape(s.name)}</text>'
        )
        legend_x += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return "".join(parts)
