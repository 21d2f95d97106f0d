"""Bytes to a document, and a document to its records: the preset's paths, over JSON, XML and CSV alike.

footfall.decode turns bytes into a document (dicts and lists, XML elements, or a CSV `Table`); this
module follows the preset's `records` path through it (lists, repeated elements, `{}` mappings, `^`
for enclosing levels) and keeps the records as lists, so that a field is picked for every record at
once (`Records.column`). `MISSING` tells a field the record lacks from a present null. A shape it
does not know raises ValueError, which the batch turns into a ParseError naming the payload.
Shared by normalize (reading records) and footfall.extract (following pagination), so neither imports
the other.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, cast
from xml.etree.ElementTree import Element

import numpy as np

from footfall import hooks
from footfall.config import Paths, Preset
from footfall.decode import Table, decode

_TEMPLATE = re.compile(r"\{([^{}]+)\}")


class Missing:
    """A field the record does not have (distinct from a present null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = Missing()


def lookup(node: Any, keys: list[str]) -> Any:
    """Follow keys through dicts, lists (digit keys) and XML elements (attribute, else child); MISSING if absent."""
    for key in keys:
        if isinstance(node, dict):
            node = node.get(key, MISSING)
        elif isinstance(node, list):
            node = node[int(key)] if key.isdigit() and int(key) < len(node) else MISSING
        elif isinstance(node, Element):
            if key == "#text":
                node = node.text
                continue
            value: str | Element | None = node.get(key)
            if value is None:
                value = node.find(key)
            node = MISSING if value is None else value
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    if isinstance(node, Element) and len(node) == 0:
        text = node.text
        return text.strip() if text is not None else None
    return node


def get_path(doc: Any, path: str) -> Any:
    """Follow a dotted path ('data.items'); '' is the document itself; KeyError when absent."""
    value = lookup(doc, path.split(".")) if path else doc
    if value is MISSING:
        raise KeyError(path.split(".")[-1])
    return value


def alternatives(paths: Paths | None) -> tuple[str, ...]:
    if paths is None:
        return ()
    return (paths,) if isinstance(paths, str) else tuple(paths)


def describe_paths(paths: Paths) -> str:
    return " or ".join(repr(p) for p in alternatives(paths))


@dataclass
class Records:
    """The selected records of one document, kept as lists so fields are picked per column.

    `up[k - 1]` gives the enclosing records k levels up (`^` paths): that level's nodes and, per record,
    the position of its enclosing one there. `keys` holds a mapping's keys when the records are its
    `{}` pairs (record i is the pair [keys[i], items[i]], never built).
    """

    doc: Any
    items: list[Any]
    up: list[tuple[list[Any], np.ndarray]] | None = None
    table: Table | None = None
    dicts: bool = False  # every item is a dict (checked once)
    keys: list[Any] | None = None
    lists: bool | None = None  # every item is a list (a mapping's values: checked once, when first asked)
    elements: bool | None = None  # every item is an XML element (checked once, when first asked)
    levels: dict[tuple[str, ...], list[Any] | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n(self) -> int:
        return self.table.rows if self.table is not None else len(self.items)

    def subset(self, keep: list[bool]) -> Records:
        if self.table is not None:
            cols = {k: [v for v, k2 in zip(col, keep, strict=True) if k2] for k, col in self.table.columns.items()}
            return Records(self.doc, [], None, Table(cols, sum(keep)))
        items = [v for v, k in zip(self.items, keep, strict=True) if k]
        mask = np.array(keep, dtype=bool)
        up = [(nodes, where[mask]) for nodes, where in self.up] if self.up is not None else None
        keys = [v for v, k in zip(self.keys, keep, strict=True) if k] if self.keys is not None else None
        return Records(self.doc, items, up, dicts=self.dicts, keys=keys)

    def column(self, paths: Paths) -> list[Any]:
        """One value per record for a field (alternatives: the first present wins, per record)."""
        alts = alternatives(paths)
        if len(alts) > 1:
            whole = self._in_every_record(alts[0])
            if whole is not None:  # no record lacks it: the other alternatives are not needed
                return whole
        col = self._one(alts[0])
        for alt in alts[1:]:
            if Missing not in set(map(type, col)):
                break
            other = self._one(alt)
            col = [o if v is MISSING else v for v, o in zip(col, other, strict=True)]
        return col

    def _in_every_record(self, path: str) -> list[Any] | None:
        """A plain key of dict records when every record has it (one pass, no scan for MISSING), else None."""
        if not self.dicts or self.keys is not None or self.table is not None or not path or path[0] in "/^":
            return None
        if "." in path or "{" in path:
            return None
        key = _own_key(self.items, path)
        try:
            return [n[key] for n in self.items]
        except KeyError:
            return None

    def _one(self, path: str) -> list[Any]:
        if "{" in path:
            return self._template(path)
        if path.startswith("/"):
            return [lookup(self.doc, path[1:].split("."))] * self.n
        if self.table is not None:
            return self.table.columns.get(path, [MISSING] * self.n)
        ups = len(path) - len(path.lstrip("^"))
        keys = path[ups:].lstrip(".").split(".") if path[ups:].strip(".") else []
        if self.keys is not None:
            return self._pairs(ups, keys)
        if ups == 0:
            if keys and "#text" not in keys and not self.dicts:
                if self.elements is None:
                    self.elements = set(map(type, self.items)) == {Element}
                found = _attributes(self.items, keys[0]) if self.elements and len(keys) == 1 else None
                if found is None and self.elements:
                    found = self._child_texts(keys)
                if found is not None:
                    return found
            if self.dicts and len(keys) > 1:
                found = self._nested(keys)
                if found is not None and Element not in set(map(type, found)):
                    return found
            return _pick(self.items, keys, self.dicts)
        if self.up is None or ups > len(self.up):
            return [MISSING] * self.n
        nodes, where = self.up[ups - 1]
        values = _pick(nodes, keys, False)
        return list(map(values.__getitem__, where.tolist()))

    def _nested(self, keys: list[str]) -> list[Any] | None:
        """A dotted path through dict records picked a level at a time, each enclosing level once per
        Records: fields under one parent (`interval.start`, `interval.end`) share the pass over it. None
        when a record lacks a level or is not a dict there (lookup then says MISSING where it must)."""
        parent: list[Any] | None = self.items
        for depth in range(1, len(keys)):
            prefix = tuple(keys[:depth])
            if prefix not in self.levels:
                self.levels[prefix] = _keyed(parent, keys[depth - 1]) if parent is not None else None
            parent = self.levels[prefix]
        return _keyed(parent, keys[-1]) if parent is not None else None

    def _child_texts(self, keys: list[str]) -> list[Any] | None:
        """A path of child elements (`timeSpan.startTime`) followed a level at a time through XML records, each
        enclosing level once per Records: what lookup gives when no element on the way has an attribute of
        that name and every one has the child; else None (lookup then says MISSING, or reads the attribute)."""
        level: list[Any] | None = self.items
        for depth in range(1, len(keys) + 1):
            prefix = ("<>", *keys[:depth])
            if prefix not in self.levels:
                self.levels[prefix] = _children(level, keys[depth - 1]) if level is not None else None
            level = self.levels[prefix]
        if level is None:
            return None
        return [(t.strip() if (t := c.text) is not None else None) if len(c) == 0 else c for c in level]

    def _pairs(self, ups: int, keys: list[str]) -> list[Any]:
        """A field of `{}` pairs: '0' is the key, '1...' looks into the value."""
        assert self.keys is not None
        if ups == 0 and keys == ["0"]:
            return list(self.keys)
        if ups == 0 and keys[:1] == ["1"]:
            if self.lists is None:
                self.lists = set(map(type, self.items)) == {list}
            return _pick(self.items, keys[1:], False, self.lists)
        pairs = [[k, v] for k, v in zip(self.keys, self.items, strict=True)]
        return Records(self.doc, pairs)._one("^" * ups + ".".join(keys))

    def _template(self, path: str) -> list[Any]:
        """Fields joined by a template ('{^.Date} {StartTime}'); MISSING where a part is absent."""
        parts = _TEMPLATE.split(path)  # literal, name, literal, name, ...
        cols = [self._one(name) for name in parts[1::2]]
        if all(map(all_text, cols)) or not any(MISSING in col or None in col for col in cols):
            pattern = "".join(
                p.replace("{", "{{").replace("}", "}}") if i % 2 == 0 else "{}" for i, p in enumerate(parts)
            )
            return list(map(pattern.format, *cols)) if cols else [path] * self.n
        out = []
        for r in range(self.n):
            pieces: list[str] = []
            for i, literal in enumerate(parts):
                if i % 2 == 0:
                    pieces.append(literal)
                    continue
                value = cols[i // 2][r]
                if value is MISSING or value is None:
                    out.append(MISSING)
                    break
                pieces.append(str(value))
            else:
                out.append("".join(pieces))
        return out


def all_text(values: list[Any]) -> bool:
    """Every value is text (one C-level join; faster than a scan of the types or a search for None)."""
    try:
        "".join(values)
    except TypeError:
        return False
    return True


def _own_key(dicts: list[dict[str, Any]], key: str) -> str:
    """The first record's own key object equal to `key`: JSON decoding shares key objects between records,
    so a lookup by the same object skips comparing the text (about 10% of picking a field)."""
    if dicts:
        for own in dicts[0]:
            if own == key:
                return own
    return key


def _keyed(nodes: list[Any], key: str) -> list[Any] | None:
    """Each node's value at `key`, when every node is a dict that has it (one pass), else None."""
    if nodes and type(nodes[0]) is dict:
        key = _own_key(nodes, key)
    try:
        return [n[key] for n in nodes]
    except (KeyError, TypeError, IndexError):
        return None


def _children(elements: list[Element], tag: str) -> list[Element] | None:
    """Each element's child `tag`, when none has an attribute `tag` (lookup reads an attribute first) and every
    one has the child (one pass each, C calls only), else None."""
    if any(e.get(tag) is not None for e in elements):
        return None
    found = [e.find(tag) for e in elements]
    return None if None in found else cast(list[Element], found)


def _attributes(elements: list[Element], key: str) -> list[str] | None:
    """An attribute every element has (what lookup finds first), else None (lookup then tries children)."""
    values: list[Any] = [e.get(key) for e in elements]
    return values if all_text(values) else None


def _pick(nodes: list[Any], keys: list[str], dicts: bool, lists: bool = False) -> list[Any]:
    """The value at `keys` in each node (dicts, lists, XML elements); MISSING where absent.

    `lists`: every node is known to be a list."""
    if keys and nodes and type(nodes[0]) is list and all(k.isdigit() for k in keys):
        picked = _index_lists(nodes, [int(k) for k in keys], lists)
        if picked is not None:
            return picked
    if len(keys) == 1 and nodes and type(nodes[0]) is dict:
        key = keys[0]
        if dicts:
            key = _own_key(nodes, key)
            try:
                return [n[key] for n in nodes]
            except KeyError:
                return [n.get(key, MISSING) for n in nodes]
        return [n.get(key, MISSING) if type(n) is dict else lookup(n, keys) for n in nodes]
    return [lookup(n, keys) if n is not MISSING else MISSING for n in nodes]


def _index_lists(nodes: list[Any], indexes: list[int], lists: bool = False) -> list[Any] | None:
    """Positions in lists of lists (a mapping's [key, value] pairs), a level at a time; None when any
    node is not a list or too short (lookup then says MISSING where it must). `lists`: the first level
    is known to be all lists."""
    for level, i in enumerate(indexes):
        if not (level == 0 and lists) and set(map(type, nodes)) != {list}:
            return None
        try:
            nodes = [node[i] for node in nodes]
        except IndexError:
            return None
    return nodes


def _segments(path: str) -> list[tuple[str, str]]:
    out = []
    for seg in path.split(".") if path else []:
        mode = seg[-2:] if seg.endswith(("[]", "{}")) else ""
        out.append((seg[: len(seg) - len(mode)], mode))
    return out


def _iterate(node: Any, name: str, mode: str, where: str, one_record: bool, last: bool) -> list[Any]:
    """The items of one iterated segment (a list, an XML element's repeated children, a mapping's pairs)."""
    if isinstance(node, Element):
        if last and one_record:
            found = node if not name else node.find(name)
            return [] if found is None else [found]
        return node.findall(name) if name else list(node)
    container = node if not name else lookup(node, [name])
    if container is MISSING:
        raise KeyError(name)
    if mode == "{}":
        if not isinstance(container, dict):
            raise ValueError(f"wrong shape: {where} is a {type(container).__name__}, not a mapping")
        return list(map(list, container.items()))
    if isinstance(container, list):
        return container
    if isinstance(container, dict) and last and one_record and not mode:
        return [container]
    raise ValueError(f"wrong shape: {where or 'the document'} is a {type(container).__name__}, not a list")


_NO_PARENTS = np.empty(0, dtype=np.int64)


def _lists_at(nodes: list[Any], key: str) -> list[list[Any]] | None:
    """Each node's list at `key`, in one pass, when every node is a dict holding a list there (a body's
    records, each record's counts); else None, and the general path reads each node (and names what is
    wrong). One comprehension instead of a call per node: nested records are most of a push body."""
    if not nodes or type(nodes[0]) is not dict:
        return None
    key = _own_key(nodes, key)
    try:
        found = [node[key] for node in nodes]
    except (KeyError, TypeError, IndexError):
        return None
    return found if set(map(type, found)) == {list} else None


def _walk(doc: Any, path: str, one_record: bool) -> Records:
    segments = _segments(path) or [("", "")]
    nested = any(mode for _, mode in segments[:-1])
    nodes: list[Any] = [doc]
    owner = np.zeros(1, dtype=np.int64)  # per node, its position in the last iterated level
    levels: list[tuple[list[Any], np.ndarray]] = []  # iterated levels: nodes, position of each one's parent
    for i, (name, mode) in enumerate(segments):
        last = i == len(segments) - 1
        where = ".".join(s for s, _ in segments[: i + 1])
        parent = ".".join(s for s, _ in segments[:i]) or "the document"
        if not (mode or last):
            children = []
            for node in nodes:
                child = node.find(name) if isinstance(node, Element) else lookup(node, [name])
                if child is None or child is MISSING:
                    raise KeyError(f"no {name!r} in {parent}")
                children.append(child)
            nodes = children
            continue
        if last and mode == "{}" and not nested and not isinstance(nodes[0], Element):
            container = lookup(nodes[0], [name]) if name else nodes[0]
            if container is MISSING:
                raise KeyError(f"no {name!r} in {parent}")
            if not isinstance(container, dict):
                raise ValueError(f"wrong shape: {where} is a {type(container).__name__}, not a mapping")
            return Records(doc, list(container.values()), keys=list(container))
        parts = _lists_at(nodes, name) if mode in ("[]", "") and name else None
        if parts is None:
            parts = []
            for node in nodes:
                try:
                    parts.append(_iterate(node, name, mode, where, one_record, last))
                except KeyError:
                    raise KeyError(f"no {name!r} in {parent}") from None
        parents = np.repeat(owner, list(map(len, parts))) if nested else _NO_PARENTS
        # One container (a body's list of records) is used as it is: records are only read, and copying
        # it would touch every record once more.
        items = parts[0] if len(parts) == 1 else list(itertools.chain.from_iterable(parts))
        levels.append((items, parents))
        nodes = items
        if nested:  # else this was the last segment: no level below needs its parents
            owner = np.arange(len(items))
    if not nested:
        return Records(doc, nodes)
    # For each level above the records: its nodes, and which of them encloses each record.
    up = []
    enclosing = np.arange(len(nodes))
    for k in range(len(levels) - 1, 0, -1):
        enclosing = levels[k][1][enclosing]
        up.append((levels[k - 1][0], enclosing))
    return Records(doc, nodes, up)


def select_records(doc: Any, preset: Preset) -> Records:
    """The records the preset's `records` path names (first alternative that fits the document)."""
    if isinstance(doc, Table):
        return Records(doc, [], None, doc)
    if preset.hook:
        try:
            doc = hooks.HOOKS[preset.hook](doc)
        except (AttributeError, KeyError, IndexError, TypeError) as exc:  # a hook met a shape it did not expect
            raise ValueError(f"wrong shape for hook {preset.hook}: {type(exc).__name__}: {exc}") from None
    first: str | None = None
    for path in alternatives(preset.records) or ("",):
        try:
            records = _walk(doc, path, preset.one_record)
        except KeyError as exc:
            first = first or f"wrong shape: {exc.args[0]}"
            continue
        except ValueError as exc:
            first = first or str(exc)
            continue
        pairs = any(m == "{}" for _, m in _segments(path))
        if records.keys is None and not pairs and not isinstance(doc, Element):
            dicts = set(map(type, records.items)) <= {dict}
            if not dicts and records.up is None:
                bad = next(i for i, r in enumerate(records.items) if type(r) is not dict)
                kind = type(records.items[bad]).__name__
                raise ValueError(f"wrong shape: record {bad} is a {kind}, not an object")
            records.dicts = dicts  # nested records too (each log's counts): fields are then picked by key
        return records
    tried = alternatives(preset.records)
    others = f" (looked for the records at {', '.join(repr(p) for p in tried)})" if len(tried) > 1 else ""
    raise ValueError((first or "wrong shape") + others)


def walk_records(doc: Any, paths: Paths) -> Records:
    """The records at a dotted path of the document (first alternative that fits), without the preset's
    hook: a second set of records in the same body (a preset's queue measures beside its counts)."""
    first: str | None = None
    for path in alternatives(paths) or ("",):
        try:
            return _walk(doc, path, False)
        except (KeyError, ValueError) as exc:
            first = first or (f"wrong shape: {exc.args[0]}" if isinstance(exc, KeyError) else str(exc))
    raise ValueError(first or "wrong shape")


def decode_document(body: bytes, preset: Preset) -> Any:
    """Bytes to a document per the preset's format (size limit, empty body and HTML pages refused)."""
    return decode(body, preset.format, preset.max_body_bytes)
