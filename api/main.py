"""The application factory."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from api import errors
from api.ratelimit import RateLimiter
from api.routes import (
    capacity,
    districts,
    feeds,
    health,
    nearest,
    page,
    plans,
    stations,
    vocabularies,
)
from api.stream import CapacityBroadcaster
from locator import __version__
from locator.config import Settings
from locator.db import make_engine, resolve_url


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; the lifespan opens the database engine and disposes of it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = resolve_url(settings)
        engine = make_engine(url, pool_size=10, max_overflow=20)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
        app.state.broadcaster = CapacityBroadcaster(url)
        try:
            yield
        finally:
            app.state.broadcaster.close()
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
    for module in (health, stations, nearest, capacity, feeds, districts, vocabularies, page):
        app.include_router(module.router)
    app.include_router(plans.router)
    page.mount_static(app)
    return app
