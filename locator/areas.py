"""Reading areas: districts, sub-districts and grid cells with their outlines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.errors import NotFoundError

_SELECT = """
SELECT a.code, a.level, a.name_zh, a.name_en, a.parent_code, a.population, a.source,
       ST_AsGeoJSON(ST_Multi(CASE WHEN :tolerance_deg > 0
                                  THEN ST_SimplifyPreserveTopology(a.geom, :tolerance_deg)
                                  ELSE a.geom END), 6) AS geometry
FROM areas a
"""
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class AreaPage:
    areas: list[dict[str, Any]]
    matched: int
    limit: int
    offset: int


def _row(row: Any) -> dict[str, Any]:
    record = dict(row._mapping)
    record["geometry"] = json.loads(record["geometry"])
    return record


def list_areas(
    session: Session,
    *,
    level: str = "district",
    parent: str | None = None,
    limit: int = 100,
    offset: int = 0,
    simplify_m: float = 0.0,
) -> AreaPage:
    """Areas of one level (optionally within a parent), ordered by code.

    ``simplify_m`` simplifies outlines to about that many metres (0 keeps them whole), for
    light-weight maps.
    """
    where = " WHERE a.level = :level" + (" AND a.parent_code = :parent" if parent else "")
    params: dict[str, Any] = {
        "level": level,
        "parent": parent,
        "tolerance_deg": simplify_m / METRES_PER_DEGREE,
    }
    matched = session.execute(text(f"SELECT count(*) FROM areas a{where}"), params).scalar_one()
    rows = session.execute(
        text(f"{_SELECT}{where} ORDER BY a.code LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    )
    return AreaPage([_row(r) for r in rows], int(matched), limit, offset)


def get_area(session: Session, code: str) -> dict[str, Any]:
    """One area by code; :class:`NotFoundError` when there is none."""
    row = session.execute(
        text(f"{_SELECT} WHERE a.code = :code"), {"code": code, "tolerance_deg": 0.0}
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"area {code!r} does not exist")
    return _row(row)
