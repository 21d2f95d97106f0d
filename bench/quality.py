"""Cost of data quality: the row-level Great Expectations suite plus every discrepancy check, per 5-minute
batch (ms) and per million rows, beside the same rules written as bare, vectorised pandas (the floor),
with peak memory. Target: GX + checks <= 2x the floor per million rows.

Data: simulated sites (two doors, 15-minute counts, 28 days of history plus the current day, one
injected fault per site: a gap, a stuck door, a spike, an unbalanced day or a clock shift), as the
pipeline reads them after each load.

- A 5-minute batch is the live path of one site-run: validate the window it fetched (the last 35
  minutes), then every check and the corrected occupancy on the site's history plus today.
- Per million rows is the bulk path: one GX validation over many rows (`validate_counts`) and one
  `check_sites` call (each check once over all sites), plus the corrected occupancy. History imports
  call the same functions once per batch of weeks of one site; `runner.check_windows` offers them
  for many sites at once. The same work site by site (`per_site_s_per_million`) is reported too, and
  the bulk flags are asserted equal to the per-site ones.
- The floor runs its rules once over all sites together. Bulk and floor are each the best of two runs.
- The floor also runs site by site (`floor_per_site_s_per_million`), so the site-by-site path is compared
  with like: `per_site_ratio` = site-by-site cost / site-by-site floor.

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
from footfall.quality.context import SiteContext, prepare, prepare_sites
from footfall.quality.occupancy import corrected_occupancy
from footfall.quality.registry import check_site, check_sites
from footfall.timewindow import Window
from footfall.validate import validate_counts, warm_up
from footfall_simulator.faults import Fault, counts_with_faults
from footfall_simulator.traffic import DeviceProfile

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


def faults(number: int) -> list[Fault]:
    """One fault on door A of site `number`, on a weekday of the history (none on every sixth site)."""
    day = START + timedelta(days=3 + number % 20, hours=9 + number % 5)
    return {
        0: [],
        1: [Fault("gap", None, day, day + timedelta(hours=1))],
        2: [Fault("stuck", None, day, day + timedelta(hours=2))],
        3: [Fault("spike", None, day, day + timedelta(minutes=30), {"factor": 8})],
        4: [Fault("imbalance", None, day - timedelta(hours=12), day + timedelta(hours=12), {"exit_factor": 0.6})],
        5: [Fault("clock_shift", None, day - timedelta(hours=12), day + timedelta(hours=12), {"hours": 1})],
    }[number % 6]


def simulate(site_id: str, number: int = 0) -> pd.DataFrame:
    frames = []
    for counter in ("a", "b"):
        profile = DeviceProfile(ref=f"{site_id}-{counter.upper()}", timezone=ZONE, peak_entries_per_hour=150)
        injected = faults(number) if counter == "a" else []
        arr = counts_with_faults(profile, START, AS_OF, 15, seed=sum(map(ord, site_id)), faults=injected)
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
    # A shifted clock reports some intervals twice; the database keeps one row per key (the last).
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["counter_id", "interval_start"], keep="last")
    df = df.reset_index(drop=True)
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


def site_run(df: pd.DataFrame, ctx: SiteContext, batch_window: Window) -> None:
    """The live path of one site-run: GX on the fetched window, then checks and corrected occupancy."""
    fetched = df[df["interval_start"] >= pd.Timestamp(batch_window.start)].reset_index(drop=True)
    report = validate_counts(fetched, batch_window)
    assert report.success, report.summary()
    prepared = prepare(df, ctx, as_of=AS_OF, now=AS_OF)
    check_site(df, ctx, as_of=AS_OF, now=AS_OF, prepared=prepared)
    corrected_occupancy(prepared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()

    warm_up()
    t0 = time.perf_counter()
    sites = {f"bench-{i:03d}": simulate(f"bench-{i:03d}", i) for i in range(args.sites)}
    contexts = {sid: SiteContext.from_site(make_site(sid)) for sid in sites}
    rows = sum(len(f) for f in sites.values())
    print(f"simulated {args.sites} sites, {rows} rows in {time.perf_counter() - t0:.1f}s")
    full = Window(START, AS_OF)
    batch_window = Window(AS_OF - timedelta(minutes=35), AS_OF)
    everything = pd.concat(sites.values(), ignore_index=True)
    per_m = 1e6 / rows

    # One 5-minute site-run per site, every one timed (warm_up() built the GX context beforehand).
    batch_ms = []
    for sid in list(sites)[: args.batches]:
        t = time.perf_counter()
        site_run(sites[sid], contexts[sid], batch_window)
        batch_ms.append((time.perf_counter() - t) * 1000)
    print(f"5-minute batch: median {statistics.median(batch_ms):.0f} ms over {len(batch_ms)} site-runs")

    # Per million rows, bulk: one GX validation and one check_sites call over every site (best of two,
    # as the floor: the box is shared).
    gx_s = checks_s = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        report = validate_counts(everything, full)
        t1 = time.perf_counter()
        prepared = prepare_sites(everything, contexts, as_of=AS_OF, now=AS_OF)
        flags = check_sites(everything, contexts, as_of=AS_OF, now=AS_OF, prepared=prepared)
        occupancy = pd.concat([corrected_occupancy(p) for p in prepared], ignore_index=True)
        t2 = time.perf_counter()
        assert report.success, report.summary()
        gx_s, checks_s = min(gx_s, t1 - t), min(checks_s, t2 - t1)
    print(
        f"bulk: GX suite {gx_s * per_m:.2f} s/M rows; checks + corrected occupancy {checks_s * per_m:.2f} s/M rows "
        f"({len(flags)} flags, {len(occupancy)} corrected rows)"
    )

    # The same site by site (the live path's functions over every site), and its flags equal the bulk ones.
    t = time.perf_counter()
    per_site = []
    for sid, df in sites.items():
        validate_counts(df, full)
        p = prepare(df, contexts[sid], as_of=AS_OF, now=AS_OF)
        per_site.append(check_site(df, contexts[sid], as_of=AS_OF, now=AS_OF, prepared=p))
        corrected_occupancy(p)
    per_site_s = time.perf_counter() - t
    pd.testing.assert_frame_equal(flags, pd.concat(per_site, ignore_index=True), check_dtype=False)
    print(f"site by site: {per_site_s * per_m:.2f} s/M rows (same {len(flags)} flags)")

    # The floor: the same rules as bare pandas, once over all sites (best of two).
    floor_s = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        floor_flags = floor(everything, full, 400, AS_OF)
        floor_s = min(floor_s, time.perf_counter() - t)
    print(f"floor (bare pandas): {floor_s * per_m:.2f} s/M rows ({floor_flags} findings)")

    # The floor site by site too, so the live path's per-call cost is compared with like (best of two).
    floor_per_site_s = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        for df in sites.values():
            floor(df, full, 400, AS_OF)
        floor_per_site_s = min(floor_per_site_s, time.perf_counter() - t)
    print(f"floor site by site: {floor_per_site_s * per_m:.2f} s/M rows")

    total_per_m = (gx_s + checks_s) * per_m
    print(
        result_line(
            {
                "sites": args.sites,
                "rows": rows,
                "batch_ms": statistics.median(batch_ms),
                "gx_s_per_million": gx_s * per_m,
                "checks_s_per_million": checks_s * per_m,
                "total_s_per_million": total_per_m,
                "per_site_s_per_million": per_site_s * per_m,
                "floor_s_per_million": floor_s * per_m,
                "ratio": total_per_m / (floor_s * per_m),
                "floor_per_site_s_per_million": floor_per_site_s * per_m,
                "per_site_ratio": per_site_s / floor_per_site_s,
                "flags": len(flags),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
