"""The pages' small parts: freshness against opening hours (Paris, a DST day), SVG series as drawn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from footfall.ui.charts import Marker, Series, svg_chart
from footfall.ui.freshness import freshness, is_open


def test_freshness_is_judged_while_the_site_is_open(make_site):
    site = make_site("fresh", opening_hours={"regular": {"sun": "08:00-20:00"}})
    # Sunday 2026-10-25, the day Paris leaves summer time: 10:00 local is 09:00 UTC (08:00 before the change).
    now = datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
    assert is_open(site, now) and not is_open(site, datetime(2026, 10, 25, 6, 30, tzinfo=UTC))  # 07:30 local
    assert freshness(site, now - timedelta(minutes=10), now) == ("fresh", "10 min ago")
    assert freshness(site, now - timedelta(minutes=40), now)[0] == "late"
    assert freshness(site, now - timedelta(hours=3), now)[0] == "stale"
    night = datetime(2026, 10, 25, 22, tzinfo=UTC)  # 23:00 local, closed: old data is expected
    assert freshness(site, night - timedelta(hours=3), night) == ("closed", "3 h ago (closed)")
    assert freshness(site, None, now) == ("stale", "no data yet")


def test_svg_series_carry_their_points():
    start = datetime(2026, 11, 20, 7, tzinfo=UTC)
    points = [(start + timedelta(minutes=15 * i), float(v)) for i, v in enumerate([3, 9, 4])]
    svg = svg_chart(
        "t",
        start,
        start + timedelta(hours=2),
        [Series("corrected", points, "#00f"), Series("band", points, "#f80", kind="band", upper=points)],
        ZoneInfo("Europe/Paris"),
        [Marker(start, start + timedelta(minutes=30), "stuck <door>", "#f00")],
        chart_id="c",
    )
    assert 'data-series="corrected" data-points="3,9,4"' in svg
    assert "<polygon" in svg and 'class="flag-marker"' in svg
    assert "stuck &lt;door&gt;" in svg  # labels are escaped
    assert ">08:00<" in svg  # the axis is in local time
