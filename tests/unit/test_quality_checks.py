"""Each discrepancy check on built examples: it flags the fault with the right period and evidence, and
stays quiet on clean data. Time handling is checked on both Europe/Paris DST days."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from footfall.cli import main
from footfall.config import OpeningHours, QualityParams
from footfall.quality import registry
from footfall.quality.context import SiteContext, prepare
from footfall.quality.occupancy import corrected_occupancy
from footfall.quality.registry import CHECKS, REGISTRY, check_site, check_sites

ZONE = "Europe/Paris"
DST_DAYS = [date(2026, 3, 29), date(2026, 10, 25)]  # 23 h and 25 h local days (both Sundays)
EVERY_DAY = OpeningHours.model_validate(
    {"regular": dict.fromkeys(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "08:00-20:00")}
)


def ctx(**changes) -> SiteContext:
    params = changes.pop("params", {})
    base = {"site_id": "s", "timezone": ZONE, "capacity": 300, "opening_hours": EVERY_DAY, "country": "FR"}
    return SiteContext(**{**base, **changes}, params=QualityParams(**params))


def local(day: date, hh: int, mm: int = 0) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time(hh, mm))).tz_localize(ZONE).tz_convert("UTC")


def day_counts(day: date, counter: str = "a", entries: float = 10, exits: float = 10, step: int = 15) -> pd.DataFrame:
    """A local day of intervals from midnight to midnight (23, 24 or 25 h), traffic only while open."""
    start = pd.Timestamp(day).tz_localize(ZONE).tz_convert("UTC")
    end = pd.Timestamp(day + timedelta(days=1)).tz_localize(ZONE).tz_convert("UTC")
    starts = pd.date_range(start, end, freq=f"{step}min", inclusive="left")
    wall = starts.tz_convert(ZONE)
    open_ = (wall.hour >= 8) & (wall.hour < 20)
    return pd.DataFrame(
        {
            "site_id": "s",
            "counter_id": counter,
            "interval_start": starts,
            "interval_minutes": step,
            "entries": np.where(open_, entries, 0),
            "exits": np.where(open_, exits, 0),
            "occupancy": np.nan,
        }
    )


def weeks(last: date, n: int = 4, **kw) -> pd.DataFrame:
    """The same weekday over `n` weeks ending on `last` (history for slot baselines)."""
    return pd.concat([day_counts(last - timedelta(weeks=k), **kw) for k in range(n - 1, -1, -1)], ignore_index=True)


def flags_of(frame: pd.DataFrame, check: str, context: SiteContext | None = None, **kw) -> pd.DataFrame:
    out = check_site(frame, context or ctx(), only={check}, **kw)
    return out[out["check"] == check]


def test_registry_documents_every_check():
    assert len(REGISTRY) == 13
    for check in REGISTRY.values():
        assert check.rule and check.severity in ("low", "medium", "high")
        for param in check.params:
            assert param in QualityParams.model_fields, (check.name, param)


@pytest.mark.parametrize("day", DST_DAYS)
def test_imbalance_flags_an_undercounted_direction_per_local_day(day):
    bad = day_counts(day, entries=10, exits=6)
    found = flags_of(bad, "imbalance")
    assert len(found) == 1
    row = found.iloc[0]
    assert row["severity"] == "high"  # 40% off, above imbalance_high
    assert row["start"] == local(day, 0) and row["end"] == local(day + timedelta(days=1), 0)
    assert row["observed"] == 48 * 4 and row["detail"]["entries"] == 480
    assert flags_of(day_counts(day, entries=10, exits=9.5), "imbalance").empty  # 5%: within tolerance


def test_imbalance_waits_for_the_day_to_be_over():
    day = DST_DAYS[0]
    frame = day_counts(day, entries=10, exits=6)
    assert flags_of(frame, "imbalance", as_of=local(day, 15)).empty
    assert len(flags_of(frame, "imbalance", as_of=local(day, 22))) == 1


@pytest.mark.parametrize("day", DST_DAYS)
def test_negative_and_over_capacity_occupancy(day):
    frame = day_counts(day, entries=10, exits=10)
    first_open = frame.index[frame["interval_start"] == local(day, 8)][0]
    frame.loc[first_open, "exits"] = 30  # 20 more exits than entries right after opening
    neg = flags_of(frame, "negative_occupancy")
    assert len(neg) == 1 and neg.iloc[0]["observed"] == -20 and neg.iloc[0]["start"] == local(day, 8)
    crowd = day_counts(day, entries=40, exits=20)
    over = flags_of(crowd, "over_capacity", ctx(capacity=300))
    assert len(over) == 1 and over.iloc[0]["observed"] > 300 and over.iloc[0]["expected"] == 300
    assert flags_of(crowd, "over_capacity", ctx(capacity=5000)).empty


@pytest.mark.parametrize("day", DST_DAYS)
def test_counts_while_closed_use_local_hours(day):
    frame = day_counts(day)
    frame.loc[frame["interval_start"] == local(day, 22), "entries"] = 5
    found = flags_of(frame, "counts_while_closed")
    assert len(found) == 1 and found.iloc[0]["start"] == local(day, 22) and found.iloc[0]["observed"] == 5
    assert flags_of(day_counts(day), "counts_while_closed").empty


def test_public_holidays_are_closed_unless_an_exception_opens_them():
    may_day = date(2026, 5, 1)
    frame = day_counts(may_day)
    assert len(flags_of(frame, "counts_while_closed")) == 1
    hours = EVERY_DAY.model_copy(update={"exceptions": {may_day: ((time(8), time(20)),)}})
    assert flags_of(frame, "counts_while_closed", ctx(opening_hours=hours)).empty
    assert flags_of(frame, "counts_while_closed", ctx(params={"closed_on_public_holidays": False})).empty


@pytest.mark.parametrize("day", DST_DAYS)
def test_missing_intervals_while_open(day):
    frame = day_counts(day)
    gone = frame["interval_start"].between(local(day, 10), local(day, 10, 30))
    found = flags_of(frame[~gone], "missing_intervals")
    assert len(found) == 1
    row = found.iloc[0]
    assert (row["start"], row["end"], row["expected"]) == (local(day, 10), local(day, 10, 45), 3)
    night = frame["interval_start"].between(local(day, 1), local(day, 4))  # closed: not expected, not missing
    assert flags_of(frame[~night], "missing_intervals").empty


@pytest.mark.parametrize("day", DST_DAYS)
def test_stale_feed_counts_only_opening_time(day):
    frame = day_counts(day)
    frame = frame[frame["interval_start"] < local(day, 12)]
    found = flags_of(frame, "stale_feed", as_of=local(day, 14))
    assert len(found) == 1 and found.iloc[0]["severity"] == "high" and found.iloc[0]["start"] == local(day, 12)
    assert flags_of(frame, "stale_feed", as_of=local(day, 12, 45)).empty
    evening = day_counts(day)
    evening = evening[evening["interval_start"] < local(day, 20)]
    assert flags_of(evening, "stale_feed", as_of=local(day, 23)).empty  # closed since 20:00


def test_stale_feed_across_a_day_with_a_lunch_break():
    """Silence running into a later day whose hours have two ranges (a wider opening-hours array)."""
    day = date(2026, 11, 20)  # a Friday; Saturday closes for lunch
    weekdays = dict.fromkeys(["mon", "tue", "wed", "thu", "fri"], "08:00-20:00")
    hours = OpeningHours.model_validate({"regular": {**weekdays, "sat": "09:00-12:00,14:00-18:00"}})
    frame = day_counts(day)
    frame = frame[frame["interval_start"] < local(day, 19)]
    found = flags_of(frame, "stale_feed", ctx(opening_hours=hours), as_of=local(day + timedelta(days=1), 15))
    assert len(found) == 1
    assert found.iloc[0]["detail"]["open_minutes_silent"] == 60 + 3 * 60 + 60  # Fri 19-20, Sat 9-12, 14-15


@pytest.mark.parametrize("day", DST_DAYS)
def test_stuck_counter_needs_history_that_expects_people(day):
    frame = weeks(day)
    stuck = frame["interval_start"].between(local(day, 13), local(day, 14, 45))
    frame.loc[stuck, ["entries", "exits"]] = 0
    found = flags_of(frame, "stuck_counter")
    assert len(found) == 1
    assert (found.iloc[0]["start"], found.iloc[0]["end"]) == (local(day, 13), local(day, 15))
    assert found.iloc[0]["expected"] == 8 * 20
    short = weeks(day)
    short.loc[short["interval_start"].between(local(day, 13), local(day, 13, 30)), ["entries", "exits"]] = 0
    assert flags_of(short, "stuck_counter").empty  # 45 min < stuck_min_minutes


@pytest.mark.parametrize("day", DST_DAYS)
def test_spike_against_the_same_slot(day):
    rng = np.random.default_rng(1)
    frame = weeks(day, n=5)
    frame["entries"] = np.where(frame["entries"] > 0, rng.poisson(10, len(frame)), 0)
    clean = flags_of(frame, "spike")
    frame.loc[frame["interval_start"] == local(day, 15), "entries"] = 80
    found = flags_of(frame, "spike")
    assert clean.empty
    assert len(found) == 1 and found.iloc[0]["start"] == local(day, 15) and found.iloc[0]["observed"] == 80


def test_duplicate_and_revised_intervals():
    frame = day_counts(DST_DAYS[1])
    same = frame.iloc[[40]]
    revised = frame.iloc[[41]].assign(entries=99)
    found = flags_of(pd.concat([frame, same, revised]), "duplicate_interval").sort_values("start")
    assert list(found["severity"]) == ["low", "medium"]
    assert [d["revised"] for d in found["detail"]] == [False, True]
    assert flags_of(frame, "duplicate_interval").empty


def test_future_timestamps():
    day = DST_DAYS[1]
    frame = day_counts(day)
    found = flags_of(frame, "future_timestamp", now=local(day, 18))
    assert len(found) == 1 and found.iloc[0]["start"] == local(day, 18)
    assert flags_of(frame, "future_timestamp", now=local(day + timedelta(days=1), 1)).empty


@pytest.mark.parametrize("day", DST_DAYS)
def test_whole_hour_clock_shift(day):
    history = weeks(day - timedelta(weeks=1), n=4)
    history["entries"] = np.where(history["interval_start"].dt.tz_convert(ZONE).dt.hour == 12, 40, history["entries"])
    today = day_counts(day)
    today["entries"] = np.where(today["interval_start"].dt.tz_convert(ZONE).dt.hour == 12, 40, today["entries"])
    shifted = today.assign(interval_start=today["interval_start"] + pd.Timedelta(hours=1))
    found = flags_of(pd.concat([history, shifted]), "clock_shift")
    assert len(found) == 1 and found.iloc[0]["observed"] == 1
    assert flags_of(pd.concat([history, today]), "clock_shift").empty


def test_reset_outside_the_reset_time():
    day = DST_DAYS[0]
    frame = day_counts(day, entries=10, exits=5)
    frame["occupancy"] = (frame["entries"] - frame["exits"]).cumsum()
    at = frame["interval_start"] >= local(day, 14)
    frame.loc[at, "occupancy"] -= frame.loc[frame["interval_start"] == local(day, 14), "occupancy"].iloc[0]
    found = flags_of(frame, "unexpected_reset")
    assert len(found) == 1 and found.iloc[0]["start"] == local(day, 14)
    near_midnight = flags_of(frame, "unexpected_reset", ctx(params={"reset_time": time(14, 0)}))
    assert near_midnight.empty


def test_one_door_disagreeing_with_the_others():
    day = DST_DAYS[1]
    doors = pd.concat([weeks(day, counter="a"), weeks(day, counter="b")], ignore_index=True)
    broken = doors["counter_id"].eq("b") & (doors["interval_start"].dt.tz_convert(ZONE).dt.date == day)
    doors.loc[broken & (doors["exits"] > 0), "exits"] = 1
    found = flags_of(doors, "door_disagreement")
    assert list(found["counter_id"]) == ["b"]
    assert found.iloc[0]["observed"] < 0.1 and found.iloc[0]["expected"] == pytest.approx(0.5)


@pytest.mark.parametrize("day", DST_DAYS)
def test_clean_data_raises_no_flag(day):
    assert check_site(weeks(day), ctx(), now=local(day + timedelta(days=1), 12)).empty


@pytest.mark.parametrize("day", DST_DAYS)
def test_corrected_occupancy_starts_and_closes_at_zero(day):
    frame = day_counts(day, entries=10, exits=8)
    afternoon = frame["interval_start"].dt.tz_convert(ZONE).dt.hour >= 14
    frame["exits"] = np.where(frame["exits"] > 0, np.where(afternoon, 12, 4), 0)  # 384 exits for 480 entries
    raw_before = frame.copy()
    occ = corrected_occupancy(prepare(frame, ctx()))
    assert len(occ) == len(frame)  # 92 or 100 intervals: the DST day's true length
    assert occ["correction_factor"].iloc[0] == pytest.approx(10 / 8)
    assert occ["corrected_occupancy"].iloc[-1] == pytest.approx(0)
    assert occ["raw_net_occupancy"].iloc[-1] == 48 * 2
    assert (occ["corrected_occupancy"] >= 0).all()
    assert occ["corrected_occupancy"].max() > 0
    pd.testing.assert_frame_equal(frame, raw_before)  # raw counts are never altered


def test_corrected_occupancy_clamps_negatives_and_rescales_entries():
    day = DST_DAYS[0]
    frame = day_counts(day, entries=8, exits=10)
    occ = corrected_occupancy(prepare(frame, ctx()))
    assert occ["correction_factor"].iloc[0] == pytest.approx(0.8)
    assert (occ["raw_net_occupancy"] < 0).any()
    assert (occ["corrected_occupancy"] >= 0).all() and occ["corrected_occupancy"].iloc[-1] == pytest.approx(0)


def test_every_check_runs_on_an_empty_batch():
    empty = day_counts(DST_DAYS[0]).iloc[:0]
    for check in CHECKS:
        assert flags_of(empty, check.name, as_of=datetime(2026, 3, 29, tzinfo=UTC)).empty, check.name


# --- many sites at once (history imports, backfills) ----------------------------------------


def faulty_site(site_id: str, day: date, fault: str) -> pd.DataFrame:
    """Four weeks of two doors ending on `day`, with one fault on that day."""
    frame = pd.concat([weeks(day, counter="a"), weeks(day, counter="b")], ignore_index=True).assign(site_id=site_id)
    today = frame["interval_start"].dt.tz_convert(ZONE).dt.date == day
    a = frame["counter_id"].eq("a") & today
    if fault == "imbalance":
        frame.loc[today, "exits"] = frame.loc[today, "exits"] * 0.6
    elif fault == "gap":
        frame = frame[~(a & frame["interval_start"].between(local(day, 10), local(day, 11)))]
    elif fault == "spike":
        frame.loc[a & (frame["interval_start"] == local(day, 12)), "entries"] = 400
    elif fault == "closed":
        frame.loc[a & (frame["interval_start"] == local(day, 22)), "entries"] = 5
    elif fault == "duplicate":
        frame = pd.concat([frame, frame[a].iloc[[50]].assign(entries=99)], ignore_index=True)
    return frame


SITES = [
    ("s1", "imbalance", ctx(site_id="s1")),
    ("s2", "gap", ctx(site_id="s2", capacity=None)),
    ("s3", "clean", ctx(site_id="s3", opening_hours=OpeningHours())),  # no hours: always open
    ("s4", "spike", ctx(site_id="s4", timezone="America/New_York", counter_ids=("a", "b", "c"))),
    ("s5", "closed", ctx(site_id="s5", params={"imbalance_tolerance": 0.3})),
    ("s6", "duplicate", ctx(site_id="s6", capacity=50)),
]


@pytest.mark.parametrize("as_of", [None, "day_after"])
def test_check_sites_gives_each_sites_own_flags(as_of):
    """One call over sites with different zones, hours, capacities and params equals check_site per site."""
    day = DST_DAYS[1]
    frames = {sid: faulty_site(sid, day, fault) for sid, fault, _ in SITES}
    contexts = {sid: c for sid, _, c in SITES}
    when = None if as_of is None else local(day + timedelta(days=1), 12)
    now = local(day + timedelta(days=1), 12)
    counts = pd.concat(reversed(frames.values()), ignore_index=True)
    counts = counts.iloc[np.argsort(counts.groupby("site_id").cumcount(), kind="stable")]  # sites interleaved
    together = check_sites(counts, contexts, as_of=when, now=now)
    one_by_one = pd.concat(
        [check_site(frames[sid], contexts[sid], as_of=when, now=now) for sid in contexts], ignore_index=True
    )
    pd.testing.assert_frame_equal(together, one_by_one, check_dtype=False)
    expected = {"imbalance", "missing_intervals", "spike", "counts_while_closed", "duplicate_interval"}
    assert expected <= set(together["check"])
    assert list(dict.fromkeys(together["site_id"])) == [s for s in contexts if s in set(together["site_id"])]


def test_check_sites_keeps_a_failing_check_to_the_site_it_fails_on(monkeypatch):
    day = DST_DAYS[1]
    frames = {sid: faulty_site(sid, day, "imbalance") for sid in ("s1", "s2")}
    contexts = {sid: ctx(site_id=sid) for sid in frames}
    original = REGISTRY["imbalance"].run

    def fails_on_s2(p):
        if "s2" in p.sites:
            raise RuntimeError("boom")
        return original(p)

    checks = tuple(dataclasses.replace(c, run=fails_on_s2) if c.name == "imbalance" else c for c in CHECKS)
    monkeypatch.setattr(registry, "CHECKS", checks)
    errors: dict[str, dict[str, str]] = {}
    flags = check_sites(pd.concat(frames.values()), contexts, now=local(day + timedelta(days=1), 12), errors=errors)
    assert errors == {"s2": {"imbalance": "RuntimeError: boom"}}
    assert set(flags.loc[flags["check"] == "imbalance", "site_id"]) == {"s1"}


def test_check_sites_refuses_counts_of_an_unknown_site():
    frame = day_counts(DST_DAYS[0]).assign(site_id="nowhere")
    with pytest.raises(ValueError, match="nowhere"):
        check_sites(frame, {"s": ctx()})


# --- footfall quality check ---------------------------------------------------------------


def test_quality_check_prints_one_json_line_per_flag(tmp_path, capsys):
    day = date(2026, 10, 25)
    frame = day_counts(day, entries=10, exits=6)
    frame = frame[~frame["interval_start"].between(local(day, 10), local(day, 10, 15))]
    other = day_counts(day, counter="x").assign(site_id="t")
    path = tmp_path / "counts.csv"
    pd.concat([frame, other]).assign(
        interval_start=lambda f: f["interval_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ).to_csv(path, index=False)
    code = main(
        [
            "quality",
            "check",
            "--counts",
            str(path),
            "--tz",
            "Europe/Paris",
            "--capacity",
            "100",
            "--opening-hours",
            "mon-sun=08:00-20:00",
        ]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert {(f["site_id"], f["check"]) for f in lines} >= {("s", "imbalance"), ("s", "missing_intervals")}
    assert all(f["site_id"] == "s" or f["check"] == "over_capacity" for f in lines)
    gap = next(f for f in lines if f["check"] == "missing_intervals")
    assert gap["start"] == "2026-10-25T09:00:00Z" and gap["counter_id"] == "a" and gap["expected"] == 2
    assert set(gap) == {"check", "severity", "site_id", "counter_id", "start", "end", "observed", "expected", "detail"}


def test_quality_check_exits_2_with_one_line_on_unreadable_input(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("site_id,counter_id\ns,a\n")
    assert main(["quality", "check", "--counts", str(bad)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "missing column" in err
    assert main(["quality", "check", "--counts", str(tmp_path / "absent.csv")]) == 2
