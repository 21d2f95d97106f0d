"""Corrected occupancy: per site and site-day, a series that starts at 0 at the reset time and closes at 0.

Method (after Density and Irisys): over one site-day, E = all entries and X = all exits, summed over
every door before anything is clamped. If E > X, exits were under-counted: every interval's exits are
multiplied by E / X. If X > E, entries were under-counted: every entry is multiplied by X / E. The
cumulated net then returns to exactly 0 at the end of the day; values below 0 along the way are
clamped to 0. `correction_factor` is E / X (1 = balanced; far from 1 is itself a quality signal).
Days not yet over, or with no entries or no exits, keep the clamped raw net and a null factor.
The raw counts are never changed: this is a second series beside the raw net.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from footfall.warehouse.quality import OCCUPANCY_COLUMNS

from .balance import site_days, site_net
from .context import Prepared, site_day_key


def corrected_occupancy(p: Prepared) -> pd.DataFrame:
    """One row per site interval: raw net, corrected occupancy and the day's correction factor."""
    if p.df.empty:
        return pd.DataFrame(columns=OCCUPANCY_COLUMNS)
    per = site_net(p)
    days = site_days(p)
    factor = (days["entries"] / days["exits"]).where(
        days["complete"] & days["covered"] & (days["entries"] > 0) & (days["exits"] > 0)
    )
    pos = pd.Index(days["key"].to_numpy()).get_indexer(site_day_key(per["site_code"], per["day"]))
    f = pd.Series(factor.to_numpy()[pos], index=per.index)
    scale_exits = np.where(f >= 1, f, 1.0)
    scale_entries = np.where(f < 1, 1 / f, 1.0)
    net = (per["entries"] * scale_entries - per["exits"] * scale_exits).groupby([per["site_code"], per["day"]]).cumsum()
    corrected = net.where(f.notna(), per["net"]).clip(lower=0).round(6)
    return pd.DataFrame(
        {
            "site_id": p.site_id_of(per["site_code"]),
            "local_date": per["day"].dt.date,
            "interval_start": per["interval_start"],
            "raw_net_occupancy": per["net"],
            "corrected_occupancy": corrected,
            "correction_factor": f,
        }
    )[OCCUPANCY_COLUMNS]
