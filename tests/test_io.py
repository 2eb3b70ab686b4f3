import gzip
import json

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from locator import crs
from locator.errors import ConfigError, InputValidationError
from locator.io import load_file, read_table, validate
from tests.helpers import square, station, write_geojson


def count(session, table):
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_three_bad_rows_are_all_reported_and_nothing_is_stored(session, tmp_path):
    path = write_geojson(
        tmp_path / "stations.geojson",
        [
            station("S1", 116.40, 39.91),
            station("S2", 116.41, 39.92, kind="spaceship"),
            station("S3", 116.42, 39.93, opening_hours="Mo-Fx 09:00"),
            station("S4", 39.93, 116.42, services=["hot_water", "sauna"]),
            station("S5", 116.43, 39.94),
        ],
    )
    with pytest.raises(InputValidationError) as caught:
        load_file(session, "stations", path)
    problems = caught.value.problems
    assert [(p.row, p.field) for p in problems] == [
        (2, "kind"),
        (3, "opening_hours"),
        (4, "services"),
        (4, "geometry"),
    ]
    assert problems[0].value == "spaceship"
    assert "sauna" in problems[2].message
    assert "lat, lon order" in problems[3].message
    message = str(caught.value)
    assert str(path) in message and "4 problems, nothing was stored" in message
    assert count(session, "stations") == 0


def test_required_fields_and_repeated_codes_are_reported(session, tmp_path):
    bad = station("S1", 116.4, 39.9)
    del bad["properties"]["name_zh"]
    path = write_geojson(tmp_path / "s.geojson", [bad, station("S1", 116.5, 39.9)])
    with pytest.raises(InputValidationError) as caught:
        load_file(session, "stations", path)
    assert [(p.row, p.field, p.message) for p in caught.value.problems] == [
        (1, "name_zh", "is required"),
        (2, "code", "is repeated (first in row 1)"),
    ]


def test_reloading_updates_by_code_without_duplicates(session, tmp_path):
    path = tmp_path / "stations.geojson"
    write_geojson(path, [station("S1", 116.40, 39.91), station("S2", 116.41, 39.92)])
    first = load_file(session, "stations", path)
    assert (first.inserted, first.updated) == (2, 0)
    write_geojson(
        path,
        [station("S1", 116.40, 39.91, name_zh="新名字", seats=12), station("S3", 116.5, 39.9)],
    )
    second = load_file(session, "stations", path)
    assert (second.inserted, second.updated) == (1, 1)
    again = load_file(session, "stations", path)
    assert (again.records, again.inserted, again.updated) == (2, 0, 0)
    assert "0 new, 0 updated, 2 unchanged" in str(again)
    assert count(session, "stations") == 3
    name = session.execute(text("SELECT name_zh FROM stations WHERE code = 'S1'")).scalar_one()
    assert name == "新名字"
    maximum = session.execute(
        text(
            "SELECT maximum FROM station_capacity c JOIN stations s ON s.id = c.station_id "
            "WHERE s.code = 'S1' AND unit = 'seat'"
        )
    ).scalar_one()
    assert maximum == 12


def test_capacity_maxima_are_stored_and_logged_once(session, tmp_path):
    path = write_geojson(tmp_path / "s.geojson", [station("S1", 116.4, 39.9, beds=21, chargers=0)])
    load_file(session, "stations", path)
    load_file(session, "stations", path)
    units = session.execute(
        text("SELECT unit, maximum, occupied FROM station_capacity ORDER BY unit")
    ).all()
    assert [tuple(u) for u in units] == [("bed", 21, 0), ("seat", 8, 0)]
    events = session.execute(
        text("SELECT unit, action, maximum_after FROM occupancy_events ORDER BY unit")
    ).all()
    assert [tuple(e) for e in events] == [("bed", "set_maximum", 21), ("seat", "set_maximum", 8)]


def test_event_log_is_append_only(session, tmp_path):
    load_file(
        session, "stations", write_geojson(tmp_path / "s.geojson", [station("S1", 116.4, 39.9)])
    )
    with pytest.raises(Exception, match="append-only"):
        session.execute(text("UPDATE occupancy_events SET delta = 1"))


def test_gcj02_file_is_stored_as_wgs84(session, tmp_path):
    gcj_lon, gcj_lat = (float(v) for v in crs.wgs84_to_gcj02(116.404, 39.915))
    path = write_geojson(tmp_path / "gcj.geojson", [station("G1", gcj_lon, gcj_lat)])
    load_file(session, "stations", path, crs="gcj02")
    lon, lat = session.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE code = 'G1'")
    ).one()
    assert float(crs.geodesic_distance_m(lon, lat, 116.404, 39.915)) < 0.01


def test_bd09_csv_is_stored_as_wgs84(session, tmp_path):
    bd_lon, bd_lat = (float(v) for v in crs.wgs84_to_bd09(116.404, 39.915))
    path = tmp_path / "homes.csv"
    path.write_text(f"code,lon,lat,group,workers\nH1,{bd_lon},{bd_lat},courier,3\n")
    load_file(session, "homes", path, crs="bd09")
    lon, lat = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM worker_homes")).one()
    assert float(crs.geodesic_distance_m(lon, lat, 116.404, 39.915)) < 0.01


def test_csv_needs_a_declared_crs(tmp_path):
    path = tmp_path / "homes.csv"
    path.write_text("code,lon,lat,group,workers\nH1,116.4,39.9,courier,3\n")
    with pytest.raises(ConfigError, match="does not declare its coordinate system"):
        validate(read_table(path), "homes")


def test_gzipped_csv_and_bad_numbers(session, tmp_path):
    path = tmp_path / "homes.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(
            "code,lon,lat,group,workers\nH1,116.4,39.9,courier,3\n"
            "H2,abc,39.9,courier,2\nH3,116.4,39.9,astronaut,0\n"
        )
    with pytest.raises(InputValidationError) as caught:
        load_file(session, "homes", path, crs="wgs84")
    assert [(p.row, p.field) for p in caught.value.problems] == [
        (2, "geometry"),
        (3, "group"),
        (3, "workers"),
    ]
    assert count(session, "worker_homes") == 0


def test_geopackage_in_utm_is_converted(session, tmp_path):
    frame = gpd.GeoDataFrame(
        {"code": ["C1", "C2"], "site_type": ["subway_entrance", "street"], "capacity": [8, None]},
        geometry=[shapely.Point(447_000, 4_418_000), shapely.Point(448_000, 4_419_000)],
        crs=crs.UTM50N,
    )
    path = tmp_path / "candidates.gpkg"
    frame.to_file(path, driver="GPKG")
    report = load_file(session, "candidates", path)
    assert report.inserted == 2
    lon = session.execute(text("SELECT ST_X(geom) FROM candidate_sites WHERE code='C1'")).scalar()
    assert 116.3 < lon < 116.5


def test_shapefile_areas_with_level_option(session, tmp_path):
    frame = gpd.GeoDataFrame(
        {"code": ["A1"], "name_zh": ["甲"], "population": [100]},
        geometry=[shapely.geometry.shape(square(116.3, 39.9, 0.1))],
        crs=4326,
    )
    path = tmp_path / "areas.shp"
    frame.to_file(path)
    load_file(session, "areas", path, level="subdistrict")
    row = session.execute(text("SELECT level, GeometryType(geom) FROM areas")).one()
    assert tuple(row) == ("subdistrict", "MULTIPOLYGON")


def test_invalid_polygon_is_rejected_with_reason(session, tmp_path):
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[116, 39], [117, 40], [117, 39], [116, 40], [116, 39]]],
    }
    path = write_geojson(
        tmp_path / "a.geojson",
        [
            {
                "type": "Feature",
                "geometry": bowtie,
                "properties": {"code": "A1", "name_zh": "甲", "level": "district"},
            }
        ],
    )
    with pytest.raises(InputValidationError, match=r"not valid.*Self-intersection"):
        load_file(session, "areas", path)


def test_stations_get_their_district_from_the_polygon_and_outside_points_warn(session, tmp_path):
    area = {
        "type": "Feature",
        "geometry": square(116.0, 39.0, 1.0),
        "properties": {"code": "110999", "name_zh": "测试区", "level": "district"},
    }
    load_file(session, "areas", write_geojson(tmp_path / "d.geojson", [area]))
    path = write_geojson(
        tmp_path / "s.geojson", [station("IN", 116.5, 39.5), station("OUT", 118.5, 39.5)]
    )
    report = load_file(session, "stations", path)
    assert any("1 records lie outside" in w and "OUT" in w for w in report.warnings)
    districts = dict(session.execute(text("SELECT code, district_code FROM stations")).all())
    assert districts == {"IN": "110999", "OUT": None}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.geojson", None, "file does not exist"),
        ("stations.xlsx", "x", "unsupported file type"),
        ("broken.geojson", "{not json", "cannot be read"),
        ("list.geojson", json.dumps([1, 2]), "FeatureCollection is expected"),
        ("empty.geojson", json.dumps({"type": "FeatureCollection", "features": []}), "no records"),
    ],
)
def test_unreadable_files_name_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputValidationError, match=message) as caught:
        validate(read_table(path), "stations")
    assert name in str(caught.value)


def test_unknown_kind_is_refused(tmp_path):
    path = write_geojson(tmp_path / "s.geojson", [station("S1", 116.4, 39.9)])
    with pytest.raises(ConfigError, match="kind 'shops' is not one of"):
        validate(read_table(path), "shops")


def test_reloading_points_without_district_is_unchanged(session, tmp_path):
    area = {
        "type": "Feature",
        "geometry": square(116.0, 39.0, 1.0),
        "properties": {"code": "110999", "name_zh": "测试区", "level": "district"},
    }
    load_file(session, "areas", write_geojson(tmp_path / "d.geojson", [area]))
    path = write_geojson(tmp_path / "s.geojson", [station("IN", 116.5, 39.5)])
    load_file(session, "stations", path)
    again = load_file(session, "stations", path)
    assert (again.inserted, again.updated) == (0, 0)
