"""Every source kind has one registered Source, and each says whether its rows replace or merge the window."""

from __future__ import annotations

import pytest

from footfall.config import SourceKind
from footfall.sources import REGISTRY, source_class

MODES = {"http": "replace", "sql": "replace", "file": "merge", "push": "merge"}


@pytest.mark.parametrize("kind", list(SourceKind))
def test_every_kind_has_a_source_that_says_replace_or_merge(kind):
    source = source_class(kind)()
    assert source.mode == MODES[kind.value]
    assert callable(source.collect) and callable(source.normalize) and callable(source.expected_range)


def test_json_and_xml_are_one_http_source():
    """JSON vs XML is the preset's decoder setting: one `http` kind, one source, for both."""
    assert set(REGISTRY) == {k.value for k in SourceKind} == {"http", "sql", "file", "push"}


def test_an_unknown_kind_is_an_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"has no implementation .*known: http, sql, file, push"):
        source_class("ftp")
