"""Cost of data quality: the row-level Great Expectations suite plus every discrepancy check, per 5-minute
batch (ms) and per million rows, beside the same rules written as bare, vectorised pandas (the floor),
with peak memory. Target: checks <= 2x the floor per million rows.

Data: simulated sites (two doors, 15-minute counts, 28 days of history plus the current day), as the
pipeline reads them after each load. A 5-minute batch is what one site-run does: validate the window
it fetched (the last 35 minutes) and run every check on the site's history plus today. The per-million
figures run the same per site over all sites; the floor runs its rules once over all sites together.

    .venv/bin/python bench/quality.py [--sites 60] [--batches 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb, result_line

from footfall.config import Site
from footfall.quality.context import SiteContext
from footfall.quality.registry import check_site
from footfall.simulator.faults import counts_with_faults
from footfall.simulator.traffic import DeviceProfile
from footfall.timewindow import Window
from footfall.validate import validate_counts, warm_up

ZONE = "Europe/Paris"
AS_OF = datetime(2026, 11, 20, 15, 5, tzinfo=UTC)  # a Friday afternoon
START = AS_OF.replace(hour=0, minute=0) - timedelta(days=28, hours=1)
HOURS = {"regular": {**dict.fromkeys(["mon", "tue", "wed", "thu", "fri"], "08:00-20:00"), "sat": "09:00-18:00"}}
OPEN = {0: (480, 1200), 1: (480, 1200), 2: (480, 1200), 3: (480, 1200), 4: (480, 1200), 5: (540, 1080)}


def make_site(site_id: str) -> Site:
    return Site.model_validate(
        {
            "id": site_id,
            "name": site_id,
            "timezone": ZONE,
            "capacity": 400,
            "opening_hours": HOURS,
            "counters": [{"id": "a", "ref": f"{site_id}-A"}, {"id": "b", "ref": f"{site_id}-B"}],
            "source": {"kind": "http_json", "preset": "axis_tvpc_export_json", "connection_id": "sim"},
        }
    )


def simulate(site_id: str) -> pd.DataFrame:
    frames = []
    for counter in ("a", "b"):
        profile = DeviceProfile(ref=f"{site_id}-{counter.upper()}", timezone=ZONE, peak_entries_per_hour=150)
        arr = counts_with_faults(profile, START, AS_OF, 15, seed=sum(map(ord, site_id)))
        frames.append(
            pd.DataFrame(
                {
                    "site_id": site_id,
                    "counter_id": counter,
                    "interval_start": pd.to_datetime(arr.start_epoch, unit="s", utc=True),
                    "interval_minutes": arr.minutes.astype("int64"),
                    "entries": arr.entries.astype("int64"),
                    "exits": arr.exits.astype("int64"),
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    day = df["interval_start"].dt.tz_convert(ZONE).dt.date
    df["occupancy"] = (df["entries"] - df["exits"]).groupby([df["counter_id"], day]).cumsum().clip(lower=0)
    return df


# --- the floor: the same rules as bare pandas, over all sites at once -----------------------------------


def floor(df: pd.DataFrame, window: Window, capacity: int, now: datetime) -> int:
    """Row-level suite + the discrepancy rules, vectorised; returns how many things it flagged."""
    n = 0
    key = ["site_id", "counter_id", "interval_start"]
    # Row-level suite (what GX checks).
    n += int(df[key].isna().any(axis=1).sum())
    n += int(df.duplicated(key).sum())  # duplicate_interval too
    n += int((~df["interval_start"].between(pd.Timestamp(window.start), pd.Timestamp(window.end))).sum())
    n += int((~df["interval_minutes"].between(5, 1440)).sum())
    n += int((df[["entries", "exits", "occupancy"]] < 0).any(axis=1).sum())
    # Local time, site-day, opening hours.
    local = df["interval_start"].dt.tz_convert(ZONE)
    day = local.dt.normalize()
    weekday = local.dt.weekday.to_numpy()
    tod = (local.dt.hour * 60 + local.dt.minute).to_numpy()
    opens = np.array([OPEN.get(d, (0, 0))[0] for d in range(7)])[weekday]
    closes = np.array([OPEN.get(d, (0, 0))[1] for d in range(7)])[weekday]
    is_open = (tod >= opens) & (tod < closes)
    total = df["entries"] + df["exits"]
    # imbalance
    daily = df.groupby(["site_id", day])[["entries", "exits"]].sum()
    big = daily.max(axis=1)
    n += int((((daily["entries"] - daily["exits"]).abs() / big > 0.1) & (big >= 50)).sum())
    # negative occupancy, over capacity (site net from the day's start)
    site_net = (df["entries"] - df["exits"]).groupby([df["site_id"], df["interval_start"]]).sum()
    site_day = site_net.index.get_level_values(1).tz_convert(ZONE).normalize()
    net = site_net.groupby([site_net.index.get_level_values(0), site_day]).cumsum()
    n += int((net < -5).sum()) + int((net > capacity).sum())
    # counts while closed (30 minutes of grace)
    closed = ~((tod >= opens - 30) & (tod < closes + 30))
    n += int((total.where(closed, 0).groupby([df["site_id"], df["counter_id"], day]).sum() >= 2).sum())
    # missing intervals: open intervals expected per counter-day vs present
    present = pd.Series(is_open).groupby([df["site_id"].to_numpy(), df["counter_id"].to_numpy(), day.to_numpy()]).sum()
    n += int((present < present.groupby(level=[0, 1]).transform("max")).sum())
    # stale feed
    ends = df["interval_start"] + pd.to_timedelta(df["interval_minutes"], unit="min")
    n += int(
        (ends.groupby([df["site_id"], df["counter_id"]]).max() < pd.Timestamp(now) - pd.Timedelta(minutes=60)).sum()
    )
    # future timestamps
    n += int((ends > pd.Timestamp(now) + pd.Timedelta(minutes=10)).sum())
    # slot baseline (median, MAD) -> stuck counter and spike
    slot = [df["site_id"], df["counter_id"], weekday, tod]
    median = total.groupby(slot).transform("median")
    mad = (total - median).abs().groupby(slot).transform("median")
    score = (total - median) / (1.4826 * mad + np.sqrt(median) + 1)
    n += int(((score > 6) & (total - median >= 10)).sum())
    zero = pd.Series(is_open & (total.to_numpy() == 0))
    run = (zero != zero.shift()).cumsum()
    runs = pd.DataFrame({"run": run, "zero": zero, "m": df["interval_minutes"], "e": median}).groupby("run").sum()
    n += int(((runs["zero"] > 0) & (runs["m"] >= 60) & (runs["e"] >= 20)).sum())
    # unexpected reset
    drop = -df.groupby(["site_id", "counter_id"])["occupancy"].diff()
    n += int(((df["occupancy"] <= 1) & (drop >= df["exits"] + 10) & (tod > 60)).sum())
    # door disagreement: each door's daily exit share vs its usual share
    exits = df.groupby(["site_id", day, "counter_id"])["exits"].sum()
    share = exits / exits.groupby(level=[0, 1]).transform("sum")
    usual = share.groupby(level=[0, 2]).transform("median")
    n += int(((share - usual).abs() > 0.25).sum())
    # clock shift: each counter-day's hourly profile against the usual one moved by -3..3 hours
    hour = tod // 60
    prof = total.groupby([df["site_id"], df["counter_id"], day, hour]).sum().unstack(fill_value=0)
    prof = prof.reindex(columns=range(24), fill_value=0).to_numpy(dtype=float)
    usual_prof = np.median(prof, axis=0)
    err = np.stack([np.abs(prof - np.roll(usual_prof, s)).sum(axis=1) for s in range(-3, 4)])
    n += int(((err.min(axis=0) < 0.5 * err[3]) & (err.argmin(axis=0) != 3)).sum())
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()

    warm_up()
    t0 = time.perf_counter()
    sites = {f"bench-{i:03d}": simulate(f"bench-{i:03d}") for i in range(args.sites)}
    contexts = {sid: SiteContext.from_site(make_site(sid)) for sid in sites}
    rows = sum(len(f) for f in sites.values())
    print(f"simulated {args.sites} sites, {rows} rows in {time.perf_counter() - t0:.1f}s")
    full = Window(START, AS_OF)
    batch_window = Window(AS_OF - timedelta(minutes=35), AS_OF)

    # One 5-minute site-run: GX on the fetched window, every check on history + today.
    batch_ms = []
    for sid in list(sites)[: args.batches]:
        df = sites[sid]
        fetched = df[df["interval_start"] >= pd.Timestamp(batch_window.start)].reset_index(drop=True)
        t = time.perf_counter()
        report = validate_counts(fetched, batch_window)
        check_site(df, contexts[sid], as_of=AS_OF, now=AS_OF)
        batch_ms.append((time.perf_counter() - t) * 1000)
        assert report.success, report.summary()
    print(f"5-minute batch: median {statistics.median(batch_ms):.0f} ms over {len(batch_ms)} site-runs")

    # Per million rows: GX and every check, per site (as the pipeline runs them).
    gx_s = checks_s = 0.0
    flags = 0
    for sid, df in sites.items():
        t = time.perf_counter()
        validate_counts(df, full)
        t1 = time.perf_counter()
        flags += len(check_site(df, contexts[sid], as_of=AS_OF, now=AS_OF))
        t2 = time.perf_counter()
        gx_s, checks_s = gx_s + (t1 - t), checks_s + (t2 - t1)
    per_m = 1e6 / rows
    print(f"GX suite: {gx_s * per_m:.2f} s/M rows; checks: {checks_s * per_m:.2f} s/M rows ({flags} flags)")

    # The floor: the same rules as bare pandas, once over all sites.
    everything = pd.concat(sites.values(), ignore_index=True)
    t = time.perf_counter()
    floor_flags = floor(everything, full, 400, AS_OF)
    floor_s = time.perf_counter() - t
    print(f"floor (bare pandas): {floor_s * per_m:.2f} s/M rows ({floor_flags} findings)")

    total_per_m = (gx_s + checks_s) * per_m
    print(
        result_line(
            {
                "batch_ms": statistics.median(batch_ms),
                "checks_s_per_million": total_per_m,
                "floor_s_per_million": floor_s * per_m,
                "ratio": total_per_m / (floor_s * per_m),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
