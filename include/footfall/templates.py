"""Preset templates rendered with options: `{res}`, `{date_from:%Y%m%d}`, options holding templates.

Shared by the HTTP extractor (requests) and normalize (`interval: "{res}"`), so neither imports the other.
"""

from __future__ import annotations

import string
from typing import Any


class _Formatter(string.Formatter):
    """str.format that names the missing variable instead of a bare KeyError."""

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str) and key not in kwargs:
            raise KeyError(f"template variable {{{key}}} is not defined (known: {', '.join(sorted(kwargs))})")
        return super().get_value(key, args, kwargs)


_FORMATTER = _Formatter()


def render(template: str, variables: dict[str, Any]) -> str:
    """Render a preset template; options may themselves hold templates (e.g. base_path)."""
    text = _FORMATTER.vformat(template, (), variables)
    return _FORMATTER.vformat(text, (), variables) if "{" in text else text
