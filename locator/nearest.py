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

import contextlib
import datetime as dt
import hashlib
import math
import re
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

import orjson
import pandas as pd
import psycopg2.errors
from pyproj import Geod
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from locator import vocab
from locator.crs import WGS84, parse_crs, to_wgs84
from locator.errors import ConfigError
from locator.hours import SHANGHAI, HoursState, evaluate
from locator.sphere import SPHERE_SLACK

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
    held: int = 0

    @property
    def free(self) -> int | None:
        """Free places (neither taken nor held), or None when the count is unknown (never
        reported or stale)."""
        return None if self.stale else self.maximum - self.occupied - self.held


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


_DETAILS = [
    *("name_zh", "name_en", "kind", "operator", "address", "district_code"),
    *("services", "groups", "stars"),
]
_CODE, _LON, _LAT, _SPHERE, _HOURS, _CAPACITY, _DETAIL = range(7)
# Only what ranks and filters a station is decoded for every row of a search batch (code,
# position, sphere distance, hours); what describes it comes as JSON text, decoded only for the
# rows answered, like its capacity: a night batch of hundreds of rows costs little Python. The
# ellipsoidal distance and the bearing come from pyproj for the rows that need them, which keeps
# the statement close to a bare KNN walk of the index.
_SELECT = f"""
SELECT s.code, ST_X(s.geom), ST_Y(s.geom), s.geog <-> q.g, s.opening_hours,
       (SELECT json_object_agg(c.unit, json_build_array(
                   c.maximum, c.occupied, c.reported_at, c.held))
        FROM station_capacity c WHERE c.station_id = s.id)::text,
       json_build_array({", ".join("s." + c for c in _DETAILS)})::text
FROM stations s,
     (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS g) q
"""
_GEOD = Geod(ellps="WGS84")


def _where(
    query: NearestQuery, room: Literal["any", "known", "unknown"], *, scarce: bool = False
) -> str:
    clauses = ["s.status = 'active'"]
    if query.services:
        clauses.append("s.services @> CAST(%(services)s AS text[])")
    if query.groups:
        clauses.append("s.groups && CAST(%(groups)s AS text[])")
    if query.kinds:
        clauses.append("s.kind = ANY(CAST(%(kinds)s AS text[]))")
    if query.min_stars is not None:
        clauses.append("s.stars >= %(min_stars)s")
    if query.max_distance_m is not None:
        clauses.append("ST_DWithin(s.geog, q.g, %(max_distance_m)s)")
    if query.unit is not None:
        # The unit is written into the statement (a vocabulary word: NearestQuery checked it),
        # in the very form of the predicate of its distance index (migration 0007): the walk
        # in distance order then meets only the stations that have the unit, however few.
        clauses.append(f"s.units @> '{{{query.unit}}}'::text[]")
        fresh = "c.reported_at >= %(fresh_after)s"
        value, condition = {
            "any": ("c.maximum", "TRUE"),
            "known": ("c.maximum - c.occupied - c.held", fresh),
            "unknown": ("c.maximum", f"(c.reported_at IS NULL OR NOT {fresh})"),
        }[room]
        if scarce:
            # Few stations qualify (at night hardly any count is fresh): start from them.
            clauses.append(
                "s.id IN (SELECT c.station_id FROM station_capacity c WHERE "
                f"c.unit = '{query.unit}' AND {value} >= %(free)s AND {condition})"
            )
        else:
            # Most do: walk the distance index and test each station; a scalar subquery keeps
            # the planner from turning this into a join that loses the order.
            clauses.append(
                f"(SELECT {value} FROM station_capacity c WHERE c.station_id = s.id "
                f"AND c.unit = '{query.unit}' AND {condition}) >= %(free)s"
            )
    return " WHERE " + " AND ".join(clauses)


def find_nearest(
    session: Session | Connection,
    query: NearestQuery,
    *,
    speed_kmh: dict[str, float],
    stale_after_min: dict[str, float],
    now: dt.datetime | None = None,
) -> list[NearestStation]:
    """The ``query.k`` best stations for ``query``, best first.

    Parameters
    ----------
    session : Session or Connection
        Open session (or connection) on the store.
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
    open_share, closed = 1.0, None
    if query.open == "now":
        closed = _closed_hours(session, at)
    if query.open == "on_arrival" or (query.open == "now" and closed is None):
        open_share = _open_share(session, at)
    shares = {} if query.unit is None else _room_shares(session, query.unit, stale_after_min, now)
    context = _Context(
        query, speed_kmh[query.mode], stale_after_min, now, at, open_share, closed, shares
    )
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
    open_share: float = 1.0
    closed_hours: tuple[str, ...] | None = None  # passed over in SQL (open now only)
    room_share: dict[str, float] = field(default_factory=dict)  # see _room_shares


def _connection(session: Session | Connection) -> Connection:
    return session.connection() if isinstance(session, Session) else session


_HOURS_TTL_S = 600.0
_HOURS_IN_USE: dict[str, tuple[float, dict[str, int]]] = {}
_CLOSED: dict[tuple[str, dt.datetime], tuple[str, ...]] = {}
OPEN_SHARE_FLOOR = 0.02
OPEN_BATCH_MAX = 400
CLOSED_LIST_MAX = 5_000


def _hours_in_use(session: Session | Connection) -> tuple[str, dict[str, int]]:
    """The database's key and how many active stations post each opening-hours string,
    counted at most every ten minutes per database (stations share a handful of strings)."""
    key = str(_connection(session).engine.url)

    def count() -> dict[str, int]:
        rows = session.execute(
            text("SELECT opening_hours, count(*) FROM stations WHERE status = 'active' GROUP BY 1")
        ).all()
        return {hours: int(n) for hours, n in rows}

    return key, _kept(_HOURS_IN_USE, key, _HOURS_TTL_S, count)


def _kept(store: dict[Any, tuple[float, Any]], key: Any, ttl_s: float, compute: Any) -> Any:
    """``compute()``, kept in ``store`` under ``key`` and computed again after ``ttl_s``."""
    cached = store.get(key)
    if cached is None or time.monotonic() - cached[0] >= ttl_s:
        cached = (time.monotonic(), compute())
        store[key] = cached
    return cached[1]


def _open_share(session: Session | Connection, at: dt.datetime) -> float:
    """The share of active stations open at the hour of ``at``, weighted by how many stations
    share each hours string. It only sizes the first search batch, never the answer."""
    _, counts = _hours_in_use(session)
    hour = at.astimezone(SHANGHAI).replace(minute=30, second=0, microsecond=0)
    total = sum(counts.values())
    opened = sum(
        n for hours, n in counts.items() if evaluate(hours, hour, next_change=False).state == "open"
    )
    return opened / total if total else 1.0


SCARCE_SHARE = 0.05  # below this share of a unit's stations qualifying, start from them
_ROOM_TTL_S = 60.0
_ROOM_SHARES: dict[tuple[str, str], tuple[float, dict[str, float]]] = {}


def _room_shares(
    session: Session | Connection, unit: str, stale_after_min: dict[str, float], now: dt.datetime
) -> dict[str, float]:
    """Of the stations having ``unit``, the share with a fresh count and a free place
    (``known``) and the share whose count is stale (``unknown``); counted at most once a
    minute per database and unit. It only chooses how a search starts, never the answer."""

    def count() -> dict[str, float]:
        fresh_after = now - dt.timedelta(minutes=stale_after_min.get(unit, 30.0))
        row = session.execute(
            text(
                "SELECT count(*), "
                "count(*) FILTER (WHERE reported_at >= :fresh "
                "AND maximum - occupied - held >= 1), "
                "count(*) FILTER (WHERE reported_at IS NULL OR reported_at < :fresh) "
                "FROM station_capacity WHERE unit = :unit AND maximum > 0"
            ),
            {"unit": unit, "fresh": fresh_after},
        ).one()
        total = int(row[0]) or 1
        return {"known": int(row[1]) / total, "unknown": int(row[2]) / total}

    key = (str(_connection(session).engine.url), unit)
    shares: dict[str, float] = _kept(_ROOM_SHARES, key, _ROOM_TTL_S, count)
    return shares


def _closed_hours(session: Session | Connection, at: dt.datetime) -> tuple[str, ...] | None:
    """The hours strings in use that are not open at ``at`` (its minute), for SQL to pass over
    stations closed now; None when there are too many strings to list.

    Exact whatever the list's age: a string missing from it (posted since it was counted)
    is only not passed over, and every row is judged in Python too.
    """
    key, counts = _hours_in_use(session)
    if len(counts) > CLOSED_LIST_MAX:
        return None
    minute = at.astimezone(SHANGHAI).replace(second=0, microsecond=0)
    closed = _CLOSED.get((key, minute))
    if closed is None:
        closed = tuple(
            sorted(h for h in counts if evaluate(h, minute, next_change=False).state != "open")
        )
        if len(_CLOSED) > 64:
            _CLOSED.clear()
        _CLOSED[(key, minute)] = closed
    return closed


def _search(
    session: Session | Connection,
    context: _Context,
    room: Literal["any", "known", "unknown"],
    k: int,
) -> list[NearestStation]:
    """Walk the distance index in growing batches until the best ``k`` are certain.

    Rows that pass the SQL filters are ranked by ellipsoidal distance (then code); opening hours
    are evaluated only for the rows ranked high enough to matter, and answers are built only for
    the ``k`` returned, so the Python work per question stays close to ``k`` rows.
    """
    query = context.query
    scarce = room != "any" and context.room_share.get(room, 1.0) < SCARCE_SHARE
    where = _where(query, room, scarce=scarce)
    if context.closed_hours:
        # stations closed now, by their hours string: passed over inside the index walk
        where += " AND NOT (s.opening_hours = ANY(CAST(%(closed_hours)s AS text[])))"
    # "+ 0" for scarce rows: sorting the few found beats walking the index past all the others
    order = "(s.geog <-> q.g) + 0" if scarce else "s.geog <-> q.g"
    sql = f"{_SELECT}{where} ORDER BY {order}"
    params: dict[str, Any] = {
        "closed_hours": list(context.closed_hours or ()),
        "lon": query.lon,
        "lat": query.lat,
        "services": list(query.services),
        "groups": list(query.groups),
        "kinds": list(query.kinds),
        "min_stars": query.min_stars,
        "max_distance_m": query.max_distance_m,
        "free": query.free,
        "fresh_after": context.now
        - dt.timedelta(minutes=context.stale_after_min.get(query.unit or "seat", 30.0)),
    }
    # Without an opening-hours filter, or with the stations closed now passed over in SQL,
    # nearly every row is an answer: ask for a few spare rows (the ellipsoid may reorder
    # near-ties). Open on arrival, many rows may be closed, so ask for more: a share of stations
    # open at that hour (estimated, see _open_share) sizes the first batch so that it usually
    # holds k open ones (at night one larger batch instead of several).
    if query.open == "any" or context.closed_hours is not None:
        limit = k + 3
    else:
        wanted = math.ceil((k + 3) / max(context.open_share, OPEN_SHARE_FLOOR) * 1.25)
        limit = min(max(2 * k + 8, wanted), OPEN_BATCH_MAX)
    offset = 0
    ranked: list[tuple[float, str, float, tuple[Any, ...]]] = []  # distance, code, bearing, row
    is_open: dict[str, HoursState | None] = {}  # code -> hours when open at the time asked
    connection = _connection(session).connection
    cursor = connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        while True:
            batch = f"{sql} LIMIT {int(limit)} OFFSET {int(offset)}"
            # Scarce rows go unprepared: their plan depends on how few qualify at that moment,
            # which only a plan made for the values at hand knows.
            if offset == 0 and not scarce:
                _execute_prepared(cursor, connection.info, batch, params)
            else:
                cursor.execute(batch, params)
            rows = cursor.fetchall()
            if rows:
                n = len(rows)
                bearing, _, distance = _GEOD.inv(
                    [query.lon] * n,
                    [query.lat] * n,
                    [r[_LON] for r in rows],
                    [r[_LAT] for r in rows],
                )
                ranked.extend(
                    (float(d), r[_CODE], float(b), r)
                    for d, b, r in zip(distance, bearing, rows, strict=True)
                )
                ranked.sort(key=lambda item: (item[0], item[1]))
            best = _best(ranked, k, context, is_open)
            if len(rows) < limit:
                break
            horizon = rows[-1][_SPHERE] * (1 - SPHERE_SLACK)
            if len(best) == k and best[-1][0] <= horizon:
                break
            offset += limit
            limit *= 4
    finally:
        cursor.close()
    return [_answer(item, context, is_open.get(item[1])) for item in best]


# Statements prepared per connection. A first search batch is prepared once per connection and
# filter shape and then runs on its cached generic plan: no parsing and planning per request
# (about 0.4 ms of PostgreSQL CPU for the plain statement, on 0.6 ms in all). Only on
# connections in autocommit (the service's read pool): a statement that fails there cannot spoil
# a transaction, and prepared statements live as long as the connection, across rollbacks.
PREPARED_MAX = 64
_PARAMETER = re.compile(r"%\((\w+)\)s")
_TYPES = {
    "lon": "float8",
    "lat": "float8",
    "max_distance_m": "float8",
    "services": "text[]",
    "groups": "text[]",
    "kinds": "text[]",
    "min_stars": "int4",
    "free": "int4",
    "fresh_after": "timestamptz",
    "closed_hours": "text[]",
}


@dataclass(frozen=True)
class _Prepared:
    name: str
    prepare: str
    execute: str


@lru_cache(maxsize=1024)
def _prepared(sql: str) -> _Prepared:
    """PREPARE and EXECUTE statements for ``sql`` (psycopg2 ``%(name)s`` parameters)."""
    names = list(dict.fromkeys(_PARAMETER.findall(sql)))
    positional = _PARAMETER.sub(lambda m: f"${names.index(m.group(1)) + 1}", sql)
    name = "locator_nearest_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
    types = ", ".join(_TYPES[n] for n in names)
    arguments = ", ".join(f"%({n})s" for n in names)
    return _Prepared(
        name,
        f"PREPARE {name} ({types}) AS {positional}",
        f"EXECUTE {name} ({arguments})" if names else f"EXECUTE {name}",
    )


def _execute_prepared(cursor: Any, info: dict[Any, Any], sql: str, params: dict[str, Any]) -> None:
    """Run ``sql`` as a prepared statement of this connection when it can be, else plainly."""
    if not getattr(cursor.connection, "autocommit", False):
        cursor.execute(sql, params)
        return
    statement = _prepared(sql)
    done: set[str] = info.setdefault("locator_prepared", set())
    if statement.name not in done:
        if len(done) >= PREPARED_MAX:
            cursor.execute(sql, params)
            return
        # DuplicatePreparedStatement: prepared on this connection before its record was lost
        with contextlib.suppress(psycopg2.errors.DuplicatePreparedStatement):
            cursor.execute(statement.prepare)
        done.add(statement.name)
    try:
        cursor.execute(statement.execute, params)
    except psycopg2.errors.InvalidSqlStatementName:
        done.clear()  # the server forgot them (DISCARD ALL, a pooler): run this one plainly
        cursor.execute(sql, params)


def _best(
    ranked: list[tuple[float, str, float, tuple[Any, ...]]],
    k: int,
    context: _Context,
    is_open: dict[str, HoursState | None],
) -> list[tuple[float, str, float, tuple[Any, ...]]]:
    """The first ``k`` ranked rows that pass the opening-hours filter."""
    query = context.query
    if query.open == "any":
        return ranked[:k]
    best = []
    for item in ranked:
        code = item[1]
        if code not in is_open:
            hours = evaluate(item[3][_HOURS], _when(item[0], context))
            is_open[code] = hours if hours.state == "open" else None
        if is_open[code] is not None:
            best.append(item)
            if len(best) == k:
                break
    return best


def _when(distance_m: float, context: _Context) -> dt.datetime:
    """The time the opening hours are judged at: now, or on arrival."""
    if context.query.open != "on_arrival":
        return context.at
    return context.at + dt.timedelta(minutes=distance_m / 1000.0 / context.speed_kmh * 60.0)


def _answer(
    item: tuple[float, str, float, tuple[Any, ...]], context: _Context, hours: HoursState | None
) -> NearestStation:
    distance_m, _, bearing, row = item
    eta_min = distance_m / 1000.0 / context.speed_kmh * 60.0
    arrival = context.at + dt.timedelta(minutes=eta_min)
    if hours is None:
        hours = evaluate(row[_HOURS], context.at)
    return NearestStation(
        record={
            "code": row[_CODE],
            "lon": row[_LON],
            "lat": row[_LAT],
            "opening_hours": row[_HOURS],
            **dict(zip(_DETAILS, orjson.loads(row[_DETAIL]), strict=True)),
        },
        distance_m=distance_m,
        bearing_deg=bearing % 360.0,
        eta_min=eta_min,
        arrival=arrival,
        hours=hours,
        capacity=unit_states(
            row[_CAPACITY] or {}, now=context.now, stale_after_min=context.stale_after_min
        ),
    )


def is_stale(reported: Any, *, now: dt.datetime, limit_min: float) -> Any:
    """The one staleness rule: a count never reported (None / NaT), or reported more than
    ``limit_min`` minutes before ``now``, is stale. ``reported`` is a datetime or a pandas
    Series of them (then a boolean Series comes back)."""
    limit = dt.timedelta(minutes=limit_min)
    if isinstance(reported, pd.Series):
        return reported.isna() | (pd.Timestamp(now) - reported > limit)
    return reported is None or now - reported > limit


def unit_states(
    raw: Any, *, now: dt.datetime, stale_after_min: dict[str, float]
) -> dict[str, UnitState]:
    """Capacity per unit from ``{unit: [maximum, occupied, reported_at, held]}`` (JSON or
    dict; ``reported_at`` an ISO string, a datetime or None; ``held`` optional, 0 when absent).

    A stale count (:func:`is_stale`, with its unit's limit in ``stale_after_min``, as
    ``Settings.stale_after()`` gives) has unknown free places.
    """
    data = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    units = {}
    for unit, figures in data.items():
        maximum, occupied, reported_at = figures[:3]
        held = int(figures[3]) if len(figures) > 3 and figures[3] is not None else 0
        reported = (
            reported_at
            if isinstance(reported_at, dt.datetime) or reported_at is None
            else dt.datetime.fromisoformat(reported_at)
        )
        stale = is_stale(reported, now=now, limit_min=stale_after_min.get(unit, 30.0))
        units[unit] = UnitState(int(maximum), int(occupied), reported, stale, held)
    return units
