"""Coverage engine: known answers on a hand-made layout, 2SFCA against PySAL's ``access``,
the Beijing sample adding up, and the Dask run giving identical numbers."""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.coverage import (
    SERIES_MAX_M,
    CoverageOptions,
    CoverageReport,
    _cache_home_areas,
    _cached_payload,
    _home_areas_of,
    _Lattice,
    _series_m,
    _union_of_cells,
    compute_coverage,
    ecef,
    nearest_station_distances,
    read_areas,
    read_homes,
    read_snapshot,
)
from locator.errors import ConfigError
from locator.hours import SHANGHAI

GEOD = Geod(ellps="WGS84")
NOW = dt.datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)  # a Wednesday morning
STALE = {"seat": 30.0, "bed": 180.0, "charger": 30.0}
A = (116.4034, 39.9046)


def fwd(origin: tuple[float, float], azimuth: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, metres)
    return float(lon), float(lat)


def geodesic(p: tuple[float, float], q: tuple[float, float]) -> float:
    return float(GEOD.inv(p[0], p[1], q[0], q[1])[2])


def square_wkt(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


# -- the hand-made layout -------------------------------------------------------------------------
B = fwd(A, 90, 3000)
H1 = fwd(A, 0, 300)
H2 = fwd(A, 180, 700)
H3 = fwd(A, 270, 1500)
H4 = fwd(B, 0, 200)
H5 = fwd(A, 0, 5000)
D = fwd(H5, 270, 100)
C = fwd(H3, 0, 50)
H6 = fwd(H5, 90, 1000)
H7 = fwd(H6, 90, 900)
HOMES = {"h1": (H1, 5), "h2": (H2, 7), "h3": (H3, 11), "h4": (H4, 13), "h5": (H5, 17)}
HOMES |= {"h6": (H6, 12), "h7": (H7, 10)}


@dataclass(frozen=True)
class Place:
    code: str
    where: tuple[float, float]
    kind: str
    hours: str
    seats: int
    beds: int
    status: str = "active"
    stars: int = 3
    services: tuple[str, ...] = ("hot_water", "phone_charging")


STATIONS = (
    Place("A", A, "union_post", "24/7", seats=10, beds=0),
    Place(
        "B",
        B,
        "apartment",
        "Mo-Fr 09:00-18:00; PH off",
        seats=5,
        beds=15,
        stars=5,
        services=("hot_water", "beds"),
    ),
    Place("C", C, "union_post", "24/7", seats=8, beds=0, status="closed"),
    Place("D", D, "mobile", '"by appointment"', seats=0, beds=0, stars=1),
)


def insert_station(session: Session, place: Place, *, reported_at: dt.datetime | None) -> None:
    sid = session.execute(
        text(
            "INSERT INTO stations (code, name_zh, name_en, kind, geom, services, groups, "
            "opening_hours, stars, status) VALUES (:code, :zh, :en, :kind, "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :services, '{courier}', :hours, "
            ":stars, :status) RETURNING id"
        ),
        {
            "code": place.code,
            "zh": f"驿站{place.code}",
            "en": f"Station {place.code}",
            "kind": place.kind,
            "lon": place.where[0],
            "lat": place.where[1],
            "services": list(place.services),
            "hours": place.hours,
            "stars": place.stars,
            "status": place.status,
        },
    ).scalar_one()
    for unit, maximum in (("seat", place.seats), ("bed", place.beds)):
        if maximum:
            session.execute(
                text(
                    "INSERT INTO station_capacity (station_id, unit, maximum, occupied, "
                    "reported_at) VALUES (:sid, :unit, :maximum, 1, :at)"
                ),
                {"sid": sid, "unit": unit, "maximum": maximum, "at": reported_at},
            )


def insert_area(session: Session, code: str, level: str, wkt: str, parent: str | None) -> None:
    session.execute(
        text(
            "INSERT INTO areas (code, level, name_zh, name_en, parent_code, geom) VALUES "
            "(:code, :level, :zh, :en, :parent, ST_GeomFromText(:wkt, 4326))"
        ),
        {"code": code, "level": level, "zh": f"区{code}", "en": code, "parent": parent, "wkt": wkt},
    )


def insert_home(session: Session, code: str, where: tuple[float, float], workers: int) -> None:
    session.execute(
        text(
            "INSERT INTO worker_homes (code, geom, worker_group, workers) VALUES "
            "(:code, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'courier', :workers)"
        ),
        {"code": code, "lon": where[0], "lat": where[1], "workers": workers},
    )


@pytest.fixture
def layout(session: Session) -> Session:
    """Four stations (one closed, one with hours nobody can evaluate), seven homes, two
    districts, two sub-districts and a 0.01° grid, in the test's rolled-back transaction."""
    fresh = NOW - dt.timedelta(minutes=5)
    for place in STATIONS:
        insert_station(session, place, reported_at=fresh if place.code == "A" else None)
    insert_area(session, "D1", "district", square_wkt(116.35, 39.85, 116.43, 39.96), None)
    insert_area(session, "D2", "district", square_wkt(116.43, 39.85, 116.50, 39.96), None)
    x, y = H1
    insert_area(
        session, "S1", "subdistrict", square_wkt(x - 1e-3, y - 1e-3, x + 1e-3, y + 1e-3), "D1"
    )
    x, y = H4
    insert_area(
        session, "S2", "subdistrict", square_wkt(x - 1e-3, y - 1e-3, x + 1e-3, y + 1e-3), "D2"
    )
    for i in range(8):
        for j in range(8):
            x0, y0 = round(116.37 + i * 0.01, 2), round(39.88 + j * 0.01, 2)
            insert_area(session, f"G{i}{j}", "grid", square_wkt(x0, y0, x0 + 0.01, y0 + 0.01), None)
    for code, (where, workers) in HOMES.items():
        insert_home(session, code, where, workers)
    return session


def report_of(session: Session, **options: object) -> CoverageReport:
    defaults: dict[str, object] = {"gap_threshold": 10}
    return compute_coverage(
        session,
        CoverageOptions(**(defaults | options)),  # type: ignore[arg-type]
        now=NOW,
        stale_after_min=STALE,
    )


def cell_of(point: tuple[float, float]) -> str:
    return f"G{int((point[0] - 116.37) // 0.01)}{int((point[1] - 39.88) // 0.01)}"


def row(report: CoverageReport, level: str, code: str) -> pd.Series:
    table = report.areas[level]
    return table[table["code"] == code].iloc[0]


# -- known answers --------------------------------------------------------------------------------
def test_every_district_figure_has_its_known_answer(layout):
    report = report_of(layout)
    d6, d7 = geodesic(H6, D), geodesic(H7, D)
    assert 1000 < d6 < 1500 < d7  # h6, h7 nearest to D but beyond 1 km
    d1 = row(report, "district", "D1")
    assert d1["workers"] == 62  # h1 h2 h3 h5 h6 h7
    assert d1["covered_500"] == 5 + 17  # h1 (300 m from A), h5 (100 m from D)
    assert d1["covered_1000"] == 5 + 17 + 7  # + h2 (700 m)
    assert d1["share_500"] == pytest.approx(22 / 62)
    assert d1["share_1000"] == pytest.approx(29 / 62)
    assert d1["stations"] == 2  # A and D; C is closed
    assert d1["places"] == 10  # A's seats; D has none
    assert d1["places_per_1000"] == pytest.approx(10 / 62 * 1000)
    mean = (5 * 300 + 7 * 700 + 11 * 1500 + 17 * 100 + 12 * d6 + 10 * d7) / 62
    assert d1["mean_m"] == pytest.approx(mean, abs=1e-3)
    # sorted: 100 (17), 300 (5), 700 (7), d6 (12), 1500 (11), d7 (10): 90 % of 62 is 55.8
    assert d1["p90_m"] == pytest.approx(d7, abs=1e-3)
    # 2SFCA at 1 km: A serves h1 + h2 (12 workers, 10 places), B serves h4 (13, 20 places)
    assert d1["access_2sfca"] == pytest.approx(12 * (10 / 12) / 62, abs=1e-12)
    assert not d1["suppressed"]
    d2 = row(report, "district", "D2")
    assert (d2["workers"], d2["covered_500"], d2["stations"], d2["places"]) == (13, 13, 1, 20)
    assert d2["mean_m"] == pytest.approx(200, abs=1e-3)
    assert d2["p90_m"] == pytest.approx(200, abs=1e-3)
    assert d2["access_2sfca"] == pytest.approx(20 / 13, abs=1e-12)


def test_totals_add_up_and_share_of_areas(layout):
    totals = report_of(layout).totals
    assert totals["workers"] == 75
    assert totals["covered_500"] == 35 and totals["uncovered_500"] == 40
    assert totals["covered_1000"] == 42 and totals["uncovered_1000"] == 33
    assert totals["stations"] == 3 and totals["places"] == 30
    assert totals["access_2sfca"] == pytest.approx((10 + 20) / 75, abs=1e-12)
    # an area counts as covered when at least half its workers are: D2 at both radii
    assert totals["areas_district_covered_500"] == 1
    assert totals["areas_district_share_1000"] == pytest.approx(1 / 2)
    assert totals["workers_outside_subdistrict"] == 75 - 5 - 13


def test_a_home_exactly_at_the_radius_is_covered(layout):
    exact = float(GEOD.inv(A[0], A[1], H2[0], H2[1])[2])  # from the coordinates as stored
    at = report_of(layout, radii_m=(exact,)).totals
    below = report_of(layout, radii_m=(math.nextafter(exact, 0.0),)).totals
    key_at, key_below = f"covered_{round(exact)}", f"covered_{round(exact)}"
    assert at[key_at] - below[key_below] == 7  # only h2 (7 workers) lies exactly there


def test_small_areas_are_suppressed_everywhere(layout):
    report = report_of(layout)
    s1 = row(report, "subdistrict", "S1")  # h1 alone: 5 workers < k = 10
    assert s1["suppressed"]
    for column in ("workers", "covered_500", "share_500", "mean_m", "p90_m", "access_2sfca"):
        assert pd.isna(s1[column]), column
    assert s1["suppressed_reason"] == "fewer_than_k"
    # S2 (13 workers) is hidden as well: the total (75) minus the workers outside every
    # sub-district (57) minus S2's 13 would give S1's 5 back
    s2 = row(report, "subdistrict", "S2")
    assert s2["suppressed"] and s2["suppressed_reason"] == "complementary"
    assert pd.isna(s2["workers"]) and pd.isna(s2["covered_500"])
    assert report.totals["areas_subdistrict_suppressed_complementary"] == 1
    assert report.totals["workers_outside_subdistrict"] == 57
    grid = report.areas["grid"]
    assert grid.loc[grid["workers"].isna(), "suppressed"].all()
    assert set(report.heat["workers"]) == {11, 12, 10}  # h3, h6, h7 cells; h1 h2 hidden
    assert report_of(layout, privacy_k=100).totals["workers"] is None


def test_gap_cells_ranked_and_adjacent_cells_merged(layout):
    report = report_of(layout)
    cells = report.gap_cells
    assert list(cells["code"]) == [cell_of(H6), cell_of(H3), cell_of(H7)]
    assert list(cells["uncovered_workers"]) == [12, 11, 10]
    assert list(cells["rank"]) == [1, 2, 3]
    gaps = report.gaps
    assert list(gaps["uncovered_workers"]) == [22, 11]  # h6 + h7 merged, then h3
    assert list(gaps["cells"]) == [2, 1]
    assert gaps.geometry.iloc[0].area == pytest.approx(2 * 0.01 * 0.01)
    assert list(report_of(layout, gap_threshold=12).gap_cells["code"]) == [cell_of(H6)]


def test_union_of_cells_edge_matched_or_not():
    import shapely

    grid = np.array([shapely.box(x, y, x + 1, y + 1) for x in range(3) for y in range(2)])
    union = _union_of_cells(grid)
    assert union.geom_type == "Polygon" and union.area == pytest.approx(6.0)
    # overlapping cells and a cell off the grid: not a coverage, the general overlay answers
    odd = np.array([shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3), shapely.box(5, 5, 6, 6)])
    union = _union_of_cells(odd)
    assert union.is_valid and union.area == pytest.approx(8.0 - 1.0 + 1.0)
    assert len(shapely.get_parts(union)) == 2


def test_homes_placed_once_per_version_of_homes_and_areas(layout):
    conn = layout.connection()
    first = read_snapshot(layout, now=NOW, stale_after_min=STALE)
    assert first.home_areas == {}  # nothing stored yet: the first report places the homes
    assert conn.execute(text("SELECT count(*) FROM home_area_cache")).scalar_one() == 0
    compute_coverage(layout, CoverageOptions(), snapshot=first, now=NOW)
    assert set(first.home_areas) == set(first.levels)  # kept for the next report
    cached = conn.execute(
        text("SELECT versions, payload FROM home_area_cache WHERE name = 'homes'")
    ).one()
    assert cached.versions == first.fingerprint != ""
    stored = _home_areas_of(bytes(cached.payload), read_homes(conn).ids, first.levels)
    assert stored is not None and all(
        np.array_equal(stored[name], first.home_areas[name]) for name in first.home_areas
    )
    # written again for other versions: the one row replaced (binary COPY after a delete)
    _cache_home_areas(layout, "other", read_homes(conn).ids, first.home_areas)
    assert conn.execute(text("SELECT versions FROM home_area_cache")).scalars().all() == ["other"]
    assert _cached_payload(conn, "other") == bytes(
        conn.execute(text("SELECT payload FROM home_area_cache")).scalar_one()
    )
    assert _cached_payload(conn, first.fingerprint) is None
    _cache_home_areas(layout, first.fingerprint, read_homes(conn).ids, first.home_areas)
    # the next report reads the places from the store: shown by a place changed there
    ids = read_homes(conn).ids
    marked = {**first.home_areas, "district": np.full(len(ids), 1, dtype=np.int32)}
    buffer = io.BytesIO()
    np.savez(buffer, ids=ids, **marked)
    conn.execute(
        text("UPDATE home_area_cache SET payload = :payload"), {"payload": buffer.getvalue()}
    )
    assert (read_snapshot(layout, now=NOW).home_areas["district"] == 1).all()
    # moving one home keeps the count, the highest id and the workers, but not the version
    layout.execute(
        text(
            "UPDATE worker_homes SET geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) "
            "WHERE code = 'h4'"
        ),
        {"lon": H1[0], "lat": H1[1]},
    )
    moved = read_snapshot(layout, now=NOW, reuse=first)
    assert moved.fingerprint != first.fingerprint and moved.home_areas == {}
    compute_coverage(layout, CoverageOptions(), snapshot=moved, now=NOW)
    districts = dict(zip(read_homes(conn).ids, moved.home_areas["district"], strict=True))
    h4 = conn.execute(text("SELECT id FROM worker_homes WHERE code = 'h4'")).scalar_one()
    assert districts[h4] == 0  # D1 now, not D2
    assert row(report_of(layout), "district", "D2")["workers"] is pd.NA  # no one left: < k
    # areas too: any write gives a new version
    before = moved.fingerprint
    layout.execute(text("UPDATE areas SET name_en = name_en WHERE code = 'G00'"))
    assert read_snapshot(layout, now=NOW).fingerprint != before


def test_areas_are_read_as_stored_whatever_their_names(layout):
    names = {
        "D1": ('东城区, "老城"', 'Dongcheng, "old"\ntown'),
        "D2": ("", "Xicheng"),  # an empty name stays empty; a missing parent stays None
    }
    for code, (zh, en) in names.items():
        layout.execute(
            text("UPDATE areas SET name_zh = :zh, name_en = :en WHERE code = :code"),
            {"zh": zh, "en": en, "code": code},
        )
    layout.execute(text("UPDATE areas SET parent_code = '' WHERE code = 'G01'"))
    levels = read_areas(layout.connection(), ("grid", "district", "subdistrict"))
    district = levels["district"].table
    assert district["code"].tolist() == ["D1", "D2"]
    assert [tuple(r) for r in district[["name_zh", "name_en"]].to_numpy()] == list(names.values())
    assert district["parent_code"].isna().all()
    grid = levels["grid"].table.set_index("code")["parent_code"]
    assert grid["G01"] == "" and pd.isna(grid["G00"])
    assert levels["grid"].table["code"].tolist() == sorted(
        f"G{i}{j}" for i in range(8) for j in range(8)
    )
    assert levels["subdistrict"].table["parent_code"].tolist() == ["D1", "D2"]
    stored = layout.execute(
        text("SELECT code, ST_AsEWKB(geom) FROM areas WHERE level = 'district' ORDER BY code")
    ).all()
    assert levels["district"].wkb == [bytes(wkb) for _, wkb in stored]


def test_rtree_and_raster_place_points_alike(layout):
    levels = read_areas(layout.connection(), ("district", "grid"))
    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(116.34, 116.51, 3000), np.full(50, 116.43), [116.40]])
    lat = np.concatenate([rng.uniform(39.84, 39.97, 3000), rng.uniform(39.85, 39.96, 50), [39.9]])
    lon[:40] = np.round(lon[:40], 2)  # on grid lines and corners
    lat[:40] = np.round(lat[:40], 2)
    lon = np.concatenate([lon, [116.35, 116.50, 116.45, 116.37], [39.90, 39.90, 39.96, 39.88]])
    lat = np.concatenate([lat, [39.90, 39.90, 39.90, 39.95], [39.85, 39.96, 39.92, 39.88]])
    for level in levels.values():
        by_raster = level.raster.locate(level.geoms, lon, lat)
        assert np.array_equal(level.locate_by_tree(lon, lat), by_raster)
        assert np.array_equal(level.locate(lon, lat), by_raster)
        assert (by_raster >= 0).sum() > 500
    assert levels["district"].lattice is not None  # two rectangles sharing an edge exactly
    # x0 + 0.01 is not exactly the next cell's x0: tiny gaps, so no lattice (the raster answers)
    assert levels["grid"].lattice is None
    on_edge = levels["district"].locate_by_tree(np.full(3, 116.43), np.array([39.86, 39.9, 39.95]))
    assert list(on_edge) == [0, 0, 0]  # on the D1 | D2 edge the first area wins
    import shapely

    triangle = shapely.Polygon([(0, 0), (1, 0), (0, 1)])
    assert _Lattice.build(np.array([triangle, shapely.box(1, 1, 2, 2)])) is None
    assert _Lattice.build(np.array([shapely.box(0, 0, 2, 1), shapely.box(1, 1, 2, 2)])) is None


def test_a_grid_in_degrees_is_placed_by_its_lattice():
    import shapely

    from locator.coverage import _AreaLevel

    cells = [shapely.box(i * 0.05, j * 0.05, (i + 1) * 0.05, (j + 1) * 0.05) for i in range(6)
             for j in range(5) if (i + j) % 4]  # fmt: skip
    wkb = [shapely.to_wkb(shapely.MultiPolygon([c])) for c in cells]
    level = _AreaLevel("grid", pd.DataFrame({"code": range(len(cells))}), wkb)
    assert level.lattice is not None
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-0.02, 0.32, 5000), rng.uniform(-0.02, 0.27, 5000)
    lon[:300], lat[:300] = np.round(lon[:300] / 0.05) * 0.05, np.round(lat[:300] / 0.05) * 0.05
    lon[300:400] = np.round(lon[300:400] / 0.05) * 0.05  # on vertical lines only
    expected = level.raster.locate(level.geoms, lon, lat)
    assert np.array_equal(level.locate(lon, lat), expected)
    assert np.array_equal(level.locate_by_tree(lon, lat), expected)
    assert 0 < (expected >= 0).sum() < 5000
    # a lattice too large for its lookup table finds the cells by binary search, alike
    assert level.lattice.table is not None
    searched = replace(level.lattice, table=None)
    out, edge = searched.locate(lon, lat)
    out[edge] = level.locate_by_tree(lon[edge], lat[edge])
    assert np.array_equal(out, expected)


def test_station_filters_and_opening_hours_change_the_answer(layout):
    by_kind = report_of(layout, kinds=("union_post",))
    assert list(by_kind.stations["code"]) == ["A"]
    assert by_kind.totals["covered_500"] == 5
    assert list(report_of(layout, services=("beds",)).stations["code"]) == ["B"]
    assert list(report_of(layout, min_stars=4).stations["code"]) == ["B"]
    # Wednesday 10:00: A and B open; D's hours cannot be evaluated, so it does not count
    wednesday = report_of(layout, hour_of_week=2 * 24 + 10)
    assert list(wednesday.stations["code"]) == ["A", "B"]
    assert wednesday.totals["covered_500"] == 5 + 13
    # Wednesday 22:00: B is closed; h4 is 3 km from A
    assert list(report_of(layout, hour_of_week=2 * 24 + 22).stations["code"]) == ["A"]
    # a public holiday at noon: B is "PH off"
    assert list(report_of(layout, holiday=True).stations["code"]) == ["A"]
    friday = dt.datetime(2026, 10, 9, 12, tzinfo=SHANGHAI)  # an ordinary Friday
    assert list(report_of(layout, open_at=friday).stations["code"]) == ["A", "B"]


def test_counted_stations_carry_sign_open_state_and_fresh_counts(layout):
    stations = report_of(layout).stations.set_index("code")
    assert stations.crs.to_epsg() == 4326
    assert bool(stations.loc["A", "open"]) is True
    assert pd.isna(stations.loc["D", "open"])  # hours cannot be evaluated
    assert stations.loc["A", "seat_max"] == 10 and stations.loc["A", "seat_free"] == 9
    assert pd.isna(stations.loc["B", "bed_free"])  # never reported: unknown, not free
    assert stations.loc["B", "places"] == 20


def test_options_are_validated_with_clear_messages():
    with pytest.raises(ConfigError, match=r"radii_m -5\.0"):
        CoverageOptions(radii_m=(-5.0,))
    with pytest.raises(ConfigError, match="kinds \\['palace'\\] unknown"):
        CoverageOptions(kinds=("palace",))
    with pytest.raises(ConfigError, match="hour_of_week 168"):
        CoverageOptions(hour_of_week=168)
    with pytest.raises(ConfigError, match="must carry a time zone"):
        CoverageOptions(open_at=dt.datetime(2026, 1, 1, 12))
    with pytest.raises(ConfigError, match="levels \\['county'\\] unknown"):
        CoverageOptions(levels=("county",))
    with pytest.raises(ConfigError, match="privacy_k 0"):
        CoverageOptions(privacy_k=0)


def test_no_station_means_everyone_uncovered(session):
    insert_area(session, "D1", "district", square_wkt(116.35, 39.85, 116.43, 39.96), None)
    insert_home(session, "h1", H1, 12)
    report = report_of(session)
    assert report.totals["covered_1000"] == 0 and report.totals["uncovered_1000"] == 12
    assert pd.isna(row(report, "district", "D1")["mean_m"])


# -- distances ------------------------------------------------------------------------------------
def test_series_distance_is_within_a_millimetre_of_karney():
    rng = np.random.default_rng(7)
    n = 20_000
    lon1, lat1 = rng.uniform(73, 135, n), rng.uniform(18, 53, n)
    azimuth, metres = rng.uniform(0, 360, n), rng.uniform(0, SERIES_MAX_M, n)
    lon2, lat2, _ = GEOD.fwd(lon1, lat1, azimuth, metres)
    series = _series_m(ecef(lon1, lat1), ecef(lon2, lat2), lat1, lat2)
    assert np.abs(series - metres).max() < 1e-3


def test_nearest_station_distances_match_brute_force():
    rng = np.random.default_rng(11)
    points = np.column_stack([rng.uniform(116.0, 116.8, 3000), rng.uniform(39.6, 40.2, 3000)])
    stations = np.column_stack([rng.uniform(116.0, 116.8, 150), rng.uniform(39.6, 40.2, 150)])
    got = nearest_station_distances(points, stations)
    _, _, every = GEOD.inv(
        np.repeat(points[:, 0], 150),
        np.repeat(points[:, 1], 150),
        np.tile(stations[:, 0], 3000),
        np.tile(stations[:, 1], 3000),
    )
    expected = np.asarray(every).reshape(3000, 150).min(axis=1)
    assert np.abs(got - expected).max() < 1e-3
    assert np.isinf(nearest_station_distances(points[:3], np.empty((0, 2)))).all()


# -- 2SFCA against PySAL's access -----------------------------------------------------------------
def pysal_area_access(
    homes: dict[str, tuple[tuple[float, float], int]],
    supply: dict[str, tuple[tuple[float, float], int]],
    catchment_m: float,
) -> pd.Series:
    """Per home, PySAL's two_stage_fca on all home-station geodesic distances."""
    from access import Access

    demand = pd.DataFrame({"geoid": list(homes), "workers": [w for _, w in homes.values()]})
    places = pd.DataFrame({"geoid": list(supply), "places": [p for _, p in supply.values()]})
    costs = [
        {"origin": h, "dest": s, "cost": geodesic(hp, sp)}
        for h, (hp, _) in homes.items()
        for s, (sp, _) in supply.items()
    ]
    model = Access(
        demand_df=demand,
        demand_index="geoid",
        demand_value="workers",
        supply_df=places,
        supply_index="geoid",
        supply_value="places",
        cost_df=pd.DataFrame(costs),
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    scores = model.two_stage_fca(max_cost=catchment_m)
    return scores.iloc[:, 0].reindex(list(homes)).fillna(0.0)


def test_2sfca_equals_pysal_access(session):
    rng = np.random.default_rng(2026)
    homes = {
        f"h{i}": ((float(rng.uniform(116.38, 116.42)), float(rng.uniform(39.89, 39.92))), int(w))
        for i, w in enumerate(rng.integers(1, 30, 300))
    }
    supply = {}
    for i in range(25):
        where = (float(rng.uniform(116.38, 116.42)), float(rng.uniform(39.89, 39.92)))
        seats, beds = int(rng.integers(1, 12)), int(rng.integers(0, 3)) * 6
        insert_station(
            session,
            Place(f"S{i:02d}", where, "union_post", "24/7", seats=seats, beds=beds),
            reported_at=None,
        )
        supply[f"S{i:02d}"] = (where, seats + beds)
    areas = {"west": (116.38, 116.40), "east": (116.40, 116.42)}
    for code, (x0, x1) in areas.items():
        insert_area(session, code, "district", square_wkt(x0, 39.89, x1, 39.92), None)
    for code, (where, workers) in homes.items():
        insert_home(session, code, where, workers)
    report = report_of(session, radii_m=(500.0,), catchment_m=600.0)
    per_home = pysal_area_access(homes, supply, 600.0)
    assert per_home.gt(0).sum() > 200  # a real test: most homes have a station in reach
    for code, (x0, x1) in areas.items():
        inside = [h for h, ((x, _), _) in homes.items() if x0 <= x < x1]
        weights = np.array([homes[h][1] for h in inside], dtype=float)
        expected = float((per_home[inside].to_numpy() * weights).sum() / weights.sum())
        assert row(report, "district", code)["access_2sfca"] == pytest.approx(expected, abs=1e-9)


# -- the Beijing sample ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_report(sample_engine) -> CoverageReport:
    return compute_coverage(sample_engine, CoverageOptions(chunk_size=40_000), now=NOW)


@pytest.mark.slow
def test_the_sample_coverage_table_adds_up(sample_report, sample_engine):
    totals = sample_report.totals
    with sample_engine.connect() as conn:
        workers = conn.execute(text("SELECT sum(workers) FROM worker_homes")).scalar_one()
    assert totals["workers"] == workers == 400_022
    for radius in ("500", "1000"):
        assert totals[f"covered_{radius}"] + totals[f"uncovered_{radius}"] == workers
    for level, table in sample_report.areas.items():
        shown = table[~table["suppressed"]]
        assert (shown["covered_1000"] <= shown["workers"]).all(), level
        assert (shown["covered_500"] <= shown["covered_1000"]).all(), level
        assert (table["suppressed"] == table["workers"].isna()).all(), level
        assert table["suppressed"].eq(False).any(), level
    districts = sample_report.areas["district"]
    assert districts["workers"].sum() == workers  # every home lies in one district
    assert districts["stations"].sum() == totals["stations"]
    grid = sample_report.areas["grid"]
    # suppressed cells hold the rest: shown cells + hidden cells = all workers
    hidden = workers - int(grid["workers"].sum())
    assert 0 < hidden < 10 * int(grid["suppressed"].sum())
    assert (sample_report.heat["workers"] >= 10).all()
    assert sample_report.gaps["uncovered_workers"].is_monotonic_decreasing


@pytest.mark.slow
def test_dask_gives_identical_numbers(sample_engine, sample_report):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False) as cluster,
        Client(cluster) as client,
    ):
        on_dask = compute_coverage(
            sample_engine, CoverageOptions(chunk_size=40_000), now=NOW, dask=client
        )
    assert on_dask.totals == sample_report.totals
    for level, table in sample_report.areas.items():
        pd.testing.assert_frame_equal(
            pd.DataFrame(on_dask.areas[level].drop(columns="geometry")),
            pd.DataFrame(table.drop(columns="geometry")),
        )
    pd.testing.assert_frame_equal(on_dask.heat, sample_report.heat)


def test_dask_scheduler_by_address(sample_engine, sample_report):
    """``--dask tcp://…``: a scheduler reached by its address, with worker processes of
    their own (the chunks and the stations travel to them pickled over TCP)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        on_dask = compute_coverage(
            sample_engine, CoverageOptions(chunk_size=40_000), now=NOW, dask=address
        )
    assert on_dask.totals == sample_report.totals
    grid = sample_report.areas["grid"].drop(columns="geometry")
    pd.testing.assert_frame_equal(
        pd.DataFrame(on_dask.areas["grid"].drop(columns="geometry")), pd.DataFrame(grid)
    )


def test_another_gap_threshold_redraws_only_the_gaps(layout):
    from locator.coverage import with_gap_threshold

    redrawn = with_gap_threshold(report_of(layout), 12)
    direct = report_of(layout, gap_threshold=12)
    assert list(redrawn.gap_cells["code"]) == list(direct.gap_cells["code"]) == [cell_of(H6)]
    assert redrawn.options.gap_threshold == 12
    pd.testing.assert_frame_equal(redrawn.heat, direct.heat)


def test_cell_points_are_centroids_of_rectangles_and_inside_other_cells():
    import shapely

    from locator.coverage import _cell_points

    cells = np.array(
        [
            shapely.box(116.0, 39.0, 116.01, 39.01),
            shapely.Polygon([(0, 0), (4, 0), (4, 1), (1, 1), (1, 4), (0, 4)]),  # an L
            shapely.Polygon([(0, 0), (2, 0), (3, 1), (0, 1)]),  # 4 corners, not a rectangle
        ]
    )
    centres = _cell_points(cells, shapely.centroid)
    assert shapely.equals_exact(centres, shapely.centroid(cells), tolerance=1e-12).all()
    inner = _cell_points(cells, shapely.point_on_surface)
    assert shapely.within(inner, cells).all()
