"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from api.errors import problem_responses
from api.schemas import Health, Ready
from locator.db import current_revision
from locator.errors import DatabaseError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses=problem_responses(503))
def readyz(request: Request) -> Ready:
    """The database answers and has PostGIS."""
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT postgis_version()"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        raise DatabaseError(f"the database does not answer: {type(exc).__name__}") from None
    return Ready(status="ok", database="ok", schema_revision=current_revision(engine))
