"""An ASGI app built on its first request: the plugin declares it without importing FastAPI or the pages."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyASGIApp:
    """Stands for `module:factory()`; Airflow only imports the plugin in task processes, never serves there."""

    def __init__(self, target: str):
        self.target = target
        self._app: ASGIApp | None = None

    def load(self) -> ASGIApp:
        if self._app is None:
            module, _, factory = self.target.partition(":")
            self._app = getattr(importlib.import_module(module), factory)()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.load()(scope, receive, send)

    def __repr__(self) -> str:
        return f"LazyASGIApp({self.target!r})"
