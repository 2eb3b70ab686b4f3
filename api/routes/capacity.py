"""Station keepers' writes: check in, check out, head counts, maxima and bed holds.

Every write needs an API key (admin, or the keeper of that station), may carry an
``Idempotency-Key`` header so that a retry on a flaky network is applied once and answered the
same way, and is rate-limited per key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.deps import ClockDep, KeyDep, SessionDep
from api.errors import problem_for, problem_responses
from api.routes.stations import CODE_PATTERN
from api.schemas import (
    CountIn,
    HistoryOut,
    HoldIn,
    HoldOut,
    HourProfileOut,
    MaximumIn,
    UnitFiguresOut,
)
from locator import capacity, idempotency, keys, usage, vocab
from locator.errors import ConflictError

router = APIRouter(
    tags=["capacity"], responses=problem_responses(400, 401, 403, 404, 409, 422, 429)
)

if TYPE_CHECKING:
    UnitParam = str
else:
    UnitParam = Literal[tuple(vocab.UNITS)]

CodePath = Annotated[str, Path(pattern=CODE_PATTERN, description="Station code")]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=idempotency.MAX_KEY_LENGTH,
        description="Any unique string; a retried request with the same key is applied once.",
    ),
]
Operation = Callable[[], tuple[int, dict[str, Any]]]


def run_write(
    request: Request,
    session: Session,
    key: keys.KeyInfo,
    station_code: str,
    idempotency_key: str | None,
    payload: Any,
    operation: Operation,
) -> JSONResponse:
    """Authorise, rate-limit, apply once per idempotency key, store the answer, commit."""
    request.app.state.rate_limiter.take(key.id, key.prefix)
    keys.require_write(key, capacity.station_id(session, station_code), station_code)
    digest = idempotency.fingerprint(request.method, request.url.path, payload)
    if idempotency_key is not None:
        stored = idempotency.claim(session, key.id, idempotency_key, digest)
        if stored is not None:
            session.commit()
            return _answer(stored.status_code, stored.body, replayed=True)
    try:
        status, body = operation()
    except ConflictError as exc:
        refused = problem_for(exc)
        status, body = refused.status_code, _json_body(refused)
    if idempotency_key is not None:
        idempotency.record(session, key.id, idempotency_key, status, body)
    session.commit()
    return _answer(status, body, replayed=False)


def _json_body(response: JSONResponse) -> dict[str, Any]:
    import json

    return json.loads(bytes(response.body))


def _answer(status: int, body: dict[str, Any], *, replayed: bool) -> JSONResponse:
    media = "application/problem+json" if status >= 400 else "application/json"
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(body, status_code=status, media_type=media, headers=headers)


def _figures(result: capacity.UnitFigures) -> dict[str, Any]:
    return UnitFiguresOut(**result.as_dict()).model_dump(mode="json")


@router.get("/v1/stations/{code}/capacity/{unit}", response_model=UnitFiguresOut)
def get_unit(session: SessionDep, code: CodePath, unit: UnitParam) -> UnitFiguresOut:
    """Current figures of one unit (public)."""
    return UnitFiguresOut(**capacity.figures(session, code, unit).as_dict())


def _unit_write(name: str, summary: str) -> Callable[..., Any]:
    """A POST route applying ``capacity.<name>`` to one unit."""

    def route(
        request: Request,
        session: SessionDep,
        key: KeyDep,
        clock: ClockDep,
        code: CodePath,
        unit: UnitParam,
        idempotency_key: IdempotencyHeader = None,
    ) -> JSONResponse:
        change = getattr(capacity, name)

        def operation() -> tuple[int, dict[str, Any]]:
            result = change(
                session, code, unit, actor=key.actor, now=clock(), idempotency_key=idempotency_key
            )
            return 200, _figures(result)

        return run_write(request, session, key, code, idempotency_key, None, operation)

    route.__doc__ = summary
    route.__name__ = name
    return route


router.post("/v1/stations/{code}/capacity/{unit}/check-in", response_model=UnitFiguresOut)(
    _unit_write("check_in", "One more in; 409 with the figures when every place is taken.")
)
router.post("/v1/stations/{code}/capacity/{unit}/check-out", response_model=UnitFiguresOut)(
    _unit_write("check_out", "One fewer; 409 when the count is already 0.")
)


@router.put("/v1/stations/{code}/capacity/{unit}/count", response_model=UnitFiguresOut)
def put_count(
    request: Request,
    session: SessionDep,
    key: KeyDep,
    clock: ClockDep,
    code: CodePath,
    unit: UnitParam,
    body: CountIn,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """A head count: how many places are in use now."""

    def operation() -> tuple[int, dict[str, Any]]:
        result = capacity.set_count(
            session,
            code,
            unit,
            body.count,
            actor=key.actor,
            now=clock(),
            idempotency_key=idempotency_key,
        )
        return 200, _figures(result)

    return run_write(request, session, key, code, idempotency_key, body.model_dump(), operation)


@router.put("/v1/stations/{code}/capacity/{unit}/maximum", response_model=UnitFiguresOut)
def put_maximum(
    request: Request,
    session: SessionDep,
    key: KeyDep,
    clock: ClockDep,
    code: CodePath,
    unit: UnitParam,
    body: MaximumIn,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """How many places a unit has (adds the unit when the station lacked it)."""

    def operation() -> tuple[int, dict[str, Any]]:
        result = capacity.set_maximum(
            session,
            code,
            unit,
            body.maximum,
            actor=key.actor,
            now=clock(),
            idempotency_key=idempotency_key,
        )
        return 200, _figures(result)

    return run_write(request, session, key, code, idempotency_key, body.model_dump(), operation)


def _hold_body(hold: capacity.HoldInfo, result: capacity.UnitFigures) -> dict[str, Any]:
    return HoldOut(
        id=hold.id,
        station=hold.station,
        unit=hold.unit,
        created_at=hold.created_at,
        expires_at=hold.expires_at,
        status=hold.status,
        figures=UnitFiguresOut(**result.as_dict()),
    ).model_dump(mode="json")


@router.post("/v1/stations/{code}/holds", response_model=HoldOut, status_code=201)
def post_hold(
    request: Request,
    session: SessionDep,
    key: KeyDep,
    clock: ClockDep,
    code: CodePath,
    body: HoldIn,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """Keep a place (a bed by default) for someone on the way; it expires unless confirmed."""
    minutes = body.minutes or request.app.state.settings.hold_minutes

    def operation() -> tuple[int, dict[str, Any]]:
        hold, result = capacity.place_hold(
            session,
            code,
            body.unit,
            actor=key.actor,
            now=clock(),
            minutes=minutes,
            key_id=key.id,
            note=body.note,
            idempotency_key=idempotency_key,
        )
        return 201, _hold_body(hold, result)

    return run_write(request, session, key, code, idempotency_key, body.model_dump(), operation)


HoldPath = Annotated[int, Path(ge=1, le=2**62, description="Hold id")]


def _hold_write(name: str, summary: str) -> Callable[..., Any]:
    def route(
        request: Request,
        session: SessionDep,
        key: KeyDep,
        clock: ClockDep,
        hold_id: HoldPath,
        idempotency_key: IdempotencyHeader = None,
    ) -> JSONResponse:
        hold = capacity.get_hold(session, hold_id)

        def operation() -> tuple[int, dict[str, Any]]:
            result = getattr(capacity, name)(
                session, hold_id, actor=key.actor, now=clock(), idempotency_key=idempotency_key
            )
            return 200, _hold_body(capacity.get_hold(session, hold_id), result)

        return run_write(request, session, key, hold.station, idempotency_key, None, operation)

    route.__doc__ = summary
    route.__name__ = name
    return route


router.post("/v1/holds/{hold_id}/confirm", response_model=HoldOut)(
    _hold_write("confirm_hold", "The person arrived: the held place becomes a check-in.")
)
router.delete("/v1/holds/{hold_id}", response_model=HoldOut)(
    _hold_write("release_hold", "The person will not come: the held place is free again.")
)


@router.get("/v1/stations/{code}/history", response_model=HistoryOut)
def get_history(
    session: SessionDep,
    key: KeyDep,
    clock: ClockDep,
    code: CodePath,
    since: Annotated[
        dt.datetime | None, Query(description="Start (with offset); default 7 days ago")
    ] = None,
    until: Annotated[
        dt.datetime | None, Query(description="End (with offset); default now")
    ] = None,
    unit: UnitParam | None = None,
) -> HistoryOut:
    """The station's event log and its use per hour of the week (analysts, admins, its keeper)."""
    if key.role == "keeper":
        keys.require_write(key, capacity.station_id(session, code), code)
    else:
        keys.require_read_private(key)
    end = until or clock()
    start = since or end - dt.timedelta(days=7)
    events = usage.history(session, code, since=start, until=end, unit=unit)
    units = [unit] if unit else capacity.units_of(session, code)
    return HistoryOut(
        station=code,
        since=start,
        until=end,
        events=events,  # type: ignore[arg-type]
        profile={
            u: [
                HourProfileOut(**vars(p))
                for p in usage.profile(session, code, u, since=start, until=end)
            ]
            for u in units
        },
    )
