"""Site files: a valid one loads; every broken one says which file, which field and why."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from footfall.config import ConfigError, SourceKind, get_site, load_registry, load_site, parse_time_ranges


def with_source(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**doc, "source": {**doc["source"], **changes}}


def load_error(registry, doc: dict[str, Any], name: str | None = None) -> ConfigError:
    path = registry.write(doc, name)
    with pytest.raises(ConfigError) as info:
        load_site(path)
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: ")
    return err


def test_valid_site_loads(registry, site_doc):
    path = registry.write(site_doc("bib-test"))
    site = load_site(path)
    assert site.id == "bib-test"
    assert site.zone.key == "Europe/Paris"
    assert site.source.kind is SourceKind.HTTP  # from the preset; the file's legacy http_json still loads
    assert site.source_label == "http_json:axis_tvpc_export_json"
    assert site.preset.name == "axis_tvpc_export_json"
    assert [c.id for c in site.counters] == ["main-door", "side-door"]
    assert site.counters[0].direction == "normal"
    # Site options override the preset's defaults, which fill in the rest.
    assert site.options() == {"res": "15m", "base_path": "/devices/{counter_ref}"}
    assert site.opening_hours.regular["mon"] == ((time(8), time(20)),)
    assert site.opening_hours.regular["sun"] == ()
    assert get_site("bib-test") == site  # found through FOOTFALL_SITES_DIR


def test_demo_registry_is_valid():
    sites, errors = load_registry(Path(__file__).resolve().parents[2] / "include" / "sites")
    assert errors == []
    assert sites, "the demo registry has sites"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"timezone": "Europe/Pariss"}, "timezone", "'Europe/Pariss' is not an IANA time zone"),
        ({"capacity": 0}, "capacity", "greater than 0"),
        ({"id": "Bad Id!"}, "id", "should match pattern"),
        ({"capacty": 100}, "capacty", "Extra inputs are not permitted"),
        ({"counters": []}, "counters", "at least 1 item"),
        ({"opening_hours": {"regular": {"mon": "20:00-08:00"}}}, "opening_hours.regular", "closes before it opens"),
        ({"opening_hours": {"regular": {"mon": "25:00-26:00"}}}, "opening_hours.regular", "impossible time"),
        ({"opening_hours": {"regular": {"mon": "8h-20h"}}}, "opening_hours.regular", "not a time range"),
        (
            {"opening_hours": {"regular": {"mon": "08:00-13:00, 12:00-18:00"}}},
            "opening_hours.regular",
            "ranges overlap",
        ),
        ({"opening_hours": {"regular": {"funday": "08:00-12:00"}}}, "opening_hours.regular", "not a weekday"),
        ({"opening_hours": {"exceptions": {"2026-02-30": "closed"}}}, "opening_hours.exceptions", "date"),
    ],
    ids=[
        "bad-timezone",
        "capacity",
        "id-pattern",
        "unknown-key",
        "no-counters",
        "hours-reversed",
        "hours-impossible",
        "hours-syntax",
        "hours-overlap",
        "weekday",
        "exception-date",
    ],
)
def test_bad_field_is_named(registry, site_doc, changes, field, reason):
    err = load_error(registry, site_doc("broken", **changes), name="broken")
    assert any(p.startswith(f"{field}") and reason in p for p in err.problems), err.problems


def test_unknown_key_in_source_is_named(registry, site_doc):
    err = load_error(registry, with_source(site_doc(), conection_id="x"))
    assert err.problems == ["source.conection_id: Extra inputs are not permitted"]


def test_unknown_key_in_counter_is_named(registry, site_doc):
    doc = site_doc(counters=[{"id": "a", "ref": "R1", "directon": "swapped"}])
    err = load_error(registry, doc)
    assert "counters.0.directon: Extra inputs are not permitted" in err.problems


def test_unknown_preset(registry, site_doc):
    err = load_error(registry, with_source(site_doc(), preset="acme_v9"))
    assert "source.preset 'acme_v9' is unknown" in str(err)
    assert "axis_tvpc_export_json" in str(err)  # the known ones are listed


def test_kind_preset_mismatch(registry, site_doc):
    err = load_error(registry, with_source(site_doc(), kind="push"))
    assert "source.kind is 'push' but preset 'axis_tvpc_export_json' is 'http_json'" in str(err)


def test_kind_comes_from_the_preset(registry, site_doc):
    doc = site_doc("no-kind")
    doc["source"] = {k: v for k, v in doc["source"].items() if k != "kind"}
    assert load_site(registry.write(doc)).source.kind is SourceKind.HTTP
    assert load_site(registry.write(with_source(site_doc("new-kind"), kind="http"))).source.kind is SourceKind.HTTP
    err = load_error(registry, with_source(site_doc(), kind="http_xml"))  # the preset reads JSON
    assert "source.kind is 'http_xml' but preset 'axis_tvpc_export_json' is 'http_json'" in str(err)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"reso": "15m"}, "unknown option(s) 'reso' for kind http with preset axis_tvpc_export_json "
                          "(accepted: base_path, res)"),
        ({"res": 15, "max_lat_days": 3}, "unknown option(s) 'max_lat_days'"),
        ({"res": ["15m"]}, "source.options.res: Input should be a valid string"),
    ],
)  # fmt: skip
def test_misspelt_or_mistyped_options_name_the_file_field_and_accepted_names(registry, site_doc, options, words):
    err = load_error(registry, with_source(site_doc(), options=options))
    assert words in str(err), str(err)


def test_options_are_typed_per_kind(registry, site_doc):
    doc = with_source(site_doc(), preset="footfall_connector", kind="push", connection_id=None,
                      options={"max_late_days": "soon"})  # fmt: skip
    err = load_error(registry, doc)
    assert "source.options.max_late_days: Input should be a valid integer" in str(err), str(err)


def test_unknown_kind(registry, site_doc):
    err = load_error(registry, with_source(site_doc(), kind="carrier_pigeon"))
    assert any(p.startswith("source.kind:") for p in err.problems), err.problems


def test_pull_source_needs_a_connection(registry, site_doc):
    doc = site_doc()
    doc["source"] = {k: v for k, v in doc["source"].items() if k != "connection_id"}
    err = load_error(registry, doc)
    assert "source.connection_id is required for kind http_json" in str(err)


def test_per_counter_connections_replace_the_source_connection(registry, site_doc):
    doc = site_doc(counters=[{"id": "a", "ref": "R1", "connection_id": "cam_a"}])
    doc["source"] = {k: v for k, v in doc["source"].items() if k != "connection_id"}
    site = load_site(registry.write(doc))
    assert site.counters[0].connection_id == "cam_a"


def test_duplicate_counter_ids(registry, site_doc):
    doc = site_doc(counters=[{"id": "door", "ref": "R1"}, {"id": "door", "ref": "R2"}, {"id": "gate", "ref": "R3"}])
    err = load_error(registry, doc)
    assert "counters: ids must be unique, repeated: door" in str(err)
    assert "gate" not in str(err)


def test_id_must_match_file_name(registry, site_doc):
    err = load_error(registry, site_doc("musee"), name="museum")
    assert err.problems == ["id: 'musee' must match the file name 'museum'"]


def test_invalid_yaml_gives_the_line(registry):
    path = registry.write_text(
        "bad-yaml.yaml", "id: bad-yaml\nname: Bad\ncounters: [\n  {id: a, ref: R1\ntimezone: UTC\n"
    )
    with pytest.raises(ConfigError) as info:
        load_site(path)
    (problem,) = info.value.problems
    assert problem.startswith("line 5: not valid YAML"), problem
    assert str(path) in str(info.value)


def test_not_a_mapping(registry):
    path = registry.write_text("list.yaml", "- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of site fields"):
        load_site(path)


def test_missing_site_file(registry):
    with pytest.raises(ConfigError, match="no site file for site 'ghost'"):
        get_site("ghost")


def test_registry_returns_good_sites_and_one_error_per_broken_file(registry, site_doc):
    registry.write(site_doc("alpha"))
    registry.write(site_doc("beta"))
    registry.write(site_doc("gamma", timezone="Nowhere/Land"))
    registry.write_text("delta.yaml", "id: delta\nname: [\n")
    registry.write(site_doc("epsilon"), name="not-epsilon")
    registry.write_text("notes.txt", "not a site file")

    sites, errors = load_registry()

    assert sorted(sites) == ["alpha", "beta"]
    assert sorted(Path(e.path).name for e in errors) == ["delta.yaml", "gamma.yaml", "not-epsilon.yaml"]
    by_file = {Path(e.path).name: str(e) for e in errors}
    assert "timezone: 'Nowhere/Land'" in by_file["gamma.yaml"]
    assert "not valid YAML" in by_file["delta.yaml"]
    assert "must match the file name" in by_file["not-epsilon.yaml"]


def test_empty_registry(registry):
    assert load_registry() == ({}, [])


def test_opening_hours_exceptions_and_closed_days(registry, site_doc):
    doc = site_doc(
        opening_hours={
            "regular": {
                "Monday": "08:00-12:00, 14:00-20:00",
                "tue": ["09:00-12:00"],
                "sat": "09:00-24:00",
                "sun": "closed",
            },
            "exceptions": {"2026-12-24": "08:00-14:00", "2026-12-28": "closed"},
            "closed_days": ["2026-12-25", "2027-01-01"],
        }
    )
    hours = load_site(registry.write(doc)).opening_hours
    monday, tuesday, thursday, saturday, sunday = (
        date(2026, 12, 21),
        date(2026, 12, 22),
        date(2026, 12, 24),
        date(2026, 12, 26),
        date(2026, 12, 27),
    )
    assert hours.hours_on(monday) == ((time(8), time(12)), (time(14), time(20)))
    assert hours.hours_on(tuesday) == ((time(9), time(12)),)
    assert hours.hours_on(thursday) == ((time(8), time(14)),)  # exception on a day with no regular hours
    assert hours.hours_on(saturday) == ((time(9), time.max),)  # 24:00 closes at midnight
    assert hours.hours_on(sunday) == ()
    assert hours.hours_on(date(2026, 12, 25)) == ()  # closed day (a Friday, regularly closed here anyway)
    assert hours.hours_on(date(2026, 12, 28)) == ()  # a Monday closed by exception
    assert hours.hours_on(date(2027, 1, 4)) == hours.hours_on(monday)


def test_closed_day_wins_over_regular_hours(registry, site_doc):
    doc = site_doc(opening_hours={"regular": {"fri": "08:00-20:00"}, "closed_days": ["2026-12-25"]})
    hours = load_site(registry.write(doc)).opening_hours
    assert hours.hours_on(date(2026, 12, 18)) == ((time(8), time(20)),)
    assert hours.hours_on(date(2026, 12, 25)) == ()


def test_parse_time_ranges_sorts_and_rejects():
    assert parse_time_ranges("14:00-18:00,08:00-12:00") == ((time(8), time(12)), (time(14), time(18)))
    assert parse_time_ranges("closed") == ()
    assert parse_time_ranges(None) == ()
    with pytest.raises(ValueError, match="impossible time"):
        parse_time_ranges("08:00-24:30")
