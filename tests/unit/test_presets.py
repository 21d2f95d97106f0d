"""The preset conformance suite: every preset parses its sample payloads (written from the vendor
reference) into exactly its expected rows, through the same path as `footfall parse`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from footfall.config import SourceKind, load_presets
from footfall.normalize import counts_csv, parse_bodies

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "presets"
REQUIRED = {
    "axis_tvpc_live", "axis_tvpc_export_json", "axis_tvpc_export_csv", "axis_tvpc_export_xml",
    "axis_occupancy_export", "axis_3d_export_json", "axis_3d_export_csv", "axis_data_push",
    "xovis_count_push", "xovis_live_push", "xovis_csv_export", "hikvision_isapi", "sensource_vea",
    "brickstream_xml", "eurecam_xml", "irisys_countlogs", "occuspace_now", "density_counts",
}  # fmt: skip


def sample(name: str) -> tuple[list[bytes], dict, str]:
    folder = FIXTURES / name
    case = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8")) or {}
    bodies = [p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in ("case.yaml", "expected.csv")]
    return bodies, case, (folder / "expected.csv").read_text(encoding="utf-8")


def test_every_required_preset_exists_and_ships_a_sample():
    presets = load_presets()
    assert set(presets) >= REQUIRED
    assert {p.name for p in FIXTURES.iterdir()} == set(presets)


@pytest.mark.parametrize("name", sorted(load_presets()))
def test_preset_sample_gives_expected_rows(name):
    bodies, case, expected = sample(name)
    received = case.get("received_at")
    rows = parse_bodies(
        name,
        bodies,
        site_id="sample",
        timezone=case.get("timezone", "UTC"),
        options=case.get("options") or {},
        received_at=datetime.fromisoformat(received) if received else None,
    )
    assert counts_csv(rows) == expected
    assert len(rows) >= 1
    assert str(rows["interval_start"].dtype).endswith("UTC]")


@pytest.mark.parametrize("name", sorted(load_presets()))
def test_preset_is_consistent_with_its_kind(name):
    preset = load_presets()[name]
    pulled = preset.kind == SourceKind.HTTP
    assert (preset.request is not None) == pulled, "pull presets need a request, others must not have one"
    if pulled:  # JSON or XML is the decoder setting; labels keep naming it (http_json:..., http_xml:...)
        assert preset.format in ("json", "xml")
        assert preset.label_kind == f"http_{preset.format}"
    assert preset.description and "\n" not in preset.description
    assert (preset.pool is not None) == preset.shared_api  # a cloud API's shared limit, and only that, takes a pool
    if preset.shared_api:
        assert pulled and preset.pool.startswith("vendor_")
