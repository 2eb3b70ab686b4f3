"""The courier's question: nearest stations, open, with the service needed and with room."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from api.deps import ReadSessionsDep, SettingsDep, read
from api.errors import problem_responses
from api.schemas import NearestCollection
from locator import vocab
from locator.crs import from_wgs84, parse_crs
from locator.nearest import MAX_K, NearestQuery, NearestStation, find_nearest

router = APIRouter(prefix="/v1", tags=["nearest"], responses=problem_responses(422))

if TYPE_CHECKING:
    ServiceParam = str
    GroupParam = str
    KindParam = str
    UnitParam = str
else:  # the vocabularies as enumerations in the OpenAPI spec
    ServiceParam = Literal[tuple(vocab.SERVICES)]
    GroupParam = Literal[tuple(vocab.GROUPS)]
    KindParam = Literal[tuple(vocab.KINDS)]
    UnitParam = Literal[tuple(vocab.UNITS)]
CoordSys = Literal["wgs84", "gcj02", "bd09"]


_PROPERTIES = (
    *("code", "name_zh", "name_en", "kind", "operator", "address"),
    *("services", "groups", "opening_hours", "stars"),
)


def nearest_feature(rank: int, station: NearestStation, coordsys: str) -> dict[str, Any]:
    """One answer as a GeoJSON feature (the shape of ``NearestFeature``), in ``coordsys``."""
    record = station.record
    if coordsys == "wgs84":
        lon, lat = record["lon"], record["lat"]
    else:
        lon, lat = from_wgs84(record["lon"], record["lat"], parse_crs(coordsys))
    properties = {key: record[key] for key in _PROPERTIES}
    properties.update(
        rank=rank,
        district=record["district_code"],
        distance_m=round(station.distance_m, 2),
        bearing_deg=round(station.bearing_deg % 360, 1),
        eta_min=round(station.eta_min, 1),
        arrival=station.arrival,
        hours={
            "state": station.hours.state,
            "next_change": station.hours.next_change,
            "note": station.hours.note,
        },
        capacity={
            unit: {
                "maximum": u.maximum,
                "occupied": u.occupied,
                "held": u.held,
                "free": u.free,
                "reported_at": u.reported_at,
                "stale": u.stale,
            }
            for unit, u in station.capacity.items()
        },
        room_known=station.room_known,
    )
    return {
        "type": "Feature",
        "id": station.code,
        "geometry": {"type": "Point", "coordinates": [round(float(lon), 7), round(float(lat), 7)]},
        "properties": properties,
    }


@router.get("/nearest", response_model=NearestCollection)
async def nearest(
    sessions: ReadSessionsDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="Your longitude")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Your latitude")],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many stations")] = 5,
    service: Annotated[list[ServiceParam] | None, Query(description="Needed (all of)")] = None,
    group: Annotated[list[GroupParam] | None, Query(description="Served (any of)")] = None,
    kind: Annotated[list[KindParam] | None, Query(description="Station kinds (any of)")] = None,
    min_stars: Annotated[int | None, Query(ge=1, le=5)] = None,
    max_distance_m: Annotated[float | None, Query(gt=0, le=100_000)] = None,
    open: Annotated[
        Literal["any", "now", "on_arrival"],
        Query(description="Only stations open now, or open when you get there"),
    ] = "any",
    at: Annotated[
        dt.datetime | None, Query(description="Time of the question, with offset; default now")
    ] = None,
    mode: Annotated[Literal["walk", "ebike"], Query(description="For arrival times")] = "ebike",
    unit: Annotated[UnitParam | None, Query(description="Capacity unit you need")] = None,
    free: Annotated[int, Query(ge=1, le=1000, description="Free places of `unit`")] = 1,
    coordsys: Annotated[
        CoordSys, Query(description="Coordinates of lon/lat and of the answer")
    ] = "wgs84",
) -> Response:
    """The nearest stations to (lon, lat), best first, as GeoJSON."""
    query = NearestQuery.in_crs(
        lon,
        lat,
        coordsys,
        k=k,
        services=tuple(service or ()),
        groups=tuple(group or ()),
        kinds=tuple(kind or ()),
        min_stars=min_stars,
        max_distance_m=max_distance_m,
        open=open,
        at=at,
        mode=mode,
        unit=unit,
        free=free,
    )
    now = dt.datetime.now(dt.UTC)

    def answer() -> bytes:
        stations = read(
            sessions,
            lambda session: find_nearest(
                session,
                query,
                speed_kmh=settings.speed_kmh(),
                stale_after_min=settings.stale_after(),
                now=now,
            ),
        )
        # Built as plain data and serialised once: the service's hot path skips re-validating
        # its own output (the tests check it against ``NearestCollection``).
        body = {
            "type": "FeatureCollection",
            "features": [nearest_feature(i, s, coordsys) for i, s in enumerate(stations, 1)],
            "query": {"lon": lon, "lat": lat, "coordsys": coordsys, "at": at or now, "mode": mode},
        }
        return orjson.dumps(body)

    return Response(await run_in_threadpool(answer), media_type="application/json")
