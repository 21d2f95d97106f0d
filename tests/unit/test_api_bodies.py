"""Request bodies of the ingestion API: what is stored as received."""

from __future__ import annotations


def test_a_gzip_body_is_stored_as_received_only_when_it_is_one_whole_member():
    import gzip

    from footfall.api.bodies import inflate

    body = b'{"rows": []}'
    one = gzip.compress(body, mtime=0)
    assert inflate(one, "gzip", 1000) == (body, one)
    # bytes after the member would be read back as more body (or fail): store a fresh compression instead
    assert inflate(one + b"trailing", "gzip", 1000) == (body, None)
    assert inflate(one + one, "gzip", 1000) == (body, None)
    assert inflate(body, None, 1000) == (body, None)
