"""Checks on the balance of entries and exits: daily imbalance, negative and over-capacity occupancy,
and one door of a multi-door site disagreeing with the others.

They work on whole site-days (from the reset time), and only on days whose data start before the
site opens and that are over (closing + an hour), so an afternoon with people inside is not an
"imbalance".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .context import Prepared, local_instant
from .flags import flag_frame

SETTLE_MINUTES = 60
SITE = None  # counter_id of site-level flags


def site_days(p: Prepared) -> pd.DataFrame:
    """Per site-day: entry and exit totals, span, and whether the day is complete and covered."""
    df = p.df
    g = df.groupby("day", sort=True)
    days = g.agg(
        entries=("entries", "sum"),
        exits=("exits", "sum"),
        start=("interval_start", "min"),
        end=("interval_end", "max"),
        first_tod=("tod", "min"),
        local_first=("local_date", "min"),
    )
    ranges = np.stack([p.ranges_of(d.date()) for d in days.index]) if len(days) else np.zeros((0, 1, 2))
    valid = ranges[:, :, 0] >= 0
    first_open = np.where(valid, ranges[:, :, 0], 1440).min(axis=1) if len(days) else np.zeros(0)
    last_close = np.where(valid, ranges[:, :, 1], 0).max(axis=1) if len(days) else np.zeros(0)
    reset = p.ctx.params.reset_time.hour * 60 + p.ctx.params.reset_time.minute
    settled_wall = days.index + pd.to_timedelta(np.maximum(last_close + SETTLE_MINUTES, reset), unit="min")
    day_over_wall = days.index + pd.Timedelta(days=1) + pd.Timedelta(minutes=reset)
    settled = local_instant(p.ctx.timezone, pd.Series(np.minimum(settled_wall, day_over_wall), index=days.index))
    same_day = days["local_first"] == days.index
    days["complete"] = (settled <= p.as_of).to_numpy()
    days["covered"] = (~same_day | (days["first_tod"] <= np.maximum(first_open, reset))).to_numpy()
    days["open_any"] = valid.any(axis=1)
    return days


def imbalance(p: Prepared) -> pd.DataFrame:
    q = p.ctx.params
    days = site_days(p)
    big = np.maximum(days["entries"], days["exits"])
    rel = (days["entries"] - days["exits"]).abs() / big.where(big > 0)
    hit = days[days["complete"] & days["covered"] & (big >= q.imbalance_min_count) & (rel > q.imbalance_tolerance)]
    rel = rel[hit.index]
    detail = [
        {"entries": int(e), "exits": int(x), "relative": round(float(r), 4), "tolerance": q.imbalance_tolerance}
        for e, x, r in zip(hit["entries"], hit["exits"], rel, strict=True)
    ]
    severity = np.where(rel > q.imbalance_high, "high", "medium")
    return flag_frame(SITE, hit["start"], hit["end"], hit["entries"] - hit["exits"], 0.0, detail, severity)


def site_net(p: Prepared) -> pd.DataFrame:
    """Site-level raw net occupancy after each interval (sum over doors, then cumulate per day)."""
    df = p.df
    per = df.groupby(["day", "interval_start"], sort=True).agg(
        entries=("entries", "sum"), exits=("exits", "sum"), end=("interval_end", "max"), occupancy=("occupancy", "sum")
    )
    per["net"] = (per["entries"] - per["exits"]).groupby(level="day").cumsum()
    return per.reset_index()


def _runs_per_day(per: pd.DataFrame, mask: pd.Series, value: pd.Series, how: str) -> pd.DataFrame:
    sel = per[mask].assign(value=value[mask])
    return sel.groupby("day").agg(
        start=("interval_start", "min"), end=("end", "max"), value=("value", how), n=("value", "size")
    )


def negative_occupancy(p: Prepared) -> pd.DataFrame:
    days = site_days(p)
    covered = days.index[days["covered"]]
    per = site_net(p)
    per = per[per["day"].isin(covered)]
    tol = p.ctx.params.negative_occupancy_tolerance
    hit = _runs_per_day(per, per["net"] < -tol, per["net"], "min")
    detail = [{"intervals_below_zero": int(n), "tolerance": tol} for n in hit["n"]]
    return flag_frame(SITE, hit["start"], hit["end"], hit["value"], 0.0, detail)


def over_capacity(p: Prepared) -> pd.DataFrame:
    capacity = p.ctx.capacity
    if not capacity:
        return flag_frame([], [], [], [], [], [])
    per = site_net(p)
    limit = capacity * (1 + p.ctx.params.capacity_tolerance)
    vendor = per["occupancy"].where(p.df.groupby(["day", "interval_start"])["occupancy"].count().to_numpy() > 0)
    level = np.fmax(per["net"], vendor)
    hit = _runs_per_day(per, level > limit, level, "max")
    detail = [{"intervals_over": int(n), "capacity": capacity, "limit": limit} for n in hit["n"]]
    return flag_frame(SITE, hit["start"], hit["end"], hit["value"], float(capacity), detail)


def door_disagreement(p: Prepared) -> pd.DataFrame:
    """A door whose exit share departs from the other doors' and from its own usual share."""
    df = p.df
    q = p.ctx.params
    if df["counter_id"].nunique() < 2:
        return flag_frame([], [], [], [], [], [])
    days = site_days(p)
    good = days.index[days["complete"] & days["covered"]]
    per = (
        df[df["day"].isin(good)]
        .groupby(["day", "counter_id"])
        .agg(
            entries=("entries", "sum"),
            exits=("exits", "sum"),
            start=("interval_start", "min"),
            end=("interval_end", "max"),
        )
    )
    per["total"] = per["entries"] + per["exits"]
    site = per.groupby(level="day")[["exits", "total"]].transform("sum")
    others_total = site["total"] - per["total"]
    per["share"] = per["exits"] / per["total"].where(per["total"] > 0)
    per["others"] = (site["exits"] - per["exits"]) / others_total.where(others_total > 0)
    own = per.groupby(level="counter_id")["share"]
    per["usual"] = own.transform("median")
    per["days"] = own.transform("count")
    off_others = (per["share"] - per["others"]).abs() > q.door_tolerance
    off_usual = (per["days"] < q.spike_min_history) | ((per["share"] - per["usual"]).abs() > q.door_tolerance)
    hit = per[off_others & off_usual & (per["total"] >= q.door_min_count)].reset_index()
    detail = [
        {
            "entries": int(e),
            "exits": int(x),
            "other_doors_exit_share": round(float(o), 4),
            "usual_share": round(float(u), 4),
        }
        for e, x, o, u in zip(hit["entries"], hit["exits"], hit["others"], hit["usual"], strict=True)
    ]
    return flag_frame(hit["counter_id"], hit["start"], hit["end"], hit["share"], hit["others"], detail)
