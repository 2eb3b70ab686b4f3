"""Maps as HTML pages: ``GET /v1/maps/coverage.html`` with the options of ``/v1/coverage``.

The page links its scripts and styles under ``/v1/maps/assets/`` (vendored, served here), so
it works on a network that reaches only this service; with ``offline=true`` everything is
inlined instead and the page is sent as a file to save, which opens with no network at all.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.errors import problem_responses
from api.routes.coverage import (
    CatchmentQuery,
    HolidayQuery,
    HourQuery,
    KindQuery,
    LevelParam,
    OpenAtQuery,
    RadiusParam,
    ServiceQuery,
    StarsQuery,
    _options,
    cached_report,
)
from locator.coverage import MAX_RADIUS_M
from locator.errors import NotFoundError
from locator.sample import holds_synthetic_stations

router = APIRouter(prefix="/v1/maps", tags=["maps"], responses=problem_responses(404, 422))
ASSET_CACHE_CONTROL = "public, max-age=86400"
HTML_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The map"}
}


@router.get("/coverage.html", response_class=HTMLResponse, responses=HTML_ANSWER)
def coverage_map_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    radius: RadiusParam = None,
    kind: KindQuery = None,
    service: ServiceQuery = None,
    min_stars: StarsQuery = None,
    open_at: OpenAtQuery = None,
    hour_of_week: HourQuery = None,
    holiday: HolidayQuery = False,
    catchment_m: CatchmentQuery = None,
    gap_threshold: Annotated[
        int, Query(ge=1, le=1_000_000, description="Uncovered workers that make a cell a gap")
    ] = 50,
    show_radius: Annotated[
        float | None,
        Query(gt=0, le=MAX_RADIUS_M, description="Radius drawn (one of `radius`); the smallest"),
    ] = None,
    level: Annotated[
        LevelParam | None, Query(description="Area level shown first; the coarsest")
    ] = None,
    heat: Annotated[bool, Query(description="Show the heat of uncovered workers at once")] = False,
    offline: Annotated[
        bool, Query(description="One self-contained file to save (no tiles, no requests)")
    ] = False,
) -> HTMLResponse:
    """The coverage map: stations, catchment circles, coverage share by district,
    sub-district and grid cell (areas under ``LOCATOR_PRIVACY_K`` workers suppressed), heat of
    uncovered workers, gap areas; title, legend, layer control, full screen, mini-map and a
    measuring tool. Tiles from ``LOCATOR_TILE_URL`` when set, else the district outlines."""
    from maps.coverage import coverage_map
    from maps.offline import render_html

    options = _options(
        settings,
        radius=radius,
        kind=kind,
        service=service,
        min_stars=min_stars,
        open_at=open_at,
        hour_of_week=hour_of_week,
        holiday=holiday,
        catchment_m=catchment_m,
        gap_threshold=gap_threshold,
    )
    report = cached_report(request, session, options, settings)
    fmap = coverage_map(
        report,
        radius_m=show_radius,
        level=level,
        tile_url=settings.tile_url,
        offline=offline,
        synthetic=holds_synthetic_stations(session),
        heat=heat,
    )
    page = render_html(fmap, asset_base=None if offline else "assets")
    headers = {"Cache-Control": "no-cache"}
    if offline:
        headers["Content-Disposition"] = 'attachment; filename="coverage-offline.html"'
    return HTMLResponse(page, headers=headers)


@router.get("/assets/{key:path}", include_in_schema=False)
def map_asset(key: str) -> FileResponse:
    """A vendored script, style or image of the maps (see maps/vendor/README.md)."""
    from maps.offline import MapAssetError, asset_path

    try:
        path = asset_path(key)
    except MapAssetError:
        raise NotFoundError(f"map asset {key!r} does not exist") from None
    return FileResponse(path, headers={"Cache-Control": ASSET_CACHE_CONTROL})
