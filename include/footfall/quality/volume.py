"""Checks against a counter's own history of the same slot: stuck at zero (or frozen) while traffic is
expected, and spikes far above the usual for that slot.

The usual value of a slot is the median of the same counter, weekday and local time of day over the
history given; its spread is the median absolute deviation (robust: one event or one broken week
does not move either). Counts are Poisson-like, so the spread has a floor of sqrt(median) + 1.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from .context import Prepared, counter_groups
from .flags import flag_frame
from .timing import _by_run

MAD_TO_SD = 1.4826


def slot_baseline(p: Prepared, column: str) -> pd.DataFrame:
    """Median, MAD and history depth of `column` for each row's (site, counter, weekday, time of day).

    Built once per Prepared for total, entries and exits together (stuck_counter and spike share
    them), over one integer slot id.
    """
    median, mad, depth = p.shared("slot_baselines", lambda: _slot_baselines(p))
    return pd.DataFrame({"median": median[column], "mad": mad[column], "depth": depth[column]})


def _slot_ids(p: Prepared) -> np.ndarray:
    """One id per (site, counter, weekday, time of day); the counter's group number stands for the
    first two (integers group faster than strings)."""
    df = p.df
    key = pd.DataFrame({"counter": counter_groups(df)[0], "weekday": df["weekday"].to_numpy(), "tod": df["tod"]})
    return key.groupby(["counter", "weekday", "tod"], sort=False).ngroup().to_numpy()


def _slot_baselines(p: Prepared) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    slot = _slot_ids(p)
    values = p.df[["total", "entries", "exits"]]
    g = values.groupby(slot)
    median = g.transform("median")
    mad = (values - median).abs().groupby(slot).transform("median")
    return median, mad, g.transform("count")


def stuck_counter(p: Prepared) -> pd.DataFrame:
    """Runs of zero counts (or an unchanging occupancy) while open, where history expects people."""
    df = p.df
    q = p.ctx.params
    base = slot_baseline(p, "total")
    expected = base["median"].where(base["depth"] >= q.spike_min_history)
    # Without enough history, expect the counter's own median over open intervals of the batch.
    fallback = df["total"].where(df["open"]).groupby(counter_groups(df)[0]).transform("median")
    expected = expected.fillna(fallback).fillna(0)
    zero = df["open"] & (df["total"] == 0) & df["entries"].notna()
    hit = _by_run(
        df.assign(expected_total=expected),
        zero,
        expected=("expected_total", "sum"),
        minutes=("interval_minutes", "sum"),
    )
    frozen_occ = df["open"] & df["entries"].isna() & df["occupancy"].notna()
    frozen_occ &= df["occupancy"].eq(p.previous("occupancy"))
    frozen = _by_run(
        df.assign(expected_total=expected),
        frozen_occ,
        expected=("expected_total", "sum"),
        minutes=("interval_minutes", "sum"),
    )
    hit = pd.concat([hit.assign(kind="zeros"), frozen.assign(kind="frozen_occupancy")])
    hit = hit[(hit["minutes"] >= q.stuck_min_minutes) & (hit["expected"] >= q.stuck_min_expected)]
    detail = [
        {"kind": k, "intervals": int(n), "minutes": int(m)}
        for k, n, m in zip(hit["kind"], hit["n"], hit["minutes"], strict=True)
    ]
    return flag_frame(hit["counter_id"], hit["start"], hit["end"], 0.0, hit["expected"], detail, site_id=hit["site_id"])


def spike_scores(p: Prepared) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Robust score per row (the larger of entries and exits), with its observed and usual values."""
    q = p.ctx.params
    best_score = pd.Series(-np.inf, index=p.df.index)
    observed = pd.Series(0.0, index=p.df.index)
    usual = pd.Series(0.0, index=p.df.index)
    for column in ("entries", "exits"):
        x = p.df[column]
        base = slot_baseline(p, column)
        spread = MAD_TO_SD * base["mad"] + np.sqrt(base["median"]) + 1
        score = ((x - base["median"]) / spread).where(
            (base["depth"] >= q.spike_min_history) & (x - base["median"] >= q.spike_min_excess)
        )
        better = score > best_score
        best_score = best_score.where(~better, score)
        observed = observed.where(~better, x)
        usual = usual.where(~better, base["median"])
    return best_score, observed, usual


def spike(p: Prepared) -> pd.DataFrame:
    """Intervals scoring above `spike_score` against the same slot's history (an event, or a glitch)."""
    q = p.ctx.params
    score, observed, usual = spike_scores(p)
    df = p.df.assign(score=score, spike_observed=observed, spike_usual=usual)
    hit = _by_run(
        df,
        score > q.spike_score,
        score=("score", "max"),
        observed=("spike_observed", "sum"),
        usual=("spike_usual", "sum"),
    )
    detail = [
        {"intervals": int(n), "max_score": round(float(s), 2)} for n, s in zip(hit["n"], hit["score"], strict=True)
    ]
    return flag_frame(
        hit["counter_id"], hit["start"], hit["end"], hit["observed"], hit["usual"], detail, site_id=hit["site_id"]
    )


def unexpected_reset(p: Prepared) -> pd.DataFrame:
    """Occupancy falling to about 0 by more than the interval's exits explain, away from the reset time."""
    df = p.df
    q = p.ctx.params
    prev = p.previous("occupancy")
    contiguous = df["interval_start"].eq(p.previous("interval_end"))
    explained = prev + df["entries"].fillna(0) - df["exits"].fillna(0)
    drop = explained - df["occupancy"]
    reset = q.reset_time.hour * 60 + q.reset_time.minute
    dist = (df["tod"] - reset).abs()
    dist = cast(pd.Series, np.minimum(dist, 1440 - dist))
    hit = df[contiguous & (drop >= q.reset_min_drop) & (df["occupancy"] <= 1) & (dist > q.reset_window_minutes)]
    detail = [
        {"before": float(b), "drop_unexplained": float(d)}
        for b, d in zip(prev[hit.index], drop[hit.index], strict=True)
    ]
    return flag_frame(
        hit["counter_id"],
        hit["interval_start"],
        hit["interval_end"],
        hit["occupancy"],
        explained[hit.index],
        detail,
        site_id=hit["site_id"],
    )
