"""A site's trailing level as the unit of its pairs: where terms and breaks (or years of drift) move the
whole day up and down, counts are expressed in that level; a steady site keeps its fixed scale."""

from __future__ import annotations

import numpy as np
import pandas as pd

from footfall.forecast.backtest import build_pairs, level_factors
from footfall.forecast.calendar import calendar_frame
from footfall.forecast.features import LEVEL_FLOOR, SiteFrame, in_level_units, trailing_level
from footfall.forecast.model import anchor, level_helps

ZONE = "Europe/Paris"


def site(levels: list[float], seed: int = 3, name: str = "lib") -> SiteFrame:
    """Hourly occupancy over len(levels) weeks: an open-hours shape times each week's level, with noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=len(levels) * 7 * 24, freq="h", tz=ZONE).tz_convert("UTC").as_unit("ns")
    local = index.tz_convert(ZONE)
    shape = np.clip(np.sin((local.hour - 8) / 12 * np.pi), 0, None) * 50
    week_level = np.repeat(levels, 7 * 24)
    occupancy = rng.poisson(shape * week_level).astype(float)
    series = pd.DataFrame({"entries": np.nan, "exits": np.nan, "occupancy": occupancy}, index=index)
    calendar = calendar_frame(index, ZONE, 60, set())
    return SiteFrame.build(name, series, calendar, ZONE, 60, scale_until=28 * 24)


def test_trailing_level_skips_holes_and_one_off_days_but_not_today_and_an_untrusted_level_is_one():
    dates = np.repeat(pd.date_range("2026-01-01", periods=3).date, 2)
    raw = np.array([1.0, 3.0, 5.0, 6.0, 7.0, 9.0])
    typical = np.array([1.0, 3.0, np.nan, np.nan, 7.0, 9.0])  # the second day turned out a one-off
    level = trailing_level(raw, typical, dates, 4, 1)
    # On that day itself its readings count (that it is a one-off needs its total); the day after, not.
    assert level.tolist() == [1.0, 2.0, 3.0, 3.75, 5.0, 8.0]
    frame = site([1.0] * 6)
    frame.level["occupancy"][:3] = [np.nan, LEVEL_FLOOR / 2, 2.0]
    assert frame.relative_level(np.array([0, 1, 2]), "occupancy").tolist() == [1.0, 1.0, 2.0]


def test_level_units_divide_the_counts_but_not_the_calendar_ratios_or_leads():
    features = pd.DataFrame(
        {"typical_4_weeks": [4.0, 9.0], "latest": [2.0, 3.0], "weekday": [1, 2], "now_ratio": [1.5, 0.5]}
    )
    out = in_level_units(features, np.array([2.0, 3.0]))
    assert out["typical_4_weeks"].tolist() == [2.0, 3.0] and out["latest"].tolist() == [1.0, 1.0]
    assert out["weekday"].tolist() == [1, 2] and out["now_ratio"].tolist() == [1.5, 0.5]
    assert features["latest"].tolist() == [2.0, 3.0]  # the caller's frame is left as it was
    assert in_level_units(features, np.ones(2)) is features
    # The statistical anchor is a count times ratios: in level units times the level, it is unchanged.
    rich = pd.DataFrame({"typical_4_weeks": [4.0], "week_ratio": [1.2], "day_ratio": [0.9]})
    assert np.isclose(anchor(in_level_units(rich, np.array([2.0])))[0] * 2.0, anchor(rich)[0])


def test_the_anchor_follows_this_weeks_level_and_half_of_todays_difference():
    features = pd.DataFrame({"typical_4_weeks": [10.0], "week_ratio": [2.0], "day_ratio": [0.5]})
    assert np.isclose(anchor(features)[0], 10.0 * 2.0 * (0.5 / 2.0) ** 0.5)


def terms_and_breaks() -> list[float]:
    return [1.0] * 5 + [0.3] * 3 + [1.0] * 4 + [0.3] * 3 + [1.0] * 4


def test_a_site_with_terms_and_breaks_is_in_level_units_and_a_steady_one_is_not():
    pairs = build_pairs([site(terms_and_breaks()), site([1.0] * 19, name="steady")], "1d", 60, "occupancy")
    known = ~np.isnan(pairs.actual)
    for number, expected in ((0, True), (1, False)):
        rows = known & (pairs.site_of == number)
        assert level_helps(pairs.actual[rows], pairs.features[rows], pairs.scale[rows]) is expected
    factor = level_factors(pairs, known)
    assert (factor[pairs.site_of == 0] != 1).any() and (factor[pairs.site_of == 1] == 1).all()
    assert not level_helps(pairs.actual[:50], pairs.features[:50], pairs.scale[:50])  # too few pairs to judge


def test_only_pairs_already_observed_decide_a_sites_unit():
    pairs = build_pairs([site(terms_and_breaks())], "1d", 60, "occupancy")
    first_term = pairs.target_end <= pairs.target_end[0] + 4 * 7 * 86400 * 10**9  # before the first break
    assert (level_factors(pairs, first_term & ~np.isnan(pairs.actual)) == 1).all()
