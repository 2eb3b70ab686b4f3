"""The application factory."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from api import errors
from api.admission import AdmissionLimit
from api.ratelimit import RateLimiter
from api.routes import (
    capacity,
    coverage,
    districts,
    feeds,
    health,
    nearest,
    page,
    plans,
    stations,
    vocabularies,
)
from api.routes import maps as map_pages
from api.stream import CapacityBroadcaster
from locator import __version__
from locator import capacity as capacity_store
from locator.config import Settings
from locator.db import make_engine, resolve_url

log = logging.getLogger(__name__)


def expire_due_holds(app: FastAPI) -> int:
    """Expire the holds whose time has run out, so that read-only answers (nearest stations,
    feeds) stop counting their beds as held even when no one writes to the station."""
    with app.state.sessionmaker() as session, session.begin():
        return capacity_store.expire_holds(session, now=app.state.clock())


async def _sweep_holds(app: FastAPI, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await to_thread.run_sync(expire_due_holds, app)
        except Exception:  # the next round tries again; a request never depends on it
            log.exception("expiring due holds failed")


def make_read_engine(url: str, pool_size: int) -> Engine:
    """The pool of the nearest-station reads, the hot path: connections in autocommit from the
    start (no isolation level set and reset around each request; first search batches run as
    statements prepared once per connection) and not pinged before use; ``api.deps.read`` runs
    a read again on a fresh connection when the server has dropped a pooled one."""
    return make_engine(
        url,
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        connect_args={"application_name": "locator-api-read"},
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; the lifespan opens the database engine and disposes of it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = resolve_url(settings)
        # ``AdmissionLimit`` lets in as many requests as there are pooled connections; two more
        # serve the hold sweeper and /readyz, and the thread pool has a thread for each.
        engine = make_engine(
            url,
            pool_size=settings.db_pool_size + 2,
            max_overflow=4,
            connect_args={"application_name": "locator-api"},
        )
        read_engine = make_read_engine(url, settings.db_pool_size)
        to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size + 4
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
        app.state.read_sessionmaker = read_engine.connect
        app.state.broadcaster = CapacityBroadcaster(url)
        sweeper = asyncio.create_task(_sweep_holds(app, settings.hold_sweep_s))
        try:
            yield
        finally:
            sweeper.cancel()
            app.state.broadcaster.close()
            read_engine.dispose()
            engine.dispose()

    app = FastAPI(
        title="Warm-station locator",
        version=__version__,
        description="Beijing's warm-heart stations (暖心驿站) for outdoor workers: where they "
        "are, what they offer, and the areas they serve. Errors are application/problem+json.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = lambda: dt.datetime.now(dt.UTC)
    app.state.rate_limiter = RateLimiter(settings.writes_per_minute)
    errors.install(app)
    app.add_middleware(
        AdmissionLimit, limit=settings.db_pool_size, exempt=("/v1/stream", "/healthz", "/static")
    )
    for module in (health, stations, nearest, capacity, feeds, districts, vocabularies, page):
        app.include_router(module.router)
    app.include_router(coverage.router)
    app.include_router(plans.router)
    app.include_router(map_pages.router)
    page.mount_static(app)
    return app
