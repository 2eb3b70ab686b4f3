"""Districts, sub-districts and grid cells as GeoJSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from api.deps import SessionDep, SettingsDep
from api.errors import TEXT_PATTERN, problem_responses
from api.routes.paging import page_links
from api.schemas import AreaCollection, AreaFeature
from locator import areas, vocab

router = APIRouter(prefix="/v1/districts", tags=["districts"], responses=problem_responses(422))

if TYPE_CHECKING:
    LevelParam = str
else:  # the vocabulary as an enumeration in the OpenAPI spec
    LevelParam = Literal[tuple(vocab.AREA_LEVELS)]


def area_feature(record: dict[str, Any]) -> AreaFeature:
    props = {k: v for k, v in record.items() if k not in {"geometry", "parent_code"}}
    props["parent"] = record["parent_code"]
    return AreaFeature(id=record["code"], geometry=record["geometry"], properties=props)  # type: ignore[arg-type]


@router.get("", response_model=AreaCollection)
def list_districts(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    level: LevelParam = "district",
    parent: Annotated[
        str | None, Query(max_length=64, pattern=TEXT_PATTERN, description="Parent area code")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    simplify_m: Annotated[
        float, Query(ge=0, le=10_000, description="Simplify outlines to about this many metres")
    ] = 0.0,
) -> AreaCollection:
    """Areas of one level with outlines and population, ordered by code."""
    limit = min(limit, settings.page_size_max)
    page = areas.list_areas(
        session, level=level, parent=parent, limit=limit, offset=offset, simplify_m=simplify_m
    )
    return AreaCollection(
        features=[area_feature(r) for r in page.areas],
        numberMatched=page.matched,
        numberReturned=len(page.areas),
        links=page_links(request, matched=page.matched, limit=limit, offset=offset),
    )


@router.get("/{code}", response_model=AreaFeature, responses=problem_responses(404))
def get_district(
    session: SessionDep, code: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
) -> AreaFeature:
    """One area by its code."""
    return area_feature(areas.get_area(session, code))
