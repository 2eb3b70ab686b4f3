"""GET /v1/nearest: GeoJSON ordered by distance, China's coordinate systems, clear 422s."""

import datetime as dt

import pytest

from api.schemas import NearestCollection, Problem
from locator import capacity, crs
from locator.io import load_file
from tests.helpers import station, write_geojson


@pytest.fixture
def stations_line(session, tmp_path):
    """Four stations east of (116.40, 39.90), 1 km apart; the nearest closes at 18:00."""
    features = [
        station("K1", 116.4117, 39.90, opening_hours="Mo-Fr 09:00-18:00; PH off"),
        station(
            "K2",
            116.4234,
            39.90,
            opening_hours="24/7",
            beds=10,
            services=["hot_water", "microwave", "beds"],
        ),
        station("K3", 116.4351, 39.90, opening_hours="24/7", kind="smart_24h"),
        station("K4", 116.4468, 39.90, opening_hours="24/7", status="closed"),
    ]
    load_file(session, "stations", write_geojson(tmp_path / "s.geojson", features))


def get(client, **params):
    return client.get("/v1/nearest", params=params)


def test_ordered_by_distance_with_answers(client, stations_line):
    body = NearestCollection.model_validate(get(client, lon=116.40, lat=39.90, k=5).json())
    assert [f.id for f in body.features] == ["K1", "K2", "K3"]  # K4 is closed for good
    first = body.features[0].properties
    assert first.rank == 1 and first.distance_m == pytest.approx(1002, abs=5)
    assert first.bearing_deg == pytest.approx(90, abs=0.5)
    assert first.eta_min == pytest.approx(first.distance_m / 15000 * 60, abs=0.1)


def test_open_now_and_service_filters(client, stations_line):
    night = "2025-11-25T22:40:00+08:00"
    body = get(client, lon=116.40, lat=39.90, open="now", at=night).json()
    assert [f["id"] for f in body["features"]] == ["K2", "K3"]
    assert body["features"][0]["properties"]["hours"]["state"] == "open"
    meal = get(client, lon=116.40, lat=39.90, service=["hot_water", "microwave"]).json()
    assert [f["id"] for f in meal["features"]] == ["K2"]
    beds = get(client, lon=116.40, lat=39.90, unit="bed").json()
    assert [f["id"] for f in beds["features"]] == ["K2"]
    assert beds["features"][0]["properties"]["room_known"] is False  # never reported


def test_held_beds_are_not_free(client, session, stations_line):
    """A bed kept for someone on the way is not offered to the next courier."""
    now = dt.datetime.now(dt.UTC)
    capacity.set_count(session, "K2", "bed", 8, actor="test", now=now)
    for _ in range(2):
        capacity.place_hold(session, "K2", "bed", actor="test", now=now)
    assert get(client, lon=116.40, lat=39.90, unit="bed").json()["features"] == []  # known full
    listed = get(client, lon=116.40, lat=39.90).json()["features"][1]["properties"]
    figures = listed["capacity"]["bed"]
    assert (figures["occupied"], figures["held"], figures["free"]) == (8, 2, 0)
    capacity.check_out(session, "K2", "bed", actor="test", now=now)
    again = get(client, lon=116.40, lat=39.90, unit="bed").json()["features"][0]["properties"]
    assert again["capacity"]["bed"]["free"] == 1 and again["room_known"] is True


def test_gcj02_in_and_out(client, stations_line):
    gcj_lon, gcj_lat = (float(v) for v in crs.wgs84_to_gcj02(116.40, 39.90))
    body = get(client, lon=gcj_lon, lat=gcj_lat, coordsys="gcj02", k=1).json()
    feature = body["features"][0]
    assert feature["id"] == "K1"
    assert feature["properties"]["distance_m"] == pytest.approx(1002, abs=5)
    lon, lat = feature["geometry"]["coordinates"]
    back_lon, back_lat = crs.gcj02_to_wgs84(lon, lat)
    assert float(crs.geodesic_distance_m(back_lon, back_lat, 116.4117, 39.90)) < 0.05
    assert body["query"]["coordsys"] == "gcj02"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"lon": 200, "lat": 39.9}, "lon '200'"),
        ({"lon": 116.4, "lat": 95}, "lat '95'"),
        ({"lon": 116.4, "lat": 39.9, "k": 0}, "k '0'"),
        ({"lon": 116.4, "lat": 39.9, "k": 51}, "k '51'"),
        ({"lon": 116.4, "lat": 39.9, "service": "sauna"}, "service 'sauna'"),
        ({"lon": 116.4, "lat": 39.9, "at": "2025-11-25T22:40:00"}, "must carry a time zone"),
        ({"lon": 116.4, "lat": 39.9, "coordsys": "mars"}, "coordsys 'mars'"),
        ({"lat": 39.9}, "lon: Field required"),
    ],
)
def test_bad_requests_are_422_problems_naming_the_parameter(client, params, needle):
    response = get(client, **params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert needle in Problem.model_validate(response.json()).detail


def test_a_dropped_read_connection_is_replaced_not_shown(sample_engine, tmp_path):
    """Read connections are not pinged before use: when the server drops them (a restart),
    the next request still gets its answer."""
    import httpx
    from sqlalchemy import text

    from locator.config import Settings
    from tests.live import running_service

    settings = Settings(
        database_url=sample_engine.url.render_as_string(hide_password=False), state_dir=tmp_path
    )
    params = {"lon": 116.40, "lat": 39.90, "k": 3}
    with running_service(settings) as base, httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(4):
            assert http.get("/v1/nearest", params=params).status_code == 200
        with sample_engine.connect() as conn:
            dropped = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'locator-api-read'"
                )
            ).scalar_one()
        assert dropped >= 1
        answers = [http.get("/v1/nearest", params=params) for _ in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        assert len(answers[0].json()["features"]) == 3
