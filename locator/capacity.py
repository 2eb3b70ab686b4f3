"""Live capacity: check-ins, check-outs, head counts, maxima and bed holds.

Every change is one conditional ``UPDATE`` (the row lock orders concurrent writers, and the
condition keeps ``0 <= occupied`` and ``occupied + held <= maximum`` whatever the interleaving),
followed in the same transaction by an event appended to ``occupancy_events``. Holds that have
run out are expired lazily, at the clock the caller passes, before any change to their station,
and by :func:`expire_holds` for everything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator import vocab
from locator.errors import ConfigError, ConflictError, NotFoundError

DEFAULT_HOLD_MINUTES = 90.0

_FIGURES = "c.station_id, c.unit, c.maximum, c.occupied, c.held, c.reported_at"


@dataclass(frozen=True)
class UnitFigures:
    """The state of one unit of one station after a change."""

    station: str
    unit: str
    maximum: int
    occupied: int
    held: int
    reported_at: dt.datetime | None

    @property
    def free(self) -> int:
        return self.maximum - self.occupied - self.held

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "free": self.free}


@dataclass(frozen=True)
class HoldInfo:
    id: int
    station: str
    unit: str
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str


def _check_unit(unit: str) -> None:
    if unit not in vocab.UNITS:
        raise ConfigError(f"unit {unit!r} must be one of {', '.join(vocab.UNITS)}")


def station_id(session: Session, code: str) -> int:
    """The internal id of station ``code``; :class:`NotFoundError` when there is none."""
    found = session.execute(text("SELECT id FROM stations WHERE code = :code"), {"code": code})
    value = found.scalar_one_or_none()
    if value is None:
        raise NotFoundError(f"station {code!r} does not exist")
    return int(value)


def units_of(session: Session, code: str) -> list[str]:
    """The units station ``code`` has."""
    sid = station_id(session, code)
    rows = session.execute(
        text("SELECT unit FROM station_capacity WHERE station_id = :sid ORDER BY unit"),
        {"sid": sid},
    )
    return [str(r.unit) for r in rows]


def figures(session: Session, code: str, unit: str, *, for_update: bool = False) -> UnitFigures:
    """Current figures of one unit; :class:`NotFoundError` when the station lacks the unit.

    ``for_update`` locks the row until the transaction ends, for a change that depends on it.
    """
    _check_unit(unit)
    sid = station_id(session, code)
    lock = " FOR UPDATE" if for_update else ""
    row = session.execute(
        text(
            f"SELECT {_FIGURES} FROM station_capacity c "
            f"WHERE c.station_id = :sid AND c.unit = :unit{lock}"
        ),
        {"sid": sid, "unit": unit},
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"station {code!r} has no {unit} capacity")
    return _figures(code, row)


def _figures(code: str, row: Any) -> UnitFigures:
    return UnitFigures(code, row.unit, row.maximum, row.occupied, row.held, row.reported_at)


def _log(
    session: Session,
    sid: int,
    result: UnitFigures,
    *,
    actor: str,
    action: str,
    delta: int | None,
    now: dt.datetime,
    detail: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> None:
    import json

    session.execute(
        text(
            "INSERT INTO occupancy_events (station_id, unit, occurred_at, actor, action, delta, "
            "occupied_after, maximum_after, idempotency_key, detail) VALUES (:sid, :unit, :now, "
            ":actor, :action, :delta, :occupied, :maximum, :idem, CAST(:detail AS jsonb))"
        ),
        {
            "sid": sid,
            "unit": result.unit,
            "now": now,
            "actor": actor,
            "action": action,
            "delta": delta,
            "occupied": result.occupied,
            "maximum": result.maximum,
            "idem": idempotency_key,
            "detail": json.dumps({**(detail or {}), "held": result.held}),
        },
    )


def _change(
    session: Session,
    code: str,
    unit: str,
    *,
    assignment: str,
    condition: str,
    params: dict[str, Any],
    refusal: str,
    now: dt.datetime,
) -> tuple[int, UnitFigures]:
    """Apply one conditional update; raise with the current figures when it is refused."""
    _check_unit(unit)
    sid = station_id(session, code)
    expire_holds(session, now=now, station=sid)
    row = session.execute(
        text(
            f"UPDATE station_capacity c SET {assignment}, reported_at = :now "
            f"WHERE c.station_id = :sid AND c.unit = :unit AND ({condition}) "
            f"RETURNING {_FIGURES}"
        ),
        {**params, "sid": sid, "unit": unit, "now": now},
    ).one_or_none()
    if row is None:
        current = figures(session, code, unit)
        raise ConflictError(refusal.format(code=code, unit=unit, f=current), current.as_dict())
    return sid, _figures(code, row)


def check_in(
    session: Session,
    code: str,
    unit: str,
    *,
    actor: str,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> UnitFigures:
    """One more person (or e-bike) in; refused when every place is taken or held."""
    sid, result = _change(
        session,
        code,
        unit,
        assignment="occupied = c.occupied + 1",
        condition="c.occupied + c.held < c.maximum",
        params={},
        refusal="station {code!r} is full: {f.occupied} of {f.maximum} {unit} places taken, "
        "{f.held} held",
        now=now,
    )
    _log(
        session,
        sid,
        result,
        actor=actor,
        action="check_in",
        delta=1,
        now=now,
        idempotency_key=idempotency_key,
    )
    return result


def check_out(
    session: Session,
    code: str,
    unit: str,
    *,
    actor: str,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> UnitFigures:
    """One fewer; refused when the count is already 0."""
    sid, result = _change(
        session,
        code,
        unit,
        assignment="occupied = c.occupied - 1",
        condition="c.occupied > 0",
        params={},
        refusal="station {code!r} has no {unit} occupied to check out (count is 0)",
        now=now,
    )
    _log(
        session,
        sid,
        result,
        actor=actor,
        action="check_out",
        delta=-1,
        now=now,
        idempotency_key=idempotency_key,
    )
    return result


def set_count(
    session: Session,
    code: str,
    unit: str,
    count: int,
    *,
    actor: str,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> UnitFigures:
    """A head count: the number of places in use now."""
    if count < 0:
        raise ConfigError(f"count {count!r} must be 0 or more")
    before = figures(session, code, unit, for_update=True)
    sid, result = _change(
        session,
        code,
        unit,
        assignment="occupied = :count",
        condition=":count + c.held <= c.maximum",
        params={"count": count},
        refusal=f"count {count} does not fit station {{code!r}}: maximum {{f.maximum}} "
        f"{{unit}} places, {{f.held}} held",
        now=now,
    )
    _log(
        session,
        sid,
        result,
        actor=actor,
        action="set_count",
        delta=result.occupied - before.occupied,
        now=now,
        idempotency_key=idempotency_key,
    )
    return result


def set_maximum(
    session: Session,
    code: str,
    unit: str,
    maximum: int,
    *,
    actor: str,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> UnitFigures:
    """Change how many places a unit has (adding the unit when the station lacked it)."""
    _check_unit(unit)
    if maximum < 0:
        raise ConfigError(f"maximum {maximum!r} must be 0 or more")
    sid = station_id(session, code)
    expire_holds(session, now=now, station=sid)
    session.execute(
        text(
            "INSERT INTO station_capacity (station_id, unit, maximum, occupied, held) "
            "VALUES (:sid, :unit, :maximum, 0, 0) ON CONFLICT (station_id, unit) DO NOTHING"
        ),
        {"sid": sid, "unit": unit, "maximum": maximum},
    )
    sid, result = _change(
        session,
        code,
        unit,
        assignment="maximum = :maximum",
        condition="c.occupied + c.held <= :maximum",
        params={"maximum": maximum},
        refusal=f"maximum {maximum} is below what station {{code!r}} has in use: "
        f"{{f.occupied}} {{unit}} occupied, {{f.held}} held",
        now=now,
    )
    _log(
        session,
        sid,
        result,
        actor=actor,
        action="set_maximum",
        delta=None,
        now=now,
        idempotency_key=idempotency_key,
    )
    return result


def place_hold(
    session: Session,
    code: str,
    unit: str = "bed",
    *,
    actor: str,
    now: dt.datetime,
    minutes: float = DEFAULT_HOLD_MINUTES,
    key_id: int | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[HoldInfo, UnitFigures]:
    """Keep one place for someone on the way; it expires after ``minutes`` unless confirmed."""
    if not (0 < minutes <= 24 * 60):
        raise ConfigError(f"minutes {minutes!r} must be more than 0 and at most 1440")
    sid, result = _change(
        session,
        code,
        unit,
        assignment="held = c.held + 1",
        condition="c.occupied + c.held < c.maximum",
        params={},
        refusal="station {code!r} has no free {unit} to hold: {f.occupied} of {f.maximum} "
        "taken, {f.held} held",
        now=now,
    )
    expires = now + dt.timedelta(minutes=minutes)
    hold_id = session.execute(
        text(
            "INSERT INTO holds (station_id, unit, key_id, note, created_at, expires_at) "
            "VALUES (:sid, :unit, :key_id, :note, :now, :expires) RETURNING id"
        ),
        {"sid": sid, "unit": unit, "key_id": key_id, "note": note, "now": now, "expires": expires},
    ).scalar_one()
    _log(
        session,
        sid,
        result,
        actor=actor,
        action="hold",
        delta=None,
        now=now,
        detail={"hold": hold_id, "expires_at": expires.isoformat()},
        idempotency_key=idempotency_key,
    )
    return HoldInfo(int(hold_id), code, unit, now, expires, "active"), result


def get_hold(session: Session, hold_id: int) -> HoldInfo:
    row = session.execute(
        text(
            "SELECT h.id, s.code, h.unit, h.created_at, h.expires_at, h.status "
            "FROM holds h JOIN stations s ON s.id = h.station_id WHERE h.id = :id"
        ),
        {"id": hold_id},
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"hold {hold_id!r} does not exist")
    return HoldInfo(int(row.id), row.code, row.unit, row.created_at, row.expires_at, row.status)


def _close_hold(
    session: Session,
    hold_id: int,
    *,
    status: str,
    assignment: str,
    action: str,
    actor: str,
    now: dt.datetime,
    idempotency_key: str | None,
) -> UnitFigures:
    hold = get_hold(session, hold_id)
    sid = station_id(session, hold.station)
    expire_holds(session, now=now, station=sid)
    closed = session.execute(
        text(
            "UPDATE holds SET status = :status, closed_at = :now "
            "WHERE id = :id AND status = 'active' RETURNING id"
        ),
        {"status": status, "now": now, "id": hold_id},
    ).one_or_none()
    if closed is None:
        current = get_hold(session, hold_id)
        raise ConflictError(
            f"hold {hold_id} is {current.status}, not active",
            figures(session, hold.station, hold.unit).as_dict(),
        )
    row = session.execute(
        text(
            f"UPDATE station_capacity c SET {assignment}, reported_at = :now "
            f"WHERE c.station_id = :sid AND c.unit = :unit RETURNING {_FIGURES}"
        ),
        {"sid": sid, "unit": hold.unit, "now": now},
    ).one()
    result = _figures(hold.station, row)
    _log(
        session,
        sid,
        result,
        actor=actor,
        action=action,
        delta=1 if action == "check_in" else None,
        now=now,
        detail={"hold": hold_id},
        idempotency_key=idempotency_key,
    )
    return result


def confirm_hold(
    session: Session,
    hold_id: int,
    *,
    actor: str,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> UnitFigures:
    """The person arrived: the held place becomes a check-in."""
    return _close_hold(
        session,
        hold_id,
        status="confirmed",
        assignment="held = c.held - 1, occupied = c.occupied + 1",
        action="check_in",
        actor=actor,
        now=now,
        idempotency_key=idempotency_key,
    )


def release_hold(
    session: Session,
    hold_id: int,
    *,
    actor: str,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> UnitFigures:
    """The person will not come: the held place is free again."""
    return _close_hold(
        session,
        hold_id,
        status="released",
        assignment="held = c.held - 1",
        action="hold_released",
        actor=actor,
        now=now,
        idempotency_key=idempotency_key,
    )


def expire_holds(session: Session, *, now: dt.datetime, station: int | None = None) -> int:
    """Expire every active hold whose time has run out (of one station, or all)."""
    rows = session.execute(
        text(
            "UPDATE holds SET status = 'expired', closed_at = expires_at "
            "WHERE status = 'active' AND expires_at <= :now "
            "AND (CAST(:station AS int) IS NULL OR station_id = :station) "
            "RETURNING id, station_id, unit, expires_at"
        ),
        {"now": now, "station": station},
    ).all()
    for hold in rows:
        row = session.execute(
            text(
                "UPDATE station_capacity c SET held = c.held - 1 "
                f"WHERE c.station_id = :sid AND c.unit = :unit RETURNING {_FIGURES}, "
                "(SELECT code FROM stations WHERE id = :sid) AS code"
            ),
            {"sid": hold.station_id, "unit": hold.unit},
        ).one()
        _log(
            session,
            hold.station_id,
            _figures(row.code, row),
            actor="system",
            action="hold_expired",
            delta=None,
            now=hold.expires_at,
            detail={"hold": hold.id},
        )
    return len(rows)
