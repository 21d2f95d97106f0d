"""Precision and recall of every discrepancy check on simulated sites with injected faults (known truth),
then what the checks flag on the real CalIt2 building counts.

Each simulated site has two doors, 15-minute counts over five weeks (three clean weeks of history),
and exactly one fault. The simulator injects gap, stuck, imbalance, spike and clock_shift; the kinds it
has no switch for (stale feed, counts while closed, duplicates, future rows, resets, crowding, an exit
burst, a one-sided door) are injected here into its output, with the same truth records.

A flag is a true positive when it falls on the local day(s) of a fault whose kind explains it
(EXPLAINS: the target kind plus known side effects, e.g. a stuck door also unbalances the day, and a
spike's extra people, who stay a dwell time, can truly take occupancy over capacity);
recall counts faults of a check's target kind that at least one of its flags meets.

The CalIt2 part prints the flags per check on the real counts and how many of the known events
(real crowds, not faults) raise a spike flag; the RESULT line ends with those figures.

    .venv/bin/python bench/quality_eval.py [--sites-per-kind 8] [--calit2 ../shared/data/calit2-building-people-counts]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from footfall.config import OpeningHours, QualityParams
from footfall.quality.context import SiteContext
from footfall.quality.registry import check_site
from footfall_simulator.faults import Fault, counts_with_faults
from footfall_simulator.traffic import DeviceProfile

ZONE = "Europe/Paris"
START = datetime(2026, 9, 28, tzinfo=UTC)  # weeks across the October DST change
WEEKS = 5
HOURS = OpeningHours.model_validate(
    {"regular": {**dict.fromkeys(["mon", "tue", "wed", "thu", "fri"], "08:00-20:00"), "sat": "09:00-18:00"}}
)
TARGET = {
    "missing_intervals": "gap",
    "stale_feed": "stale",
    "stuck_counter": "stuck",
    "spike": "spike",
    "imbalance": "imbalance",
    "door_disagreement": "door",
    "clock_shift": "clock_shift",
    "counts_while_closed": "closed",
    "duplicate_interval": "duplicate",
    "future_timestamp": "future",
    "unexpected_reset": "reset",
    "negative_occupancy": "exit_burst",
    "over_capacity": "crowd",
}
SIDE_EFFECTS = {
    "imbalance": {"door", "stuck", "gap", "exit_burst", "crowd", "stale"},
    "negative_occupancy": {"stuck", "gap", "clock_shift"},
    "counts_while_closed": {"clock_shift", "spike"},
    "missing_intervals": {"stale", "clock_shift"},
    "duplicate_interval": {"clock_shift"},
    "door_disagreement": {"imbalance", "stuck", "exit_burst"},
    "spike": {"crowd", "exit_burst", "clock_shift"},
    "stuck_counter": {"clock_shift"},
    "clock_shift": set(),
    # drift: the raw net keeps growing all day; a spike's extra arrivals stay a dwell time, so the
    # reported occupancy can truly pass capacity (the simulator keeps occupancy consistent with them)
    "over_capacity": {"imbalance", "door", "spike"},
}
EXPLAINS = {check: {kind} | SIDE_EFFECTS.get(check, set()) for check, kind in TARGET.items()}
KINDS = sorted(set(TARGET.values()))


def local(day, hh, mm=0) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, datetime.min.time())).tz_localize(ZONE) + pd.Timedelta(
        hours=hh, minutes=mm
    )


def simulate_site(site_id: str, kind: str, rng: np.random.Generator) -> tuple[pd.DataFrame, dict, pd.Timestamp]:
    """One site's counts with one fault; returns counts, the truth record and the run's end (as_of)."""
    first = (START + timedelta(weeks=3)).astimezone(ZoneInfo(ZONE)).date()
    day = first + timedelta(days=int(rng.choice([0, 1, 2, 3, 7, 8, 9, 10])))  # a weekday in weeks 4-5
    hour = int(rng.integers(10, 16))
    end_day = (START + timedelta(weeks=WEEKS - 1, days=4)).astimezone(ZoneInfo(ZONE)).date()  # Friday of week 5
    as_of = local(end_day, 16).tz_convert("UTC")
    t0, t1 = local(day, hour).tz_convert("UTC"), local(day, hour + 2).tz_convert("UTC")
    d0, d1 = local(day, 0).tz_convert("UTC"), (local(day, 0) + pd.Timedelta(days=1)).tz_convert("UTC")
    sim = {
        "gap": [Fault("gap", "A", t0, t0 + timedelta(hours=1))],
        "stuck": [Fault("stuck", "A", t0, t1)],
        "spike": [Fault("spike", "A", t0, t0 + timedelta(minutes=30), {"factor": 8})],
        "imbalance": [Fault("imbalance", None, d0, d1, {"exit_factor": 0.6})],
        "door": [Fault("imbalance", "B", d0, d1, {"exit_factor": 0.1})],
        "clock_shift": [Fault("clock_shift", "A", d0, d1, {"hours": 1})],
    }.get(kind, [])
    frames = []
    for ref, counter in (("A", "a"), ("B", "b")):
        profile = DeviceProfile(ref=f"{site_id}-{ref}", timezone=ZONE, peak_entries_per_hour=150)
        faults = [
            Fault(f.kind, profile.ref, f.start_utc, f.end_utc, dict(f.params)) for f in sim if f.ref in (None, ref)
        ]
        arr = counts_with_faults(profile, START, as_of.to_pydatetime(), 15, seed=sum(map(ord, site_id)), faults=faults)
        frames.append(
            pd.DataFrame(
                {
                    "site_id": site_id,
                    "counter_id": counter,
                    "interval_start": pd.to_datetime(arr.start_epoch, unit="s", utc=True),
                    "interval_minutes": arr.minutes,
                    "entries": arr.entries.astype(float),
                    "exits": arr.exits.astype(float),
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    day_key = df["interval_start"].dt.tz_convert(ZONE).dt.date
    df["occupancy"] = (df["entries"] - df["exits"]).groupby([df["counter_id"], day_key]).cumsum()
    a = df["counter_id"] == "a"
    truth = {"site_id": site_id, "kind": kind, "start": d0, "end": d1}
    if kind == "stale":
        df = df[~(a & (df["interval_start"] >= local(end_day, 13).tz_convert("UTC")))]
        truth.update(start=local(end_day, 0).tz_convert("UTC"), end=as_of)
    elif kind == "clock_shift":  # the shifted day's last hour lands on the next local day
        truth.update(end=d1 + pd.Timedelta(hours=1))
    elif kind == "closed":
        at = a & df["interval_start"].isin([local(day, 22).tz_convert("UTC"), local(day, 22, 15).tz_convert("UTC")])
        df.loc[at, "entries"] += 3
    elif kind == "duplicate":
        rows = df[a & (df["interval_start"] >= t0) & (df["interval_start"] < t0 + timedelta(minutes=45))]
        df = pd.concat([df, rows.assign(entries=rows["entries"] + 5)], ignore_index=True)
    elif kind == "future":
        rows = df[a].tail(2).copy()
        rows["interval_start"] = rows["interval_start"] + pd.Timedelta(hours=3)
        df = pd.concat([df, rows], ignore_index=True)
        truth.update(start=as_of, end=as_of + pd.Timedelta(hours=4))
    elif kind == "reset":
        after = a & (day_key == day) & (df["interval_start"] >= t0)
        df.loc[after, "occupancy"] -= df.loc[a & (df["interval_start"] == t0), "occupancy"].iloc[0]
    elif kind == "exit_burst":
        df.loc[a & (df["interval_start"] == local(day, 8, 15).tz_convert("UTC")), "exits"] += 40
    elif kind == "crowd":
        df.loc[a & (df["interval_start"] == t0), "entries"] += 600
        df.loc[a & (df["interval_start"] == t0 + timedelta(hours=1)), "exits"] += 600
    return df, truth, as_of


def evaluate(per_kind: int, seed: int) -> tuple[pd.DataFrame, int, float]:
    rng = np.random.default_rng(seed)
    truths, found, rows, seconds = [], [], 0, 0.0
    for kind in KINDS:
        for i in range(per_kind):
            site_id = f"{kind}-{i}"
            counts, truth, as_of = simulate_site(site_id, kind, rng)
            ctx = SiteContext(site_id, ZONE, capacity=600, opening_hours=HOURS, country="FR")
            t = time.perf_counter()
            flags = check_site(counts, ctx, as_of=as_of, now=as_of)
            seconds += time.perf_counter() - t
            rows += len(counts)
            truths.append(truth)
            found.append(flags)
    flags = pd.concat(found, ignore_index=True)
    truth = pd.DataFrame(truths)
    lines = []
    for check, kind in TARGET.items():
        mine = flags[flags["check"] == check].merge(truth, on="site_id", suffixes=("", "_truth"))
        meets = (mine["start"] < mine["end_truth"]) & (mine["end"] > mine["start_truth"])
        tp = meets & mine["kind"].isin(EXPLAINS[check])
        precision = tp.mean() if len(mine) else float("nan")
        targets = truth[truth["kind"] == kind]
        detected = mine[meets & (mine["kind"] == kind)]["site_id"].nunique()
        recall = detected / len(targets)
        lines.append((check, kind, len(mine), int(tp.sum()), precision, detected, len(targets), recall))
    table = pd.DataFrame(lines, columns=["check", "target", "flags", "tp", "precision", "detected", "faults", "recall"])
    return table, rows, seconds


def calit2(folder: Path) -> dict[str, int]:
    """What the checks flag on the real CalIt2 counts; returns the figures for the RESULT line.

    The events are real (talks, meetings), not faults: a spike flag on one is a true find. An event
    counts as raising a flag when a spike flag meets it or the hour after it (people leave late).
    """
    from footfall_devtools.calit2 import ZONE as LA
    from footfall_devtools.calit2 import load_calit2, load_events

    counts = load_calit2(folder / "CalIt2.data")
    events = load_events(folder / "CalIt2.events")
    flags = check_site(counts, SiteContext("calit2", LA), now=pd.Timestamp("2006-01-01", tz="UTC"))
    print(f"\nCalIt2: {len(counts)} half-hours, {len(events)} known events; flags per check (24/7, no hours known):")
    print(flags.groupby(["check", "severity"]).size().to_string())
    visible = flags.groupby("check").size()
    print("counting faults visible: " + ", ".join(f"{check} ({n} flags)" for check, n in visible.items()))
    default = QualityParams().spike_score
    spiked = {}
    for score in dict.fromkeys((default, 4.0, 3.0)):
        sp = check_site(counts, SiteContext("calit2", LA, params=QualityParams(spike_score=score)), only={"spike"})
        meets = np.array(
            [
                ((sp["start"] < e.end + pd.Timedelta(hours=1)) & (sp["end"] > e.start)).to_numpy()
                for e in events.itertuples()
            ]
        ).reshape(len(events), len(sp))
        spiked[score] = int(meets.any(axis=1).sum())
        print(
            f"spike_score={score:g}: {spiked[score]}/{len(events)} events raise a spike flag; {len(sp)} spike flags, "
            f"{int(meets.any(axis=0).sum())} of them on an event"
        )
    worst = flags[flags["check"].isin(["stuck_counter", "missing_intervals", "imbalance"])].head(8)
    print(worst[["check", "start", "end", "observed", "expected"]].to_string(index=False))
    return {
        "calit2_events": len(events),
        "calit2_events_spiked": spiked[default],
        "calit2_checks_flagging": len(visible),
        "calit2_flags": len(flags),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites-per-kind", type=int, default=8)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--calit2", type=Path, help="folder with CalIt2.data and CalIt2.events")
    args = parser.parse_args()
    table, rows, seconds = evaluate(args.sites_per_kind, args.seed)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    real = calit2(args.calit2) if args.calit2 else {}
    site_weeks = len(KINDS) * args.sites_per_kind * WEEKS
    ok = (table["precision"].fillna(0) >= 0.9) & (table["recall"] >= 0.95)
    print(
        f"RESULT site_weeks={site_weeks} rows={rows} checks={len(table)} checks_on_target={int(ok.sum())} "
        f"min_precision={table['precision'].min():.3f} min_recall={table['recall'].min():.3f} "
        f"check_seconds={seconds:.2f}" + "".join(f" {key}={value}" for key, value in real.items())
    )


if __name__ == "__main__":
    main()
