"""Checks on the balance of entries and exits: daily imbalance, negative and over-capacity occupancy,
and one door of a multi-door site disagreeing with the others.

They work on whole site-days (from the reset time), and only on days whose data start before the
site opens and that are over (closing + an hour), so an afternoon with people inside is not an
"imbalance". Every frame here is per site and site-day, so one call serves many sites.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from .context import (
    Prepared,
    counter_groups,
    group_rows,
    local_instant,
    plain_values,
    reduce_groups,
    site_day_key,
    sorted_group_ids,
)
from .flags import flag_frame

SETTLE_MINUTES = 60
SITE = None  # counter_id of site-level flags


def site_days(p: Prepared) -> pd.DataFrame:
    """Per site and site-day: entry and exit totals, span, and whether the day is complete and covered.

    Indexed by (site_code, day); `key` is site_day_key. Built once per Prepared (four checks and the
    corrected occupancy read it).
    """
    return p.shared("site_days", lambda: _site_days(p))


def _site_days(p: Prepared) -> pd.DataFrame:
    df = p.df
    order, first = group_rows(df["site_code"].to_numpy(), df["day"].to_numpy())

    def per_day(column: str, how: str) -> np.ndarray:
        return reduce_groups(plain_values(df[column]), order, first, how)

    index = pd.MultiIndex.from_arrays(
        [df["site_code"].to_numpy()[order][first], df["day"].to_numpy()[order][first]], names=["site_code", "day"]
    )
    days = pd.DataFrame(
        {
            "entries": per_day("entries", "sum"),
            "exits": per_day("exits", "sum"),
            "start": pd.DatetimeIndex(per_day("interval_start", "min")).tz_localize("UTC"),
            "end": pd.DatetimeIndex(per_day("interval_end", "max")).tz_localize("UTC"),
            "first_tod": per_day("tod", "min"),
            "local_first": per_day("local_date", "min"),
        },
        index=index,
    )
    code = days.index.get_level_values("site_code").to_numpy()
    day = cast(pd.DatetimeIndex, days.index.get_level_values("day"))
    ranges, _ = p.ranges_at(code, day.to_numpy())
    valid = ranges[:, :, 0] >= 0
    first_open = np.where(valid, ranges[:, :, 0], 1440).min(axis=1) if len(days) else np.zeros(0)
    last_close = np.where(valid, ranges[:, :, 1], 0).max(axis=1) if len(days) else np.zeros(0)
    reset = p.ctx.params.reset_time.hour * 60 + p.ctx.params.reset_time.minute
    settled_wall = day + pd.to_timedelta(np.maximum(last_close + SETTLE_MINUTES, reset), unit="min")
    day_over_wall = day + pd.Timedelta(days=1) + pd.Timedelta(minutes=reset)
    settled = local_instant(p.ctx.timezone, pd.Series(np.minimum(settled_wall, day_over_wall), index=days.index))
    same_day = days["local_first"].to_numpy() == day.to_numpy()
    days["complete"] = (settled <= p.as_of).to_numpy()
    days["covered"] = ~same_day | (days["first_tod"].to_numpy() <= np.maximum(first_open, reset))
    days["open_any"] = np.asarray(valid.any(axis=1))
    days["key"] = site_day_key(code, day)
    return days


def _day_facts(p: Prepared, rows: pd.DataFrame, column: str) -> np.ndarray:
    """site_days()[column] for each row of a frame with site_code and day columns."""
    days = site_days(p)
    pos = pd.Index(days["key"].to_numpy()).get_indexer(site_day_key(rows["site_code"], rows["day"]))
    return days[column].to_numpy()[pos]


def imbalance(p: Prepared) -> pd.DataFrame:
    q = p.ctx.params
    days = site_days(p)
    big = cast(pd.Series, np.maximum(days["entries"], days["exits"]))
    rel = (days["entries"] - days["exits"]).abs() / big.where(big > 0)
    flagged = days["complete"] & days["covered"] & (big >= q.imbalance_min_count) & (rel > q.imbalance_tolerance)
    hit, rel = days[flagged], rel[flagged]
    detail = [
        {"entries": int(e), "exits": int(x), "relative": round(float(r), 4), "tolerance": q.imbalance_tolerance}
        for e, x, r in zip(hit["entries"], hit["exits"], rel, strict=True)
    ]
    severity = np.where(rel > q.imbalance_high, "high", "medium")
    site_id = p.site_id_of(hit.index.get_level_values("site_code"))
    return flag_frame(
        SITE, hit["start"], hit["end"], hit["entries"] - hit["exits"], 0.0, detail, severity, site_id=site_id
    )


def site_net(p: Prepared) -> pd.DataFrame:
    """Site-level raw net occupancy after each interval (sum over doors, then cumulate per site-day)."""
    return p.shared("site_net", lambda: _site_net(p))


def _site_net(p: Prepared) -> pd.DataFrame:
    df = p.df
    code, day = df["site_code"].to_numpy(), df["day"].to_numpy()
    order, first = group_rows(code, day, plain_values(df["interval_start"]))

    def per_instant(values: np.ndarray, how: str) -> np.ndarray:
        return reduce_groups(values, order, first, how)

    occupancy = df["occupancy"].to_numpy(dtype=float)
    per = pd.DataFrame(
        {
            "site_code": code[order][first],
            "day": day[order][first],
            "interval_start": pd.DatetimeIndex(per_instant(plain_values(df["interval_start"]), "min")).tz_localize(
                "UTC"
            ),
            "entries": per_instant(df["entries"].to_numpy(dtype=float), "sum"),
            "exits": per_instant(df["exits"].to_numpy(dtype=float), "sum"),
            "end": pd.DatetimeIndex(per_instant(plain_values(df["interval_end"]), "max")).tz_localize("UTC"),
            "occupancy": per_instant(occupancy, "sum"),
            "occupancy_rows": per_instant((~np.isnan(occupancy)).astype(np.int64), "sum"),
        }
    )
    # Net occupancy from each site-day's start (rows are in site-day order: one integer group key).
    same_day = sorted_group_ids(per["site_code"].to_numpy(), per["day"].to_numpy())
    per["net"] = (per["entries"] - per["exits"]).groupby(same_day).cumsum()
    return per


def _runs_per_day(per: pd.DataFrame, mask: pd.Series, value: pd.Series, how: str) -> pd.DataFrame:
    if not mask.any():  # the usual case: skip the groupby's fixed cost
        index = pd.MultiIndex.from_arrays([[], []], names=["site_code", "day"])
        return pd.DataFrame({"start": [], "end": [], "value": [], "n": []}, index=index)
    sel = per[mask].assign(value=value[mask])
    return sel.groupby(["site_code", "day"]).agg(
        start=("interval_start", "min"), end=("end", "max"), value=("value", how), n=("value", "size")
    )


def negative_occupancy(p: Prepared) -> pd.DataFrame:
    per = site_net(p)
    tol = p.ctx.params.negative_occupancy_tolerance
    below = per["net"] < -tol
    below &= _day_facts(p, per, "covered").astype(bool) if below.any() else below
    hit = _runs_per_day(per, below, per["net"], "min")
    detail = [{"intervals_below_zero": int(n), "tolerance": tol} for n in hit["n"]]
    site_id = p.site_id_of(hit.index.get_level_values("site_code"))
    return flag_frame(SITE, hit["start"], hit["end"], hit["value"], 0.0, detail, site_id=site_id)


def over_capacity(p: Prepared) -> pd.DataFrame:
    capacity = np.array([c.capacity or np.nan for c in p.sites.values()], dtype=float)
    if np.isnan(capacity).all():
        return flag_frame([], [], [], [], [], [])
    per = site_net(p)
    tolerance = p.ctx.params.capacity_tolerance
    limit = capacity[per["site_code"].to_numpy()] * (1 + tolerance)
    vendor = per["occupancy"].where(per["occupancy_rows"] > 0)
    level = cast(pd.Series, np.fmax(per["net"], vendor))
    hit = _runs_per_day(per, level > limit, level, "max")
    codes = hit.index.get_level_values("site_code")
    capacities = [cast(int, p.sites[s].capacity) for s in p.site_id_of(codes)]  # only sites with one are hit
    detail = [
        {"intervals_over": int(n), "capacity": c, "limit": c * (1 + tolerance)}
        for n, c in zip(hit["n"], capacities, strict=True)
    ]
    expected = [float(c) for c in capacities]
    return flag_frame(SITE, hit["start"], hit["end"], hit["value"], expected, detail, site_id=p.site_id_of(codes))


def door_disagreement(p: Prepared) -> pd.DataFrame:
    """A door whose exit share departs from the other doors' and from its own usual share."""
    df = p.df
    q = p.ctx.params
    codes = df["site_code"].to_numpy()
    door_of_row, door_first = counter_groups(df)
    doors = np.bincount(codes[door_first], minlength=len(p.sites))
    if not (doors >= 2).any():
        return flag_frame([], [], [], [], [], [])
    days = site_days(p)
    good = days["key"].to_numpy()[(days["complete"] & days["covered"]).to_numpy()]
    keep = np.isin(site_day_key(codes, df["day"]), good) & (doors[codes] >= 2)
    rows = np.flatnonzero(keep)
    code, day, door = codes[rows], df["day"].to_numpy()[rows], door_of_row[rows]
    order, first = group_rows(code, day, door)  # per site-day and door

    def per_door(column: str, how: str) -> np.ndarray:
        return reduce_groups(plain_values(df[column])[rows], order, first, how)

    entries, exits = per_door("entries", "sum"), per_door("exits", "sum")
    total = entries + exits
    same_day = sorted_group_ids(code[order][first], day[order][first])
    day_first = np.flatnonzero(np.r_[True, same_day[1:] != same_day[:-1]]) if len(same_day) else same_day
    site_exits = np.add.reduceat(exits, day_first)[same_day] if len(same_day) else exits
    others_total = (np.add.reduceat(total, day_first)[same_day] if len(same_day) else total) - total
    share = np.divide(exits, total, out=np.full(len(total), np.nan), where=total > 0)
    others = np.divide(site_exits - exits, others_total, out=np.full(len(total), np.nan), where=others_total > 0)
    own = pd.Series(share).groupby(door[order][first])
    usual = own.transform("median").to_numpy()
    history = own.transform("count").to_numpy()
    off_others = np.abs(share - others) > q.door_tolerance
    off_usual = (history < q.spike_min_history) | (np.abs(share - usual) > q.door_tolerance)
    hit = np.flatnonzero(off_others & off_usual & (total >= q.door_min_count))
    detail = [
        {
            "entries": int(e),
            "exits": int(x),
            "other_doors_exit_share": round(float(o), 4),
            "usual_share": round(float(u), 4),
        }
        for e, x, o, u in zip(entries[hit], exits[hit], others[hit], usual[hit], strict=True)
    ]
    flagged = order[first][hit]  # a row of each flagged door-day
    return flag_frame(
        df["counter_id"].to_numpy()[rows][flagged],
        pd.DatetimeIndex(per_door("interval_start", "min")[hit]).tz_localize("UTC"),
        pd.DatetimeIndex(per_door("interval_end", "max")[hit]).tz_localize("UTC"),
        share[hit],
        others[hit],
        detail,
        site_id=p.site_id_of(code[flagged]),
    )
