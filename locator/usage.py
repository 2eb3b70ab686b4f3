"""How stations are used, from the occupancy event log: history, hour-of-week profiles, idle flags.

Occupancy between two events is the count after the earlier one (a step function); profiles
weight it by time, in Beijing local time, over the window asked for.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.capacity import station_id
from locator.errors import ConfigError
from locator.hours import evaluate

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS_PER_WEEK = 168
KEEPER_ACTIONS = ("check_in", "check_out", "set_count", "hold", "hold_released")


@dataclass(frozen=True)
class HourProfile:
    """Use of one unit in one hour of the week (0 = Monday 00:00-01:00, Beijing time)."""

    hour_of_week: int
    observed_h: float
    mean_occupied: float | None
    peak: int | None
    share_full: float | None


def _window(since: dt.datetime, until: dt.datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise ConfigError("since and until must carry a time zone")
    if not since < until:
        raise ConfigError(
            f"since {since.isoformat()!r} must come before until {until.isoformat()!r}"
        )
    if until - since > dt.timedelta(days=366):
        raise ConfigError("the window from since to until must be at most 366 days")


def history(
    session: Session,
    code: str,
    *,
    since: dt.datetime,
    until: dt.datetime,
    unit: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Events of one station in [since, until), newest last."""
    _window(since, until)
    sid = station_id(session, code)
    rows = session.execute(
        text(
            "SELECT id, occurred_at, unit, action, delta, occupied_after, maximum_after, actor "
            "FROM occupancy_events WHERE station_id = :sid AND occurred_at >= :since "
            "AND occurred_at < :until AND (CAST(:unit AS text) IS NULL OR unit = :unit) "
            "ORDER BY occurred_at, id LIMIT :limit"
        ),
        {"sid": sid, "since": since, "until": until, "unit": unit, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


def profile(
    session: Session, code: str, unit: str, *, since: dt.datetime, until: dt.datetime
) -> list[HourProfile]:
    """Time-weighted occupancy of one unit per hour of the week over [since, until)."""
    _window(since, until)
    sid = station_id(session, code)
    start = session.execute(
        text(
            "SELECT occupied_after, maximum_after FROM occupancy_events WHERE station_id = :sid "
            "AND unit = :unit AND occurred_at < :since ORDER BY occurred_at DESC, id DESC LIMIT 1"
        ),
        {"sid": sid, "unit": unit, "since": since},
    ).one_or_none()
    events = session.execute(
        text(
            "SELECT occurred_at, occupied_after, maximum_after FROM occupancy_events "
            "WHERE station_id = :sid AND unit = :unit AND occurred_at >= :since "
            "AND occurred_at < :until ORDER BY occurred_at, id"
        ),
        {"sid": sid, "unit": unit, "since": since, "until": until},
    ).all()
    state = (start.occupied_after, start.maximum_after) if start else None
    return _profile_from(events, state, since, until)


def _profile_from(
    events: Sequence[Any], state: tuple[int, int] | None, since: dt.datetime, until: dt.datetime
) -> list[HourProfile]:
    """Hour-of-week profile of a step function: ``state`` at ``since``, then each event's."""
    seconds = [0.0] * HOURS_PER_WEEK
    weighted = [0.0] * HOURS_PER_WEEK
    full = [0.0] * HOURS_PER_WEEK
    peak: list[int | None] = [None] * HOURS_PER_WEEK
    cursor = since
    for at, occupied, maximum in [*events, (until, None, None)]:
        if state is not None:
            _accumulate(cursor, at, state, seconds, weighted, full, peak)
        cursor = at
        if occupied is not None:
            state = (occupied, maximum)
    return [
        HourProfile(
            h,
            seconds[h] / 3600,
            weighted[h] / seconds[h] if seconds[h] else None,
            peak[h],
            full[h] / seconds[h] if seconds[h] else None,
        )
        for h in range(HOURS_PER_WEEK)
    ]


@dataclass(frozen=True)
class Utilization:
    """Use of one unit of one station over a window."""

    code: str
    unit: str
    maximum: int
    events: int
    observed_h: float
    mean_occupied: float | None
    mean_rate: float | None
    peak: int | None
    share_full: float | None
    profile: list[HourProfile]


def utilization(session: Session, *, since: dt.datetime, until: dt.datetime) -> list[Utilization]:
    """Every station's units over [since, until), from two queries over the event log."""
    _window(since, until)
    starts = {
        (r.code, r.unit): (r.occupied_after, r.maximum_after)
        for r in session.execute(
            text(
                "SELECT DISTINCT ON (e.station_id, e.unit) s.code, e.unit, e.occupied_after, "
                "e.maximum_after FROM occupancy_events e JOIN stations s ON s.id = e.station_id "
                "WHERE e.occurred_at < :since "
                "ORDER BY e.station_id, e.unit, e.occurred_at DESC, e.id DESC"
            ),
            {"since": since},
        )
    }
    grouped: dict[tuple[str, str], list[Any]] = {key: [] for key in starts}
    for r in session.execute(
        text(
            "SELECT s.code, e.unit, e.occurred_at, e.occupied_after, e.maximum_after "
            "FROM occupancy_events e JOIN stations s ON s.id = e.station_id "
            "WHERE e.occurred_at >= :since AND e.occurred_at < :until "
            "ORDER BY s.code, e.unit, e.occurred_at, e.id"
        ),
        {"since": since, "until": until},
    ):
        grouped.setdefault((r.code, r.unit), []).append(
            (r.occurred_at, r.occupied_after, r.maximum_after)
        )
    results = []
    for (code, unit), events in sorted(grouped.items()):
        state = starts.get((code, unit))
        slots = _profile_from(events, state, since, until)
        observed = sum(p.observed_h for p in slots)
        maximum = events[-1][2] if events else (state[1] if state else 0)
        occupied_h = sum((p.mean_occupied or 0) * p.observed_h for p in slots)
        full_h = sum((p.share_full or 0) * p.observed_h for p in slots)
        peaks = [p.peak for p in slots if p.peak is not None]
        results.append(
            Utilization(
                code,
                unit,
                maximum,
                len(events),
                observed,
                occupied_h / observed if observed else None,
                occupied_h / observed / maximum if observed and maximum else None,
                max(peaks) if peaks else None,
                full_h / observed if observed else None,
                slots,
            )
        )
    return results


def _accumulate(
    start: dt.datetime,
    end: dt.datetime,
    state: tuple[int, int],
    seconds: list[float],
    weighted: list[float],
    full: list[float],
    peak: list[int | None],
) -> None:
    occupied, maximum = state
    cursor = start.astimezone(SHANGHAI)
    end = end.astimezone(SHANGHAI)
    while cursor < end:
        hour_start = cursor.replace(minute=0, second=0, microsecond=0)
        step_end = min(end, hour_start + dt.timedelta(hours=1))
        span = (step_end - cursor).total_seconds()
        slot = cursor.weekday() * 24 + cursor.hour
        seconds[slot] += span
        weighted[slot] += occupied * span
        if maximum and occupied >= maximum:
            full[slot] += span
        peak[slot] = max(peak[slot] or 0, occupied)
        cursor = step_end


def idle_stations(session: Session, *, now: dt.datetime, days: float = 3.0) -> list[dict[str, Any]]:
    """Active stations posted open at some point of the ``days`` days before ``now`` (checked
    every hour) but with no keeper activity in that time: candidates for a 'not open as
    posted' review. Only the hours since a station was added count, so a new station is not
    flagged for the days before it existed."""
    since = now - dt.timedelta(days=days)
    rows = session.execute(
        text(
            "SELECT s.code, s.name_zh, s.opening_hours, s.created_at, "
            "(SELECT max(e.occurred_at) FROM occupancy_events e WHERE e.station_id = s.id "
            " AND e.action = ANY(:actions) AND e.occurred_at < :now) AS last_activity "
            "FROM stations s WHERE s.status = 'active' AND s.created_at < :now AND NOT EXISTS ("
            " SELECT 1 FROM occupancy_events e WHERE e.station_id = s.id "
            " AND e.action = ANY(:actions) AND e.occurred_at >= :since AND e.occurred_at < :now)"
            " ORDER BY s.code"
        ),
        {"actions": list(KEEPER_ACTIONS), "since": since, "now": now},
    )
    checks = [since + dt.timedelta(hours=h) for h in range(int(days * 24))]
    open_at: dict[str | None, list[bool]] = {}  # stations share a handful of posted hours
    flagged = []
    for row in rows:
        if row.opening_hours not in open_at:
            open_at[row.opening_hours] = [
                evaluate(row.opening_hours, at, next_change=False).state == "open" for at in checks
            ]
        first = bisect.bisect_left(checks, row.created_at)
        open_hours = sum(open_at[row.opening_hours][first:])
        if open_hours:
            flagged.append(
                {
                    "code": row.code,
                    "name_zh": row.name_zh,
                    "posted_open_hours": open_hours,
                    "last_activity": row.last_activity,
                }
            )
    return flagged
