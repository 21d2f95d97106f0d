"""The site registry validates a file once per content: a re-parse decodes and validates only what changed."""

from __future__ import annotations

import pytest

from footfall import config
from footfall.config import ConfigError, load_registry, load_site
from footfall.ui.preload import should_warm_registry


def test_an_unchanged_file_is_not_validated_again(registry, monkeypatch):
    path = registry.add_site("alpha")
    first = load_site(path)
    calls = []
    real = config._validate_site
    monkeypatch.setattr(config, "_validate_site", lambda p, raw: calls.append(p) or real(p, raw))

    assert load_site(path) is first  # same bytes: the kept Site, nothing decoded
    assert calls == []


def test_a_changed_file_is_read_again_even_with_the_same_size_and_mtime(registry, site_doc):
    import os

    path = registry.write(site_doc("alpha", capacity=400))
    before = os.stat(path)
    assert load_site(path).capacity == 400
    registry.write(site_doc("alpha", capacity=500))  # same length, maybe the same timestamp tick
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size

    assert load_site(path).capacity == 500


def test_a_broken_file_keeps_its_error_until_it_is_fixed(registry, site_doc):
    path = registry.write(site_doc("beta", capacity=-5))
    for _ in range(2):  # the kept error is raised again, naming the field
        with pytest.raises(ConfigError, match="capacity: Input should be greater than 0"):
            load_site(path)
    registry.add_site("beta")
    assert load_site(path).capacity is not None
    sites, errors = load_registry(registry.path)
    assert list(sites) == ["beta"] and errors == []


def test_a_file_that_is_not_utf8_is_a_config_error(registry):
    path = registry.path / "gamma.yaml"
    path.write_bytes(b"id: gamma\nname: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_site(path)


def test_only_the_dag_processor_warms_the_registry():
    assert should_warm_registry(["airflow", "dag-processor"], {}, {})
    assert not should_warm_registry(["airflow", "scheduler"], {}, {})  # warm_up loads it there, with the pipeline
    assert not should_warm_registry(["airflow", "dag-processor"], {}, {"FOOTFALL_PRELOAD": "false"})


def test_a_parse_process_forked_from_a_warm_dag_processor_does_not_warm_again(registry):
    registry.add_site("alpha")
    load_registry(registry.path)
    assert not should_warm_registry(["airflow", "dag-processor"], {"footfall.config": config}, {})


def test_a_task_run_builds_only_its_own_dag_and_reads_only_its_file(registry, site_doc, monkeypatch):
    from footfall.dag_factory import build_site_dags

    registry.add_site("alpha")
    registry.add_site("gamma")
    registry.write(site_doc("beta", capacity=-5))  # broken: a task of another site never reads it
    read = []
    real = config.load_site
    monkeypatch.setattr(config, "load_site", lambda p: read.append(p.name) or real(p))

    dags = build_site_dags(only_dag_id="site__alpha", sites_dir=registry.path)

    assert [d.dag_id for d in dags] == ["site__alpha"]
    assert read == ["alpha.yaml"]
