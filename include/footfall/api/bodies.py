"""Request bodies: read within a size limit, gunzip within the same limit, check the syntax.

Everything here turns a bad body into `Refused` (a 4xx with a reason), never an exception the
server would answer with a 5xx. XML is parsed with defusedxml, which refuses DTDs and entities,
so an entity-expansion bomb costs nothing; gzip is inflated in bounded steps, so a zip bomb stops
at the limit.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import defusedxml
import defusedxml.ElementTree

from footfall.errors import Refused


async def read_limited(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes (by Content-Length first, then as it streams)."""
    if declared_length is not None:
        try:
            if int(declared_length) > limit:
                raise Refused(413, f"body of {int(declared_length)} bytes is over the {limit}-byte limit")
        except ValueError:
            raise Refused(400, "Content-Length is not a number") from None
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body is over the {limit}-byte limit")
        parts.append(chunk)
    return b"".join(parts)


def gunzip_limited(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body without ever holding more than `limit` bytes of output."""
    return _gunzip(body, limit)[0]


def _gunzip(body: bytes, limit: int) -> tuple[bytes, bool]:
    """(inflated body, whether `body` is one gzip member and nothing else)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Refused(400, f"Content-Encoding is gzip but the body is not valid gzip ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise Refused(413, f"body inflates to over the {limit}-byte limit")
    if not inflater.eof:
        raise Refused(400, "gzip body is truncated")
    return out, not inflater.unused_data


def decode_body(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    return inflate(raw, content_encoding, limit)[0]


def inflate(raw: bytes, content_encoding: str | None, limit: int) -> tuple[bytes, bytes | None]:
    """(the body, the gzip bytes to store as they came, or None when it must be compressed for storage).

    A connector's body arrives gzip already: storing it as received saves compressing it again; a
    stream with anything after its one gzip member is stored re-compressed, so what is kept is exactly
    what was checked."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        body, whole = _gunzip(raw, limit)
        return body, raw if whole else None
    if encoding != "identity":
        raise Refused(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    return raw, None


def looks_like_xml(body: bytes, content_type: str | None) -> bool:
    return "xml" in (content_type or "").lower() or body.lstrip()[:1] == b"<"


def check_xml(body: bytes) -> None:
    """Well-formed XML without DTD or entities, or Refused (400)."""
    try:
        defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise Refused(400, "XML with a DTD or entity declarations is refused") from None
    except Exception as exc:  # ParseError and friends: the body is not well-formed
        raise Refused(400, f"malformed XML: {exc}") from None


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise Refused(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Refused(400, "malformed JSON: nested too deeply") from None
