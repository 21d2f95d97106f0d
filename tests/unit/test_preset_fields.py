"""Every field a preset declares has an effect: changed, it changes what footfall does with the preset.

For each preset and each value its YAML sets, the value is changed to another valid one and the
preset's effect is compared: its sample parsed (rows, or the refusal), its request rendered for a
window, its listing line and its Airflow pool. A field whose change alters none of them is dead
weight (the bug of a preset declaring `interval_end` that no code read): remove it. The schema
itself forbids unknown keys (test_unknown_preset_key_is_refused).
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from footfall import config
from footfall.config import ConfigError, Preset, load_presets
from footfall.errors import FootfallError
from footfall.normalize import Payload, adhoc_site, counts_csv, parse_bodies, site_of_bodies
from footfall.timewindow import Window

PRESETS = Path(config.__file__).parent / "presets"
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "presets"
VARIANTS = Path(__file__).resolve().parents[1] / "fixtures" / "preset_variants"
WINDOW = Window(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), datetime(2026, 11, 20, 10, 0, tzinfo=UTC))

# A field whose effect is outside parsing and requests, with the module that reads it (checked below).
READ_ELSEWHERE = {
    ("sql_rows", "options.db_timezone"): "footfall/sources/sql.py",
    **{
        ("density_counts", f"request.pagination.{k}"): "footfall/extract.py"  # the page walk (test_extract_pagination)
        for k in ("strategy", "next_path", "size_param", "size")
    },
    # The daily reset of running totals: no sample crosses one; footfall.semantics' tests do.
    **{
        (name, "options.reset_time"): "footfall/normalize/counts.py"
        for name in ("axis_tvpc_live", "hikvision_alert_realtime", "irisys_vector_totals", "xovis_live_push")
    },
}


def leaves(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Key paths of every value a preset YAML sets (mappings walked; lists, scalars, query and headers
    are leaves)."""
    if isinstance(doc, dict) and doc and (not prefix or prefix[-1] not in ("query", "headers")):
        return [p for k, v in doc.items() for p in leaves(v, (*prefix, str(k)))]
    return [prefix]


def raw(name: str) -> dict[str, Any]:
    return yaml.safe_load((PRESETS / f"{name}.yaml").read_text(encoding="utf-8"))


CASES = [(name, ".".join(path)) for name in sorted(load_presets()) for path in leaves(raw(name)) if path != ("name",)]
KEYS = {(name, ".".join(path)): path for name in sorted(load_presets()) for path in leaves(raw(name))}

_DURATION = ("7m", "2h")


def candidates(key: str, value: Any) -> list[Any]:
    """Other valid values for one field, most telling first."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [16, value // 2 + 1]
    if value is None:
        return ["03:00", 100, "1"]
    if key == "hook":
        return [None]
    if isinstance(value, list):
        return [[*value[1:], "zz_absent"], ["zz_absent"], value[:1]]
    if isinstance(value, dict):  # query/headers
        return [{**value, **{k: f"{v}zz" for k, v in value.items()}}, {}]
    text = str(value)
    by_key = {
        "zone": ["utc", "local", "offset"],
        "measure": ["interval", "cumulative", "occupancy"],
        "format": ["xml", "json", "csv", "iso", "epoch_s", "%Y-%m-%d %H:%M"],
        "kind": ["push", "file", "http_json", "http_xml", "sql"],
        "method": ["POST", "GET"],
        "window": ["instants", "local_days"],
        "strategy": ["page", "offset", "next_link"],
        "interval_path_unit": ["m", "s"],
        "description": [text + " (changed)"],
    }
    if key in by_key:
        return [c for c in by_key[key] if c != text]
    if text in ("entries", "exits", "occupancy"):
        return [m for m in ("exits", "entries", "occupancy") if m != text]
    if re.match(r"^\s*\d+\s*[a-z]*\s*$", text) or text in ("{interval}", "{res}"):
        return [*_DURATION]
    if text in ("00:00",):
        return ["03:00"]
    if text == "":
        return ["/zz"]
    return ["zz_absent", f"{text}zz"]


def changed(doc: dict[str, Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    node = doc
    for k in keys[:-1]:
        node = node[k]
    out = []
    for value in candidates(keys[-1], node[keys[-1]]):
        new = copy.deepcopy(doc)
        target = new
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
        out.append(new)
    return out


def effect(preset: Preset, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """What footfall does with a preset: listing line, pool, the sample parsed, the request rendered."""
    presets = {**load_presets(), preset.name: preset}
    monkeypatch.setattr(config, "load_presets", lambda directory=None: presets)
    folder = SAMPLES / preset.name
    case = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8")) or {}
    bodies = [p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in ("case.yaml", "expected.csv")]
    variants = sorted((VARIANTS / preset.name).glob("*")) if (VARIANTS / preset.name).is_dir() else []
    received = case.get("received_at")
    kwargs = {
        "site_id": "sample",
        "timezone": case.get("timezone", "UTC"),
        "options": case.get("options") or {},
        "received_at": datetime.fromisoformat(received) if received else None,
    }
    try:
        parsed = counts_csv(parse_bodies(preset.name, bodies, **kwargs))
    except (FootfallError, ValueError, KeyError) as exc:
        parsed = f"refused: {exc}"
    for path in variants:  # bodies that exercise fallbacks (no interval attribute, no end, no epoch)
        try:
            parsed += counts_csv(parse_bodies(preset.name, [path.read_bytes()], **kwargs))
        except (FootfallError, ValueError, KeyError) as exc:
            parsed += f"refused: {exc}"
    if preset.queue is not None:  # queue measures, read beside the counts (footfall.normalize.queues)
        from footfall.normalize.queues import read_queue_measures

        site = adhoc_site(preset.name, "sample", kwargs["timezone"], kwargs["options"], [])
        for body in [*bodies, *(p.read_bytes() for p in variants)]:
            try:
                parsed += read_queue_measures(site, [Payload(1, body)]).to_csv(index=False)
            except (FootfallError, ValueError, KeyError) as exc:
                parsed += f"queue refused: {exc}"
    requests = ""
    if preset.request is not None:
        from footfall.extract import render_requests, requested_range

        try:
            site = site_of_bodies(preset.name, bodies, **kwargs)
            requests = repr((render_requests(site, WINDOW), requested_range(site, WINDOW)))
        except (FootfallError, ValueError, KeyError) as exc:
            requests = f"refused: {exc}"
    return (f"{preset.name}\t{preset.kind.value}\t{preset.description}", preset.pool, parsed, requests)


@pytest.mark.parametrize(("name", "path"), CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_every_declared_preset_field_changes_the_outcome(name, path, monkeypatch):
    if (name, path) in READ_ELSEWHERE:
        module = Path(config.__file__).parents[1] / READ_ELSEWHERE[name, path]
        assert path.split(".")[-1] in module.read_text(encoding="utf-8")
        return
    doc = raw(name)
    before = effect(Preset.model_validate(doc), monkeypatch)
    tried = []
    for variant in changed(doc, KEYS[name, path]):
        try:
            preset = Preset.model_validate(variant)
        except (ValueError, ConfigError):  # not a valid value for this field: try the next
            continue
        after = effect(preset, monkeypatch)
        if after != before:
            return
        tried.append(repr(variant))
    if not tried:  # no other valid value: the field is not dead if the preset needs it as it is
        keys = KEYS[name, path]
        without = copy.deepcopy(doc)
        node = without
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
        try:
            if effect(Preset.model_validate(without), monkeypatch) != before:
                return
        except ValueError:
            return
    pytest.fail(f"preset {name}: changing {path} changes nothing (tried {len(tried)} valid value(s)); remove it")


def test_unknown_preset_key_is_refused():
    doc = raw("xovis_csv_export")
    doc["fields"]["interval_stop"] = "to-time"
    with pytest.raises(ValueError, match="interval_stop"):
        Preset.model_validate(doc)
