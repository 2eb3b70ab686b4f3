"""Siting plans over HTTP: analysts and admins make and read plans.

A plan is solved in the request (HiGHS, within ``time_limit_s``, capped by
``LOCATOR_PLAN_TIME_LIMIT_MAX_S``) and stored; its figures are aggregates of private worker
homes, so reading plans needs an analyst or admin key too.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import KeyDep, SessionDep, SettingsDep
from api.errors import TEXT_PATTERN, problem_responses
from locator import keys, plans
from locator.errors import ConfigError

router = APIRouter(tags=["plans"], responses=problem_responses(400, 401, 403, 404, 422))

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=TEXT_PATTERN)]
PlanId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The plan's id")]


class PlanIn(BaseModel):
    """What to plan: how many new sites, within what radius, with which constraints."""

    model_config = ConfigDict(extra="forbid")

    new_sites: int = Field(30, ge=0, le=200, description="New sites (required ones included).")
    radius_m: float = Field(1000.0, gt=0, le=20_000, description="Catchment radius, metres.")
    demand: Literal["homes", "grid"] = Field(
        "homes", description="Worker homes, or grid cells weighted by population."
    )
    district: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=TEXT_PATTERN,
        description="Only this district (code or name).",
    )
    required: list[Code] = Field(default_factory=list, max_length=200)
    forbidden: list[Code] = Field(default_factory=list, max_length=2_000)
    capacitated: bool = Field(False, description="A site covers at most its capacity.")
    quotas: dict[Code, Annotated[int, Field(ge=0, le=200)]] | None = Field(
        None, max_length=50, description="District (code or name) → most new sites there."
    )
    solver: Literal["exact", "fast"] = "exact"
    time_limit_s: float = Field(30.0, gt=0, le=3_600, description="Seconds for HiGHS.")
    name: str | None = Field(None, max_length=200, pattern=TEXT_PATTERN)


class PlanSiteOut(BaseModel):
    rank: int
    code: str
    name: str | None
    district_code: str | None
    capacity: int | None
    required: bool
    workers_added: float | None = Field(
        description="Workers this site adds to those before it; null when hidden for privacy "
        "(a plan of worker homes never lets a count below the privacy threshold be read)."
    )
    running_total: float | None = Field(
        description="Workers covered with this site and those before it; null when hidden."
    )
    lon: float
    lat: float


class PlanOut(BaseModel):
    """A stored plan: inputs, answer (objective, bound, gap, status) and ranked sites."""

    id: int
    inputs: dict[str, Any]
    data_version: str
    status: str
    objective: float | None = Field(
        description="Workers newly covered by the plan's sites; null when fewer than the "
        "privacy threshold in all (plans of worker homes)."
    )
    bound: float | None
    gap: float | None
    covered_before: float
    covered_after: float | None
    demand_total: float
    sizes: dict[str, int]
    timings: dict[str, float]
    curve_beyond: list[dict[str, Any]]
    sites: list[PlanSiteOut]
    privacy: dict[str, Any] | None = Field(
        None, description="The threshold k and what it hid (plans of worker homes)."
    )
    created_by: str | None
    created_at: dt.datetime


def _out(view: plans.PlanView) -> PlanOut:
    return PlanOut.model_validate(view.to_dict())


@router.post("/v1/plans", status_code=201, response_model=PlanOut)
def create_plan(body: PlanIn, session: SessionDep, key: KeyDep, settings: SettingsDep) -> PlanOut:
    """Solve and store a siting plan (analyst or admin key)."""
    keys.require_read_private(key)
    if body.time_limit_s > settings.plan_time_limit_max_s:
        raise ConfigError(
            f"time_limit_s {body.time_limit_s!r} is above this service's limit of "
            f"{settings.plan_time_limit_max_s:g} s"
        )
    request = plans.PlanRequest(
        new_sites=body.new_sites,
        radius_m=body.radius_m,
        demand=body.demand,
        district=body.district,
        required=tuple(body.required),
        forbidden=tuple(body.forbidden),
        capacitated=body.capacitated,
        quotas=body.quotas,
        solver=body.solver,
        time_limit_s=body.time_limit_s,
        name=body.name,
    )
    view = plans.create_plan(session, request, created_by=key.name, key_id=key.id)
    session.commit()
    return _out(view)


@router.get("/v1/plans/{plan_id}", response_model=PlanOut)
def get_plan(plan_id: PlanId, session: SessionDep, key: KeyDep) -> PlanOut:
    """A stored plan (analyst or admin key)."""
    keys.require_read_private(key)
    return _out(plans.get_plan(session, plan_id))


@router.get(
    "/v1/plans/{plan_id}/geojson",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}, "description": "The sites"}},
)
def get_plan_geojson(plan_id: PlanId, session: SessionDep, key: KeyDep) -> JSONResponse:
    """The plan's sites as GeoJSON points, in rank order (analyst or admin key)."""
    keys.require_read_private(key)
    return JSONResponse(
        plans.plan_features(plans.get_plan(session, plan_id)), media_type="application/geo+json"
    )
