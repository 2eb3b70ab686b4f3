"""At most as many requests in progress per worker as it has database connections.

A request may check out its connection in one hop to the thread pool (a dependency) and use it
in the next (the route). If more requests were let in than there are connections, the newcomers
would block thread-pool workers waiting for a connection while the requests holding connections
wait for a thread: a deadlock broken only by the pool's timeout. Admitting requests up to the
pool size, in the event loop, means a request never waits for a connection once it is in, and no
connection is opened and closed under load.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send


class AdmissionLimit:
    """ASGI middleware: HTTP requests wait, in the event loop, for one of ``limit`` places;
    paths in ``exempt`` (long-lived streams that hold no pooled connection) do not count."""

    def __init__(self, app: ASGIApp, limit: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self._places: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        if self._places is None:  # made in the running loop
            self._places = asyncio.Semaphore(self.limit)
        async with self._places:
            await self.app(scope, receive, send)
