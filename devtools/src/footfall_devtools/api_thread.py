"""Run the ingestion service inside this process (tests, benchmarks) with a stop you can call.

`footfall api serve` is the production entry point; this runs the same app under uvicorn in a
thread so a test can stop the server for an outage and start it again on the same port.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from sqlalchemy import Engine


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ApiThread:
    """uvicorn serving `app` on host:port in a daemon thread; start/stop may be called repeatedly."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int | None = None, *, certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:  # fmt: skip
        self.app, self.host, self.port = app, host, port or free_port(host)
        self.certfile, self.keyfile = certfile, keyfile
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.certfile else 'http'}://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> ApiThread:
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, ssl_certfile=self.certfile, ssl_keyfile=self.keyfile,
            log_level="warning", lifespan="off", timeout_graceful_shutdown=2,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"api-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"API server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> ApiThread:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


def serve_in_thread(engine: Engine, **kwargs: Any) -> ApiThread:
    from footfall.api.app import create_app

    return ApiThread(create_app(engine), **kwargs).start()
