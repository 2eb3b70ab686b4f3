"""The courier's question: nearest stations, open, with the service needed and with room."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import ReadSessionsDep, SettingsDep, read
from api.errors import problem_responses
from api.query import parse_query, query_parameters
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


class NearestParams(BaseModel):
    """The query string of ``GET /v1/nearest``."""

    model_config = ConfigDict(frozen=True)

    lon: float = Field(ge=-180, le=180, description="Your longitude")
    lat: float = Field(ge=-90, le=90, description="Your latitude")
    k: int = Field(5, ge=1, le=MAX_K, description="How many stations")
    service: list[ServiceParam] | None = Field(None, description="Needed (all of)")
    group: list[GroupParam] | None = Field(None, description="Served (any of)")
    kind: list[KindParam] | None = Field(None, description="Station kinds (any of)")
    min_stars: int | None = Field(None, ge=1, le=5)
    max_distance_m: float | None = Field(None, gt=0, le=100_000)
    open: Literal["any", "now", "on_arrival"] = Field(
        "any", description="Only stations open now, or open when you get there"
    )
    at: dt.datetime | None = Field(
        None, description="Time of the question, with offset; default now"
    )
    mode: Literal["walk", "ebike"] = Field("ebike", description="For arrival times")
    unit: UnitParam | None = Field(None, description="Capacity unit you need")
    free: int = Field(1, ge=1, le=1000, description="Free places of `unit`")
    coordsys: CoordSys = Field("wgs84", description="Coordinates of lon/lat and of the answer")


@router.get(
    "/nearest",
    response_model=NearestCollection,
    openapi_extra={"parameters": query_parameters(NearestParams)},
)
async def nearest(request: Request, sessions: ReadSessionsDep, settings: SettingsDep) -> Response:
    """The nearest stations to (lon, lat), best first, as GeoJSON."""
    p = parse_query(NearestParams, request)
    query = NearestQuery.in_crs(
        p.lon,
        p.lat,
        p.coordsys,
        k=p.k,
        services=tuple(p.service or ()),
        groups=tuple(p.group or ()),
        kinds=tuple(p.kind or ()),
        min_stars=p.min_stars,
        max_distance_m=p.max_distance_m,
        open=p.open,
        at=p.at,
        mode=p.mode,
        unit=p.unit,
        free=p.free,
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
            "features": [nearest_feature(i, s, p.coordsys) for i, s in enumerate(stations, 1)],
            "query": {
                "lon": p.lon,
                "lat": p.lat,
                "coordsys": p.coordsys,
                "at": p.at or now,
                "mode": p.mode,
            },
        }
        return orjson.dumps(body)

    return Response(await run_in_threadpool(answer), media_type="application/json")
