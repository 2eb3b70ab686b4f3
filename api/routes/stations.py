"""Stations as GeoJSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from api.deps import SessionDep, SettingsDep
from api.errors import TEXT_PATTERN, problem_responses
from api.routes.paging import page_links
from api.schemas import StationCollection, StationFeature
from locator import stations, vocab
from locator.geometry import BBox

router = APIRouter(prefix="/v1/stations", tags=["stations"], responses=problem_responses(422))

if TYPE_CHECKING:
    KindParam = str
    StatusParam = str
else:  # the vocabularies as enumerations in the OpenAPI spec
    KindParam = Literal[tuple(vocab.KINDS)]
    StatusParam = Literal[tuple(vocab.STATUSES)]
CODE_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
_NUMBER = r"\s*-?\d{1,3}(\.\d+)?\s*"
BBOX_PATTERN = rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"


def station_feature(record: dict[str, Any]) -> StationFeature:
    props = {k: v for k, v in record.items() if k not in {"lon", "lat", "district_code"}}
    props["district"] = record["district_code"]
    return StationFeature(
        id=record["code"],
        geometry={"type": "Point", "coordinates": [record["lon"], record["lat"]]},  # type: ignore[arg-type]
        properties=props,  # type: ignore[arg-type]
    )


@router.get("", response_model=StationCollection)
def list_stations(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bbox: Annotated[
        str | None,
        Query(
            description="min lon, min lat, max lon, max lat (WGS-84)",
            pattern=BBOX_PATTERN,
            examples=["116.2,39.8,116.5,40.0"],
        ),
    ] = None,
    district: Annotated[
        str | None, Query(max_length=64, pattern=TEXT_PATTERN, description="District code")
    ] = None,
    kind: KindParam | None = None,
    status: StatusParam | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> StationCollection:
    """Stations ordered by code, one page at a time."""
    limit = min(limit, settings.page_size_max)
    page = stations.list_stations(
        session,
        bbox=BBox.parse(bbox) if bbox is not None else None,
        district=district,
        kind=kind,
        status=status,
        limit=limit,
        offset=offset,
    )
    return StationCollection(
        features=[station_feature(r) for r in page.stations],
        numberMatched=page.matched,
        numberReturned=len(page.stations),
        links=page_links(request, matched=page.matched, limit=limit, offset=offset),
    )


@router.get("/{code}", response_model=StationFeature, responses=problem_responses(404))
def get_station(
    session: SessionDep, code: Annotated[str, Path(pattern=CODE_PATTERN)]
) -> StationFeature:
    """One station by its code."""
    return station_feature(stations.get_station(session, code))
