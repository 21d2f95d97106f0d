"""The product package holds the product: no dev tooling inside it, and no path found from its own location."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from footfall import PACKAGE_DIR, settings
from footfall.cli import build_parser

DEV_PACKAGES = ("footfall_simulator", "footfall_devtools")


def test_no_footfall_module_imports_the_simulator_or_the_devtools() -> None:
    offenders = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.relative_to(PACKAGE_DIR)}: {n}" for n in names if n.startswith(DEV_PACKAGES)]
    assert offenders == []
    assert not (PACKAGE_DIR / "simulator").exists()
    assert not any((PACKAGE_DIR / name).exists() for name in ("demo.py", "local_airflow.py", "api/server.py"))


def test_the_product_cli_has_no_dev_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["presets", "list"]).presets_command == "list"
    for command in ("demo", "airflow", "simulate"):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([command])
        assert exit_info.value.code == 2
        assert f"invalid choice: '{command}'" in capsys.readouterr().err


def test_registry_and_data_folder_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOOTFALL_SITES_DIR", str(tmp_path / "registry"))
    monkeypatch.setenv("FOOTFALL_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FOOTFALL_DB_URL", raising=False)
    assert settings.sites_dir() == tmp_path / "registry"
    assert settings.data_dir() == tmp_path / "state"
    assert settings.db_url() == f"sqlite:///{tmp_path / 'state' / 'footfall.db'}"


def test_without_the_environment_they_are_relative_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FOOTFALL_SITES_DIR", raising=False)
    monkeypatch.delenv("FOOTFALL_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert settings.sites_dir() == tmp_path / "include" / "sites"
    assert settings.data_dir() == tmp_path / "data"
    assert settings.presets_dir() == PACKAGE_DIR / "presets"  # package data, wherever it is installed


def test_sites_check_reads_the_registry_named_by_the_environment(tmp_path: Path) -> None:
    """`footfall` run outside any checkout finds the registry it is told about, and its presets."""
    registry = tmp_path / "registry"
    registry.mkdir()
    repo_sites = Path(__file__).resolve().parents[2] / "include" / "sites"
    (registry / "bib-centrale.yaml").write_text((repo_sites / "bib-centrale.yaml").read_text(encoding="utf-8"))
    env = {**os.environ, "FOOTFALL_SITES_DIR": str(registry), "FOOTFALL_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "footfall.cli", "sites", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ok     bib-centrale" in result.stdout
    assert f"1 site file(s) valid, 0 with errors in {registry}" in result.stdout
