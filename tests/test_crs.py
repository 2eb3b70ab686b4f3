import numpy as np
import pytest

from locator import crs
from locator.errors import CRSError

# Published reference vectors (the coordtransform / eviltransform test suites).
WGS = (116.404, 39.915)
GCJ = (116.41024449916938, 39.91640428150164)
BD_FROM_GCJ_INPUT = (116.41036949371029, 39.92133699351021)  # gcj02_to_bd09(116.404, 39.915)
BD = (116.41662724378733, 39.922699552216216)


def test_wgs84_to_gcj02_matches_reference():
    lon, lat = crs.wgs84_to_gcj02(*WGS)
    assert (float(lon), float(lat)) == pytest.approx(GCJ, abs=1e-12)


def test_gcj02_to_bd09_matches_reference():
    lon, lat = crs.gcj02_to_bd09(*WGS)
    assert (float(lon), float(lat)) == pytest.approx(BD_FROM_GCJ_INPUT, abs=1e-12)


def test_wgs84_to_bd09_matches_reference():
    lon, lat = crs.wgs84_to_bd09(*WGS)
    assert (float(lon), float(lat)) == pytest.approx(BD, abs=1e-12)


@pytest.mark.parametrize(
    ("convert", "source"),
    [(crs.gcj02_to_wgs84, GCJ), (crs.bd09_to_wgs84, BD)],
)
def test_inverse_recovers_known_wgs84_point_within_a_millimetre(convert, source):
    lon, lat = convert(*source)
    distance = crs.geodesic_distance_m(lon, lat, *WGS)
    assert float(distance) < 0.001


def test_round_trips_over_beijing_within_a_millimetre():
    rng = np.random.default_rng(7)
    lon = rng.uniform(115.4, 117.5, 10_000)
    lat = rng.uniform(39.4, 41.1, 10_000)
    for forward, inverse in [
        (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84),
        (crs.wgs84_to_bd09, crs.bd09_to_wgs84),
    ]:
        back_lon, back_lat = inverse(*forward(lon, lat))
        assert crs.geodesic_distance_m(lon, lat, back_lon, back_lat).max() < 0.001


def test_gcj02_offset_in_beijing_is_hundreds_of_metres():
    lon, lat = crs.wgs84_to_gcj02(*WGS)
    assert 400 < float(crs.geodesic_distance_m(*WGS, lon, lat)) < 800


def test_points_outside_china_are_not_offset():
    lon, lat = crs.wgs84_to_gcj02(2.35, 48.85)
    assert (float(lon), float(lat)) == (2.35, 48.85)


@pytest.mark.parametrize(
    ("text", "name", "epsg"),
    [
        ("wgs84", "wgs84", 4326),
        ("WGS-84", "wgs84", 4326),
        ("4326", "wgs84", 4326),
        ("gcj02", "gcj02", None),
        ("GCJ-02", "gcj02", None),
        ("bd09", "bd09", None),
        ("EPSG:32650", "EPSG:32650", 32650),
        (32650, "EPSG:32650", 32650),
    ],
)
def test_parse_crs(text, name, epsg):
    parsed = crs.parse_crs(text)
    assert (parsed.name, parsed.epsg) == (name, epsg)


@pytest.mark.parametrize("text", ["mercator", "EPSG:999999", "gcj"[:2]])
def test_parse_crs_rejects_unknown_names_and_lists_the_allowed(text):
    with pytest.raises(CRSError, match="crs"):
        crs.parse_crs(text)


def test_utm_input_converts_to_wgs84():
    lon, lat = crs.to_wgs84(447_000.0, 4_418_000.0, crs.parse_crs("EPSG:32650"))
    assert 116.3 < float(lon) < 116.5 and 39.8 < float(lat) < 40.0
    back = crs.from_wgs84(lon, lat, crs.parse_crs("EPSG:32650"))
    assert float(back[0]) == pytest.approx(447_000.0, abs=1e-6)
