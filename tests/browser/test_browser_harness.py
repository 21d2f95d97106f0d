"""The browser fixture itself: Debian's Chromium renders a loopback page and runs its script."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

PAGE = b"""<!doctype html><html lang="en"><head><title>probe</title></head>
<body><p id="out">waiting</p>
<script>document.getElementById('out').textContent = 'ran ' + (6 * 7);</script></body></html>"""


@pytest.fixture
def loopback_page() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_chromium_runs_a_loopback_page_script(page: Any, loopback_page: str) -> None:
    page.goto(loopback_page)
    assert page.locator("#out").text_content() == "ran 42"
    assert page.title() == "probe"
