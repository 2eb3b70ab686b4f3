"""Open feeds: GBFS-style station information and status, and the live stream of changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import ClockDep, SessionDep, SettingsDep
from api.errors import TEXT_PATTERN, problem_responses
from api.schemas import GbfsDiscovery, GbfsInformation, GbfsStatus
from locator import feeds

router = APIRouter(tags=["feeds"], responses=problem_responses(422))

TTL_S = 60
KEEPALIVE_S = 15.0


@router.get("/v1/gbfs/gbfs.json", response_model=GbfsDiscovery)
def gbfs(request: Request, clock: ClockDep) -> dict[str, Any]:
    """Feed discovery (GBFS style)."""
    base = str(request.base_url).rstrip("/")
    feed_list = [
        {"name": name, "url": f"{base}/v1/gbfs/{name}.json"}
        for name in ("station_information", "station_status")
    ]
    data = {lang: {"feeds": feed_list} for lang in ("zh", "en")}
    return feeds.envelope(data, now=clock(), ttl_s=TTL_S)


@router.get("/v1/gbfs/station_information.json", response_model=GbfsInformation)
def station_information(session: SessionDep, clock: ClockDep) -> dict[str, Any]:
    """Every active station: name, place, kind, services, groups served, hours, places."""
    stations = feeds.station_information(session)
    return feeds.envelope({"stations": stations}, now=clock(), ttl_s=TTL_S)


@router.get("/v1/gbfs/station_status.json", response_model=GbfsStatus)
def station_status(session: SessionDep, settings: SettingsDep, clock: ClockDep) -> dict[str, Any]:
    """Live places per station and unit (null when the count is stale), and open now."""
    now = clock()
    stations = feeds.station_status(session, now=now, stale_after_min=settings.stale_after())
    return feeds.envelope({"stations": stations}, now=now, ttl_s=TTL_S)


@router.get(
    "/v1/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events, one `capacity` event per change",
        }
    },
)
async def stream(
    request: Request,
    station: Annotated[
        str | None, Query(max_length=64, pattern=TEXT_PATTERN, description="Only this station")
    ] = None,
    timeout_s: Annotated[
        float, Query(gt=0, le=3600, description="Close the stream after this many seconds")
    ] = 600.0,
) -> StreamingResponse:
    """Capacity changes as they are committed (Server-Sent Events; EventSource reconnects)."""
    broadcaster = request.app.state.broadcaster
    queue = await asyncio.to_thread(broadcaster.subscribe, asyncio.get_running_loop())

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            yield "retry: 3000\n\n"
            while (left := deadline - loop.time()) > 0:
                try:
                    payload = await asyncio.wait_for(queue.get(), min(KEEPALIVE_S, left))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                change = json.loads(payload)
                if station is None or change.get("station") == station:
                    yield f"id: {change['event_id']}\nevent: capacity\ndata: {payload}\n\n"
        finally:
            broadcaster.unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
