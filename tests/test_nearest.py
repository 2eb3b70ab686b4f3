"""The nearest query against a brute-force geodesic computation over every station."""

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import text

from locator import nearest, vocab
from locator.db import session_scope
from locator.errors import ConfigError
from locator.hours import evaluate
from locator.io import load_file
from locator.nearest import NearestQuery, find_nearest
from tests.conftest import fresh_database
from tests.helpers import station, write_geojson

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 11, 25, 22, 40, tzinfo=SHANGHAI)  # a Tuesday night
SPEED = {"walk": 5.0, "ebike": 15.0}
STALE = {"seat": 30.0, "bed": 180.0, "charger": 30.0}
HOURS = [
    "24/7",
    "Mo-Fr 09:00-18:00; PH off",
    "Tu-Su 09:00-21:00",
    "Mo-Su 18:00-02:00",
    "Mo-Su 10:00-22:00",
    "Mo-Su 07:00-23:00",
]
SERVICES = ["hot_water", "phone_charging", "ebike_charging", "microwave", "restroom", "beds"]
GROUPS = ["delivery_rider", "courier", "sanitation_worker", "truck_driver"]


@pytest.fixture(scope="module")
def random_stations(cluster, tmp_path_factory):
    """1,500 stations over central Beijing with random signs, capacity and fresh/stale counts,
    committed in a database of their own (so that autocommit connections see them too)."""
    engine = fresh_database(cluster, "locator_nearest_exact")
    tmp_path = tmp_path_factory.mktemp("random_stations")
    with session_scope(engine) as session:
        rows = _random_stations(session, tmp_path)
    yield engine, rows
    engine.dispose()
    cluster.drop_database("locator_nearest_exact")


def _random_stations(session, tmp_path):
    rng = np.random.default_rng(20261121)
    features = []
    for i in range(1500):
        kind = str(rng.choice(list(vocab.KINDS)))
        features.append(
            station(
                f"R{i:04d}",
                round(float(rng.uniform(116.2, 116.6)), 6),
                round(float(rng.uniform(39.8, 40.05)), 6),
                kind=kind,
                services=[s for s in SERVICES if rng.random() < 0.5],
                groups=[g for g in GROUPS if rng.random() < 0.6],
                opening_hours=str(rng.choice(HOURS)),
                stars=int(rng.integers(1, 6)),
                status="active" if rng.random() < 0.95 else "closed",
                seats=int(rng.integers(0, 12)),
                beds=int(rng.integers(0, 3)) * 10,
                chargers=int(rng.integers(0, 6)),
            )
        )
    load_file(session, "stations", write_geojson(tmp_path / "r.geojson", features))
    # Occupancy: some counts fresh (10 min old), some stale (2 h old), some never reported.
    session.execute(text("SELECT setseed(0.42)"))
    session.execute(
        text("""
        UPDATE station_capacity SET
            occupied = floor(random() * (maximum + 1))::int,
            reported_at = CASE WHEN random() < 0.5 THEN :fresh
                               WHEN random() < 0.5 THEN :stale END
    """),
        {"fresh": NOW - dt.timedelta(minutes=10), "stale": NOW - dt.timedelta(hours=2)},
    )
    rows = session.execute(
        text("""
        SELECT s.code, ST_X(s.geom), ST_Y(s.geom), s.kind, s.services, s.groups, s.stars,
               s.status, s.opening_hours,
               coalesce((SELECT json_object_agg(unit, json_build_array(maximum, occupied,
                          reported_at)) FROM station_capacity c WHERE c.station_id = s.id),
                        '{}'::json)
        FROM stations s ORDER BY s.code""")
    ).all()
    return rows


def brute_force(rows, query: NearestQuery):
    """Every station's geodesic distance, every filter, then the ranking; hours are evaluated
    in ranking order until k stations are accepted (the same answer as evaluating all)."""
    geod = Geod(ellps="WGS84")
    lons = np.array([r[1] for r in rows])
    lats = np.array([r[2] for r in rows])
    _, _, dist = geod.inv(np.full(len(rows), query.lon), np.full(len(rows), query.lat), lons, lats)
    ranked = []
    for row, distance in zip(rows, dist, strict=True):
        code, _, _, kind, services, groups, stars, status, hours, capacity = row
        if status != "active" or not set(query.services) <= set(services):
            continue
        if query.groups and not set(query.groups) & set(groups):
            continue
        if query.kinds and kind not in query.kinds:
            continue
        if query.min_stars and (stars or 0) < query.min_stars:
            continue
        if query.max_distance_m is not None and distance > query.max_distance_m:
            continue
        room_known = True
        if query.unit:
            if query.unit not in capacity or capacity[query.unit][0] < query.free:
                continue
            maximum, occupied, reported = capacity[query.unit]
            fresh = reported and NOW - dt.datetime.fromisoformat(reported) <= dt.timedelta(
                minutes=STALE[query.unit]
            )
            if fresh and maximum - occupied < query.free:
                continue
            room_known = bool(fresh)
        ranked.append((not room_known, float(distance), code, hours))
    ranked.sort()
    accepted = []
    for _, distance, code, hours in ranked:
        if query.open != "any":
            travel = dt.timedelta(hours=distance / 1000 / SPEED[query.mode])
            when = NOW + travel if query.open == "on_arrival" else NOW
            if evaluate(hours, when).state != "open":
                continue
        accepted.append((code, distance))
        if len(accepted) == query.k:
            break
    return accepted


FILTERS = [
    {},
    {"k": 1},
    {"k": 10, "services": ("hot_water", "microwave")},
    {"groups": ("truck_driver",), "min_stars": 4},
    {"kinds": ("smart_24h", "apartment")},
    {"open": "now"},
    {"open": "on_arrival", "mode": "walk", "services": ("restroom",)},
    {"unit": "seat", "free": 2},
    {"unit": "bed", "open": "now", "k": 3},
    {"unit": "charger", "services": ("ebike_charging",), "max_distance_m": 4000.0},
    {"max_distance_m": 500.0, "k": 20},
    {
        "services": ("beds", "ebike_charging", "microwave"),
        "groups": ("courier",),
        "open": "on_arrival",
        "unit": "seat",
        "min_stars": 3,
    },
]


# "scarce" only where there is a capacity search to start from the qualifying stations
CASES = [
    pytest.param(filters, path, id=f"{path}-{i}")
    for path in ("transaction", "autocommit", "scarce")
    for i, filters in enumerate(FILTERS)
    if path != "scarce" or "unit" in filters
]


@pytest.mark.parametrize(("filters", "path"), CASES)
def test_matches_brute_force_geodesic_search(random_stations, filters, path, monkeypatch):
    """In a transaction (statements sent as they are), in autocommit as the service's read
    pool does (first batches prepared once per connection, then run on a cached plan), and
    with every capacity search starting from the qualifying stations (as when few do)."""
    engine, rows = random_stations
    if path == "scarce":
        monkeypatch.setattr(nearest, "SCARCE_SHARE", 2.0)
    options = {"isolation_level": "AUTOCOMMIT"} if path != "transaction" else {}
    with engine.connect().execution_options(**options) as connection:
        _compare_with_brute_force(connection, rows, filters)
        prepared = connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
        assert (prepared.scalar_one() > 0) == (path != "transaction")


def _compare_with_brute_force(connection, rows, filters):
    rng = np.random.default_rng(len(str(filters)))
    points = zip(rng.uniform(116.15, 116.65, 300), rng.uniform(39.75, 40.1, 300), strict=True)
    for lon, lat in itertools.islice(points, 300):
        query = NearestQuery(lon=float(lon), lat=float(lat), at=NOW, **filters)
        found = find_nearest(connection, query, speed_kmh=SPEED, stale_after_min=STALE, now=NOW)
        expected = brute_force(rows, query)
        assert [s.code for s in found] == [code for code, _ in expected], (lon, lat, filters)
        for got, (_, distance) in zip(found, expected, strict=True):
            assert got.distance_m == pytest.approx(distance, abs=0.5)


def test_answer_carries_bearing_eta_hours_and_freshness(session, tmp_path):
    load_file(
        session,
        "stations",
        write_geojson(
            tmp_path / "s.geojson",
            [
                station("EAST", 116.41, 39.90, opening_hours="Mo-Fr 09:00-18:00; PH off", seats=10),
                station("NORTH", 116.40, 39.92, opening_hours="24/7", seats=4),
            ],
        ),
    )
    session.execute(
        text("UPDATE station_capacity SET occupied = 3, reported_at = :t"),
        {"t": NOW - dt.timedelta(minutes=5)},
    )
    found = find_nearest(
        session,
        NearestQuery(lon=116.40, lat=39.90, at=NOW, mode="walk"),
        speed_kmh=SPEED,
        stale_after_min=STALE,
        now=NOW,
    )
    east, north = found
    assert east.code == "EAST" and east.bearing_deg == pytest.approx(90, abs=0.1)
    assert north.bearing_deg == pytest.approx(0, abs=0.1)
    assert east.eta_min == pytest.approx(east.distance_m / 5000 * 60)
    assert east.hours.state == "closed" and north.hours.state == "open"
    assert east.capacity["seat"].free == 7 and not east.capacity["seat"].stale
    later = find_nearest(
        session,
        NearestQuery(lon=116.40, lat=39.90, at=NOW),
        speed_kmh=SPEED,
        stale_after_min=STALE,
        now=NOW + dt.timedelta(minutes=31),
    )
    assert later[0].capacity["seat"].free is None and later[0].capacity["seat"].stale


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lon": 200.0}, "lon 200.0 must be between -180 and 180"),
        ({"lat": -91.0}, "lat -91.0 must be between"),
        ({"k": 0}, "k 0 must be between 1 and 50"),
        ({"services": ("sauna",)}, "services ['sauna'] unknown"),
        ({"unit": "sofa"}, "unit 'sofa' must be one of seat, bed, charger"),
        ({"at": dt.datetime(2026, 11, 21, 22, 40)}, "must carry a time zone"),
        ({"at": dt.datetime(242, 9, 13, tzinfo=dt.UTC)}, "must lie between 2000-01-01 and"),
    ],
)
def test_bad_queries_name_the_parameter(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        NearestQuery(**{"lon": 116.4, "lat": 39.9, **kwargs})


def test_open_share_sizes_the_first_batch_from_the_hours_at_that_hour(session, tmp_path):
    from locator.nearest import _HOURS_IN_USE, _closed_hours, _open_share

    features = [station(f"N{i}", 116.40 + i * 0.001, 39.90) for i in range(3)]
    features += [
        station(f"O{i}", 116.40, 39.90 + i * 0.001, opening_hours="Mo-Fr 09:00-18:00")
        for i in range(9)
    ]
    session.execute(text("UPDATE stations SET status = 'closed'"))  # only these twelve count
    load_file(session, "stations", write_geojson(tmp_path / "s.geojson", features))
    _HOURS_IN_USE.clear()
    wednesday = dt.datetime(2026, 11, 18, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert _open_share(session, wednesday.replace(hour=3)) == pytest.approx(3 / 12)
    assert _open_share(session, wednesday.replace(hour=10, minute=45)) == pytest.approx(1.0)
    assert _closed_hours(session, wednesday.replace(hour=3)) == ("Mo-Fr 09:00-18:00",)
    assert _closed_hours(session, wednesday.replace(hour=10, minute=45)) == ()
    night = NearestQuery(116.40, 39.90, k=5, open="now", at=wednesday.replace(hour=3))
    answer = find_nearest(session, night, speed_kmh=SPEED, stale_after_min=STALE)
    assert [s.code for s in answer] == ["N0", "N1", "N2"]
    # Hours posted after the strings were counted: the answer stays exact all the same.
    session.execute(
        text("UPDATE stations SET opening_hours = 'Mo-Su 02:00-04:00' WHERE code = 'O0'")
    )
    session.execute(
        text("UPDATE stations SET opening_hours = 'Mo-Su 05:00-23:00' WHERE code = 'N2'")
    )
    answer = find_nearest(session, night, speed_kmh=SPEED, stale_after_min=STALE)
    assert [s.code for s in answer] == ["N0", "O0", "N1"]  # N0 and O0 both 0 m: by code


def test_prepared_statements_recover_when_server_or_record_forgets(random_stations):
    engine, rows = random_stations
    query = NearestQuery(lon=116.4, lat=39.9, at=NOW, services=("hot_water",))
    expected = [code for code, _ in brute_force(rows, query)]

    def codes(connection):
        found = find_nearest(connection, query, speed_kmh=SPEED, stale_after_min=STALE, now=NOW)
        return [s.code for s in found]

    def prepared(connection):
        sql = "SELECT count(*) FROM pg_prepared_statements"
        return connection.exec_driver_sql(sql).scalar_one()

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("DEALLOCATE ALL")  # a pooled connection: start with none
        connection.connection.info.clear()
        assert codes(connection) == expected and prepared(connection) == 1
        connection.exec_driver_sql("DEALLOCATE ALL")  # the server forgets (as behind a pooler)
        assert codes(connection) == expected and prepared(connection) == 0
        assert codes(connection) == expected and prepared(connection) == 1  # prepared again
        connection.connection.info.clear()  # the record is lost, the statement is not
        assert codes(connection) == expected and prepared(connection) == 1


def test_stations_know_their_units_through_every_capacity_change(session, tmp_path):
    from locator import capacity

    features = [
        station("U1", 116.40, 39.90, seats=4, beds=10),
        station("U2", 116.41, 39.90, seats=0, chargers=2),
    ]
    load_file(session, "stations", write_geojson(tmp_path / "u.geojson", features))

    def units():
        rows = session.execute(text("SELECT code, units FROM stations ORDER BY code"))
        return dict(rows.all())

    assert units() == {"U1": ["bed", "seat"], "U2": ["charger"]}
    capacity.set_maximum(session, "U1", "bed", 0, actor="t", now=NOW)
    capacity.set_maximum(session, "U2", "seat", 3, actor="t", now=NOW)
    assert units() == {"U1": ["seat"], "U2": ["charger", "seat"]}
    capacity.check_in(session, "U2", "seat", actor="t", now=NOW)  # counts leave units alone
    session.execute(text("DELETE FROM station_capacity WHERE unit = 'charger'"))
    assert units() == {"U1": ["seat"], "U2": ["seat"]}
    bed = NearestQuery(lon=116.40, lat=39.90, unit="bed", at=NOW)
    assert find_nearest(session, bed, speed_kmh=SPEED, stale_after_min=STALE, now=NOW) == []
