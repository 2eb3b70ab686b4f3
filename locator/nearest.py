"""The courier's question: the nearest stations that are open, offer what I need, and have room.

The search walks the stations' geography index in distance order (``geog <-> point``, distance
on the sphere) in growing batches, with every static filter (services, groups, kinds, stars,
status, maximum distance, having the unit asked for) inside SQL. Exact geodesic distances on the
WGS-84 ellipsoid come from PostGIS; the opening hours are evaluated per candidate in Python. A
batch is enough when the k-th best ellipsoidal distance is below what any station not yet seen
could have: sphere and ellipsoid distances differ by well under ``SPHERE_SLACK``.

With a capacity need (a unit and a number of free places), stations whose count is fresh and
high enough come first, then stations whose count is unknown (never reported, or older than the
staleness limit), each group by distance; stations known to lack room are left out.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator import vocab
from locator.crs import WGS84, parse_crs, to_wgs84
from locator.errors import ConfigError
from locator.hours import HoursState, evaluate
from locator.sphere import SPHERE_SLACK

RARE_UNIT_SHARE = 0.05  # below this share of stations having a unit, start from the unit
MAX_K = 50
EARLIEST_AT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # opening hours are judged in this range
LATEST_AT = dt.datetime(2100, 12, 31, tzinfo=dt.UTC)
OpenFilter = Literal["any", "now", "on_arrival"]
Mode = Literal["walk", "ebike"]


@dataclass(frozen=True)
class NearestQuery:
    """What a courier asks for.

    Parameters
    ----------
    lon, lat : float
        Where the courier is (WGS-84).
    k : int
        How many stations to return (1 to 50).
    services : tuple of str
        Services the station must all offer (codes of ``vocab.SERVICES``).
    groups : tuple of str
        The station must serve at least one of these groups.
    kinds : tuple of str
        The station must be one of these kinds.
    min_stars : int, optional
        Lowest star rating accepted.
    max_distance_m : float, optional
        Farthest distance accepted, in metres.
    open : {"any", "now", "on_arrival"}
        Keep only stations open at ``at``, or open when the courier arrives at the mode's speed.
    at : datetime, optional
        The time of the question (aware); now when not given.
    mode : {"walk", "ebike"}
        Travel mode for arrival times.
    unit : str, optional
        A capacity unit (seat, bed, charger) the courier needs ``free`` places of.
    free : int
        Free places needed of ``unit``.
    """

    lon: float
    lat: float
    k: int = 5
    services: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    min_stars: int | None = None
    max_distance_m: float | None = None
    open: OpenFilter = "any"
    at: dt.datetime | None = None
    mode: Mode = "ebike"
    unit: str | None = None
    free: int = 1

    @classmethod
    def in_crs(cls, lon: float, lat: float, crs: str, **filters: Any) -> NearestQuery:
        """A query whose point is given in ``crs`` (``wgs84``, ``gcj02``, ``bd09``, EPSG)."""
        system = parse_crs(crs)
        if system.epsg in (None, WGS84) and not (-180 <= lon <= 180 and -90 <= lat <= 90):
            cls(lon=lon, lat=lat)  # raises the range error naming lon or lat
        wgs_lon, wgs_lat = (float(v) for v in to_wgs84(lon, lat, system))
        return cls(lon=wgs_lon, lat=wgs_lat, **filters)

    def __post_init__(self) -> None:
        if not (-180 <= self.lon <= 180):
            raise ConfigError(f"lon {self.lon!r} must be between -180 and 180")
        if not (-90 <= self.lat <= 90):
            raise ConfigError(f"lat {self.lat!r} must be between -90 and 90")
        if not (1 <= self.k <= MAX_K):
            raise ConfigError(f"k {self.k!r} must be between 1 and {MAX_K}")
        for name, values, labels in (
            ("services", self.services, vocab.SERVICES),
            ("groups", self.groups, vocab.GROUPS),
            ("kinds", self.kinds, vocab.KINDS),
        ):
            unknown = vocab.unknown_terms(values, labels)
            if unknown:
                raise ConfigError(f"{name} {unknown!r} unknown; allowed: {', '.join(labels)}")
        if self.min_stars is not None and not (1 <= self.min_stars <= 5):
            raise ConfigError(f"min_stars {self.min_stars!r} must be between 1 and 5")
        if self.max_distance_m is not None and not (0 < self.max_distance_m <= 20_037_509):
            raise ConfigError(f"max_distance_m {self.max_distance_m!r} must be positive")
        if self.open not in ("any", "now", "on_arrival"):
            raise ConfigError(f"open {self.open!r} must be one of any, now, on_arrival")
        if self.mode not in ("walk", "ebike"):
            raise ConfigError(f"mode {self.mode!r} must be walk or ebike")
        if self.unit is not None and self.unit not in vocab.UNITS:
            raise ConfigError(f"unit {self.unit!r} must be one of {', '.join(vocab.UNITS)}")
        if not (1 <= self.free <= 1000):
            raise ConfigError(f"free {self.free!r} must be between 1 and 1000")
        if self.at is not None and self.at.tzinfo is None:
            raise ConfigError(f"at {self.at.isoformat()!r} must carry a time zone")
        if self.at is not None and not (EARLIEST_AT <= self.at <= LATEST_AT):
            raise ConfigError(
                f"at {self.at.isoformat()!r} must lie between {EARLIEST_AT:%Y-%m-%d} and "
                f"{LATEST_AT:%Y-%m-%d}"
            )


@dataclass(frozen=True)
class UnitState:
    """Capacity of one unit as a courier sees it."""

    maximum: int
    occupied: int
    reported_at: dt.datetime | None
    stale: bool

    @property
    def free(self) -> int | None:
        """Free places, or None when the count is unknown (never reported or stale)."""
        return None if self.stale else self.maximum - self.occupied


@dataclass(frozen=True)
class NearestStation:
    """One answer."""

    record: dict[str, Any]
    distance_m: float
    bearing_deg: float
    eta_min: float
    arrival: dt.datetime
    hours: HoursState
    capacity: dict[str, UnitState] = field(default_factory=dict)
    room_known: bool = True

    @property
    def code(self) -> str:
        return str(self.record["code"])


_SELECT = """
SELECT s.id, s.code, s.name_zh, s.name_en, s.kind, s.operator, s.address, s.district_code,
       s.services, s.groups, s.opening_hours, s.stars, s.status, s.updated_at,
       ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
       ST_Distance(s.geog, q.g) AS distance_m,
       s.geog <-> q.g AS sphere_m,
       coalesce(degrees(ST_Azimuth(q.g, s.geog)), 0) AS bearing_deg,
       coalesce((SELECT json_object_agg(c.unit, json_build_array(
                    c.maximum, c.occupied, c.reported_at))
                 FROM station_capacity c WHERE c.station_id = s.id), '{}'::json) AS capacity
FROM stations s,
     (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g) q
"""


def _where(
    query: NearestQuery, room: Literal["any", "known", "unknown"], *, rare_unit: bool = False
) -> str:
    clauses = ["s.status = 'active'"]
    if query.services:
        clauses.append("s.services @> CAST(:services AS text[])")
    if query.groups:
        clauses.append("s.groups && CAST(:groups AS text[])")
    if query.kinds:
        clauses.append("s.kind = ANY(CAST(:kinds AS text[]))")
    if query.min_stars is not None:
        clauses.append("s.stars >= :min_stars")
    if query.max_distance_m is not None:
        clauses.append("ST_DWithin(s.geog, q.g, :max_distance_m)")
    if query.unit is not None:
        fresh = "c.reported_at >= :fresh_after"
        value, condition = {
            "any": ("c.maximum", "TRUE"),
            "known": ("c.maximum - c.occupied", fresh),
            "unknown": ("c.maximum", f"(c.reported_at IS NULL OR NOT {fresh})"),
        }[room]
        if rare_unit:
            # Few stations have this unit: start from them (a semi-join, then a small sort).
            clauses.append(
                "s.id IN (SELECT c.station_id FROM station_capacity c WHERE c.unit = :unit "
                f"AND {value} >= :free AND {condition})"
            )
        else:
            # Most stations have it: walk the distance index and test each station; a scalar
            # subquery keeps the planner from turning this into a join that loses the order.
            clauses.append(
                f"(SELECT {value} FROM station_capacity c WHERE c.station_id = s.id "
                f"AND c.unit = :unit AND {condition}) >= :free"
            )
    return " WHERE " + " AND ".join(clauses)


def find_nearest(
    session: Session,
    query: NearestQuery,
    *,
    speed_kmh: dict[str, float],
    stale_after_min: dict[str, float],
    now: dt.datetime | None = None,
) -> list[NearestStation]:
    """The ``query.k`` best stations for ``query``, best first.

    Parameters
    ----------
    session : Session
        Open session on the store.
    query : NearestQuery
        The question.
    speed_kmh : dict
        Travel speed per mode (``Settings.speed_kmh()``).
    stale_after_min : dict
        Staleness limit per unit in minutes (``Settings.stale_after()``).
    now : datetime, optional
        The current time (aware), for staleness; the system clock when not given.
    """
    now = now or dt.datetime.now(dt.UTC)
    at = query.at or now
    rare = query.unit is not None and _is_rare_unit(session, query.unit)
    context = _Context(query, speed_kmh[query.mode], stale_after_min, now, at, rare)
    if query.unit is None:
        return _search(session, context, "any", query.k)
    known = _search(session, context, "known", query.k)
    if len(known) == query.k:
        return known
    unknown = _search(session, context, "unknown", query.k - len(known))
    return known + [replace(s, room_known=False) for s in unknown]


@dataclass(frozen=True)
class _Context:
    query: NearestQuery
    speed_kmh: float
    stale_after_min: dict[str, float]
    now: dt.datetime
    at: dt.datetime
    rare_unit: bool


_RARE_CACHE: dict[tuple[str, str], tuple[float, bool]] = {}
_RARE_CACHE_TTL_S = 60.0


def _is_rare_unit(session: Session, unit: str) -> bool:
    """Whether fewer than ``RARE_UNIT_SHARE`` of the stations have ``unit``.

    It decides how the search starts, so only the speed depends on it, never the answer; it is
    counted at most once a minute per database and unit, and the count stops at the threshold.
    """
    key = (str(session.connection().engine.url), unit)
    cached = _RARE_CACHE.get(key)
    if cached is not None and time.monotonic() - cached[0] < _RARE_CACHE_TTL_S:
        return cached[1]
    stations = session.execute(
        text("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'stations'::regclass")
    ).scalar_one()
    threshold = int(float(stations) * RARE_UNIT_SHARE) + 1
    with_unit = session.execute(
        text(
            "SELECT count(*) FROM (SELECT 1 FROM station_capacity "
            "WHERE unit = :unit AND maximum > 0 LIMIT :threshold) s"
        ),
        {"unit": unit, "threshold": threshold},
    ).scalar_one()
    rare = int(with_unit) < threshold
    _RARE_CACHE[key] = (time.monotonic(), rare)
    return rare


def _search(
    session: Session, context: _Context, room: Literal["any", "known", "unknown"], k: int
) -> list[NearestStation]:
    query = context.query
    where = _where(query, room, rare_unit=context.rare_unit)
    sql = text(f"{_SELECT}{where} ORDER BY s.geog <-> q.g LIMIT :limit OFFSET :offset")
    params: dict[str, Any] = {
        "lon": query.lon,
        "lat": query.lat,
        "services": list(query.services),
        "groups": list(query.groups),
        "kinds": list(query.kinds),
        "min_stars": query.min_stars,
        "max_distance_m": query.max_distance_m,
        "unit": query.unit,
        "free": query.free,
        "fresh_after": context.now
        - dt.timedelta(minutes=context.stale_after_min.get(query.unit or "seat", 30.0)),
    }
    found: list[NearestStation] = []
    offset, limit = 0, 2 * k + 8
    while True:
        rows = session.execute(sql, {**params, "limit": limit, "offset": offset}).all()
        for row in rows:
            station = _answer(row._mapping, context)
            if station is not None:
                found.append(station)
        found.sort(key=lambda s: (s.distance_m, s.code))
        exhausted = len(rows) < limit
        if exhausted:
            return found[:k]
        horizon = rows[-1].sphere_m * (1 - SPHERE_SLACK)
        if len(found) >= k and found[k - 1].distance_m <= horizon:
            return found[:k]
        offset += limit
        limit *= 4


def _answer(row: Any, context: _Context) -> NearestStation | None:
    distance_m = float(row["distance_m"])
    eta_min = distance_m / 1000.0 / context.speed_kmh * 60.0
    arrival = context.at + dt.timedelta(minutes=eta_min)
    query = context.query
    when = arrival if query.open == "on_arrival" else context.at
    hours = evaluate(row["opening_hours"], when)
    if query.open != "any" and hours.state != "open":
        return None
    capacity = _capacity(row["capacity"], context)
    return NearestStation(
        record={k: row[k] for k in row if k not in {"capacity", "sphere_m", "id"}},
        distance_m=distance_m,
        bearing_deg=float(row["bearing_deg"]),
        eta_min=eta_min,
        arrival=arrival,
        hours=hours,
        capacity=capacity,
    )


def _capacity(raw: Any, context: _Context) -> dict[str, UnitState]:
    data = json.loads(raw) if isinstance(raw, str) else raw
    units = {}
    for unit, (maximum, occupied, reported_at) in data.items():
        reported = dt.datetime.fromisoformat(reported_at) if reported_at else None
        limit = dt.timedelta(minutes=context.stale_after_min.get(unit, 30.0))
        stale = reported is None or context.now - reported > limit
        units[unit] = UnitState(int(maximum), int(occupied), reported, stale)
    return units
