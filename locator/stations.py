"""Reading stations: pages of stations for maps and lists, one station by code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.errors import NotFoundError
from locator.geometry import BBox

_SELECT = """
SELECT s.code, s.name_zh, s.name_en, s.kind, s.operator, s.address, s.district_code,
       s.services, s.groups, s.opening_hours, s.stars, s.stars_reviewed_on, s.status,
       s.source, s.updated_at, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
       coalesce((SELECT json_object_agg(c.unit, json_build_object(
                    'maximum', c.maximum, 'occupied', c.occupied, 'reported_at', c.reported_at))
                 FROM station_capacity c WHERE c.station_id = s.id), '{}'::json) AS capacity
FROM stations s
"""


@dataclass(frozen=True)
class StationPage:
    """One page of stations and how many match in all."""

    stations: list[dict[str, Any]]
    matched: int
    limit: int
    offset: int


def _filters(
    bbox: BBox | None, district: str | None, kind: str | None, status: str | None
) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}  # type: ignore[var-annotated]
    if bbox is not None:
        clauses.append("s.geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, 4326)")
        params.update(xmin=bbox.min_lon, ymin=bbox.min_lat, xmax=bbox.max_lon, ymax=bbox.max_lat)
    if district is not None:
        clauses.append("s.district_code = :district")
        params["district"] = district
    if kind is not None:
        clauses.append("s.kind = :kind")
        params["kind"] = kind
    if status is not None:
        clauses.append("s.status = :status")
        params["status"] = status
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _row(row: Any) -> dict[str, Any]:
    record = dict(row._mapping)
    if isinstance(record["capacity"], str):
        record["capacity"] = json.loads(record["capacity"])
    return record


def list_stations(
    session: Session,
    *,
    bbox: BBox | None = None,
    district: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> StationPage:
    """Stations ordered by code, filtered by bounding box, district, kind and status."""
    where, params = _filters(bbox, district, kind, status)
    matched = session.execute(text(f"SELECT count(*) FROM stations s{where}"), params).scalar_one()
    rows = session.execute(
        text(f"{_SELECT}{where} ORDER BY s.code LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    )
    return StationPage([_row(r) for r in rows], int(matched), limit, offset)


def get_station(session: Session, code: str) -> dict[str, Any]:
    """One station by its code; :class:`NotFoundError` when there is none."""
    row = session.execute(text(f"{_SELECT} WHERE s.code = :code"), {"code": code}).one_or_none()
    if row is None:
        raise NotFoundError(f"station {code!r} does not exist")
    return _row(row)
