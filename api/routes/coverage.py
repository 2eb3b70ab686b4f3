"""Coverage and gaps for district unions and analysts: JSON, GeoJSON or CSV.

Answers hold counts per area only; an area with fewer workers than ``LOCATOR_PRIVACY_K`` is
suppressed (its figures are null), and callers cannot lower that threshold. A report is cached
per option set for :data:`CACHE_SECONDS`, and what it reads from the store (every worker
home) is shared by the option sets asked in that time.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any, Literal

import geopandas as gpd
import pandas as pd
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import SessionDep, SettingsDep
from api.errors import TEXT_PATTERN, problem_responses
from api.schemas import CoverageAnswer, CoverageOptionsOut, GapsAnswer
from locator import vocab
from locator.coverage import (
    DEFAULT_GAP_THRESHOLD,
    MAX_CATCHMENT_M,
    CoverageOptions,
    CoverageReport,
    StoreSnapshot,
    area_records,
    compute_coverage,
    coverage_options,
    read_snapshot,
    with_gap_threshold,
)

router = APIRouter(prefix="/v1", tags=["coverage"], responses=problem_responses(422))

CACHE_SECONDS = 120.0
CACHE_ENTRIES = 16
METRES_PER_DEGREE = 111_320.0
MEDIA = {"json": "application/json", "geojson": "application/geo+json", "csv": "text/csv"}
FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/geo+json": {},
            "text/csv": {"schema": {"type": "string"}},
        },
        "description": "JSON (default), GeoJSON or CSV, by `format`",
    }
}

if TYPE_CHECKING:
    LevelParam = str
    KindParam = str
    ServiceParam = str
else:  # the vocabularies as enumerations in the OpenAPI spec
    LevelParam = Literal[tuple(vocab.AREA_LEVELS)]
    KindParam = Literal[tuple(vocab.KINDS)]
    ServiceParam = Literal[tuple(vocab.SERVICES)]

RadiusParam = Annotated[
    list[float] | None,
    Query(description="Radius in metres (repeat, up to 4); default 500 and 1000"),
]
KindQuery = Annotated[list[KindParam] | None, Query(description="Station kinds (any of)")]
ServiceQuery = Annotated[list[ServiceParam] | None, Query(description="Services (all of)")]
StarsQuery = Annotated[int | None, Query(ge=1, le=5, description="Lowest star rating")]
OpenAtQuery = Annotated[
    dt.datetime | None, Query(description="Count only stations open then (with offset)")
]
HourQuery = Annotated[
    int | None, Query(ge=0, le=167, description="Count only stations open then; 0 = Mon 00:00")
]
HolidayQuery = Annotated[bool, Query(description="Count only stations open on a public holiday")]
CatchmentQuery = Annotated[
    float | None, Query(gt=0, le=MAX_CATCHMENT_M, description="2SFCA catchment in metres")
]
SimplifyQuery = Annotated[
    float, Query(ge=0, le=10_000, description="Simplify outlines to about this many metres")
]


def _options(
    settings: Any,
    *,
    radius: list[float] | None,
    kind: list[str] | None,
    service: list[str] | None,
    min_stars: int | None,
    open_at: dt.datetime | None,
    hour_of_week: int | None,
    holiday: bool,
    catchment_m: float | None,
    gap_threshold: int = 50,
) -> CoverageOptions:
    from locator.errors import ConfigError

    if radius and len(radius) > 4:
        raise ConfigError(f"radius {list(radius)!r} names {len(radius)} radii; at most 4 allowed")
    return coverage_options(
        privacy_k=settings.privacy_k,
        radius=radius,
        kind=kind,
        service=service,
        min_stars=min_stars,
        open_at=open_at,
        hour_of_week=hour_of_week,
        holiday=holiday,
        gap_threshold=gap_threshold,
        catchment=catchment_m,
    )


_LOCK = threading.Lock()


@dataclass
class _Cache:
    """Per app: the store as last read, and reports per option set, each for a short time."""

    snapshot: tuple[float, StoreSnapshot] | None = None
    reports: dict[CoverageOptions, tuple[float, CoverageReport]] = field(default_factory=dict)


def cached_report(
    request: Request, session: Any, options: CoverageOptions, settings: Any
) -> CoverageReport:
    """The report for ``options``: computed at most once per :data:`CACHE_SECONDS` and option
    set (the gap threshold only redraws the gaps); the store's stations are read again after
    that time, its homes and areas only when they changed."""
    wanted = options
    options = replace(options, gap_threshold=DEFAULT_GAP_THRESHOLD)
    with _LOCK:
        cache = request.app.state.__dict__.setdefault("coverage_cache", _Cache())
        now = time.monotonic()
        for key in [k for k, (at, _) in cache.reports.items() if now - at > CACHE_SECONDS]:
            cache.reports.pop(key)
        hit = cache.reports.get(options)
        if hit is None:
            if cache.snapshot is None or now - cache.snapshot[0] > CACHE_SECONDS:
                earlier = cache.snapshot[1] if cache.snapshot is not None else None
                snapshot = read_snapshot(
                    session, stale_after_min=settings.stale_after(), reuse=earlier
                )
                cache.snapshot = (now, snapshot)
            report = compute_coverage(None, options, snapshot=cache.snapshot[1])
            if len(cache.reports) >= CACHE_ENTRIES:
                cache.reports.pop(min(cache.reports, key=lambda k: cache.reports[k][0]))
            cache.reports[options] = (time.monotonic(), report)
        else:
            report = hit[1]
    if wanted.gap_threshold != options.gap_threshold:
        report = with_gap_threshold(report, wanted.gap_threshold)
    return report


def _options_out(options: CoverageOptions) -> CoverageOptionsOut:
    return CoverageOptionsOut(
        radii_m=list(options.radii_m),
        kinds=list(options.kinds),
        services=list(options.services),
        min_stars=options.min_stars,
        open_at=options.evaluation_time(),
        privacy_k=options.privacy_k,
        gap_threshold=options.gap_threshold,
        catchment_m=options.catchment,
        description=options.describe(),
    )


def _geojson(table: gpd.GeoDataFrame, simplify_m: float) -> Response:
    geometry = table.geometry.to_numpy()
    if simplify_m > 0:
        geometry = shapely.simplify(
            geometry, simplify_m / METRES_PER_DEGREE, preserve_topology=True
        )
    features = [
        {
            "type": "Feature",
            "id": str(record.get("code", record.get("rank"))),
            "geometry": json.loads(shapely.to_geojson(shape)) if shape is not None else None,
            "properties": record,
        }
        for record, shape in zip(area_records(table), geometry, strict=True)
    ]
    body = {"type": "FeatureCollection", "features": features}
    return Response(
        json.dumps(body, ensure_ascii=False, default=_default),
        media_type=MEDIA["geojson"],
    )


def _csv(table: gpd.GeoDataFrame) -> Response:
    buffer = io.StringIO()
    pd.DataFrame(table.drop(columns="geometry")).to_csv(buffer, index=False)
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


@router.get("/coverage", response_model=CoverageAnswer, responses=FORMATS)
def coverage_by_area(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    level: LevelParam = "district",
    parent: Annotated[
        str | None, Query(max_length=64, pattern=TEXT_PATTERN, description="Only areas within it")
    ] = None,
    radius: RadiusParam = None,
    kind: KindQuery = None,
    service: ServiceQuery = None,
    min_stars: StarsQuery = None,
    open_at: OpenAtQuery = None,
    hour_of_week: HourQuery = None,
    holiday: HolidayQuery = False,
    catchment_m: CatchmentQuery = None,
    format: Annotated[Literal["json", "geojson", "csv"], Query(description="Answer format")] = (
        "json"
    ),
    simplify_m: SimplifyQuery = 0.0,
) -> Any:
    """Workers, covered workers and share per radius, stations, places, distances and the
    2SFCA access score per area of one level; totals in JSON."""
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
    )
    report = cached_report(request, session, options, settings)
    table = report.areas[level]
    if parent is not None:
        table = table[table["parent_code"] == parent]
    if format == "geojson":
        return _geojson(table, simplify_m)
    if format == "csv":
        return _csv(table)
    return CoverageAnswer(
        level=level,
        data_date=report.data_date,
        options=_options_out(options),
        totals=report.totals,
        areas=area_records(table),
        notes=report.notes,
    )


@router.get("/gaps", response_model=GapsAnswer, responses=FORMATS)
def gaps(
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
    gap_threshold: Annotated[
        int, Query(ge=1, le=1_000_000, description="Uncovered workers that make a cell a gap")
    ] = 50,
    cells: Annotated[bool, Query(description="Gap grid cells instead of merged gap areas")] = False,
    format: Annotated[Literal["json", "geojson", "csv"], Query(description="Answer format")] = (
        "json"
    ),
    simplify_m: SimplifyQuery = 0.0,
) -> Any:
    """Grid cells whose uncovered workers (at the largest radius) reach ``gap_threshold``, or
    adjacent such cells merged into gap areas, ranked by uncovered workers."""
    options = _options(
        settings,
        radius=radius,
        kind=kind,
        service=service,
        min_stars=min_stars,
        open_at=open_at,
        hour_of_week=hour_of_week,
        holiday=holiday,
        catchment_m=None,
        gap_threshold=gap_threshold,
    )
    report = cached_report(request, session, options, settings)
    table = report.gap_cells if cells else report.gaps
    if format == "geojson":
        return _geojson(table, simplify_m)
    if format == "csv":
        return _csv(table)
    return GapsAnswer(
        data_date=report.data_date, options=_options_out(options), gaps=area_records(table)
    )
