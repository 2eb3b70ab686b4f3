"""Open feeds in the GBFS style: station information and live station status."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.hours import evaluate

GBFS_VERSION = "2.3"


def station_information(session: Session) -> list[dict[str, Any]]:
    """Active stations' static facts: name, place, kind, services, groups, hours, places."""
    rows = session.execute(
        text(
            """
            SELECT s.code, s.name_zh, s.name_en, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
                   s.address, s.kind, s.operator, s.district_code, s.services, s.groups,
                   s.opening_hours, s.stars,
                   coalesce((SELECT json_object_agg(c.unit, c.maximum)
                             FROM station_capacity c WHERE c.station_id = s.id), '{}'::json)
                       AS capacity
            FROM stations s WHERE s.status = 'active' ORDER BY s.code
            """
        )
    )
    return [
        {
            "station_id": r.code,
            "name": r.name_zh,
            "name_en": r.name_en,
            "lat": round(r.lat, 7),
            "lon": round(r.lon, 7),
            "address": r.address,
            "kind": r.kind,
            "operator": r.operator,
            "district": r.district_code,
            "services": list(r.services),
            "groups_served": list(r.groups),
            "opening_hours": r.opening_hours,
            "stars": r.stars,
            "capacity": _json(r.capacity),
        }
        for r in rows
    ]


def station_status(
    session: Session, *, now: dt.datetime, stale_after_min: dict[str, float]
) -> list[dict[str, Any]]:
    """Live figures per station and unit; a count older than its staleness limit is null."""
    rows = session.execute(
        text(
            """
            SELECT s.code, s.opening_hours,
                   coalesce((SELECT json_object_agg(c.unit, json_build_array(
                                c.maximum, c.occupied, c.held, c.reported_at))
                             FROM station_capacity c WHERE c.station_id = s.id), '{}'::json)
                       AS capacity
            FROM stations s WHERE s.status = 'active' ORDER BY s.code
            """
        )
    )
    stations = []
    for r in rows:
        units, reported = {}, []
        for unit, (maximum, occupied, held, at) in _json(r.capacity).items():
            when = dt.datetime.fromisoformat(at) if at else None
            fresh = when is not None and now - when <= dt.timedelta(
                minutes=stale_after_min.get(unit, 30.0)
            )
            units[unit] = {
                "maximum": maximum,
                "available": maximum - occupied - held if fresh else None,
                "last_reported": int(when.timestamp()) if when else None,
            }
            if when:
                reported.append(when)
        state = evaluate(r.opening_hours, now, next_change=False).state
        stations.append(
            {
                "station_id": r.code,
                "is_open": {"open": True, "closed": False}.get(state),
                "units": units,
                "last_reported": int(max(reported).timestamp()) if reported else None,
            }
        )
    return stations


def envelope(data: dict[str, Any], *, now: dt.datetime, ttl_s: int) -> dict[str, Any]:
    """The GBFS wrapper: last_updated (POSIX seconds), ttl, version, data."""
    return {
        "last_updated": int(now.timestamp()),
        "ttl": ttl_s,
        "version": GBFS_VERSION,
        "data": data,
    }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
