import pytest

from api.schemas import AreaCollection, AreaFeature, Problem, StationCollection, StationFeature
from locator.db import head_revision
from locator.io import load_file
from tests.helpers import square, station, write_geojson


@pytest.fixture
def three_stations(session, tmp_path):
    """Three stations on a line east of Tiananmen, 0.01 degrees apart, in one district."""
    area = {
        "type": "Feature",
        "geometry": square(116.0, 39.5, 1.0),
        "properties": {
            "code": "110101",
            "name_zh": "东城区",
            "name_en": "Dongcheng",
            "level": "district",
            "population": 708829,
        },
    }
    load_file(session, "areas", write_geojson(tmp_path / "d.geojson", [area]))
    features = [
        station("A", 116.40, 39.91, kind="smart_24h", beds=0, chargers=4),
        station("B", 116.41, 39.91),
        station("C", 116.42, 39.91, kind="apartment", beds=21),
    ]
    load_file(session, "stations", write_geojson(tmp_path / "s.geojson", features))


def assert_problem(response, status):
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body = Problem.model_validate(response.json())
    assert body.status == status
    assert "Traceback" not in response.text
    return body


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready == {"status": "ok", "database": "ok", "schema_revision": head_revision()}


def test_stations_collection_pages_with_links(client, three_stations):
    body = client.get("/v1/stations", params={"limit": 2}).json()
    page = StationCollection.model_validate(body)
    assert [f.id for f in page.features] == ["A", "B"]
    assert (page.numberMatched, page.numberReturned) == (3, 2)
    assert {link.rel for link in page.links} == {"self", "next"}
    following = client.get(next(li.href for li in page.links if li.rel == "next")).json()
    assert [f["id"] for f in following["features"]] == ["C"]
    assert {link["rel"] for link in following["links"]} == {"self", "prev"}


def test_stations_bbox_and_kind_filters(client, three_stations):
    inside = client.get("/v1/stations", params={"bbox": "116.405,39.9,116.425,39.92"}).json()
    assert [f["id"] for f in inside["features"]] == ["B", "C"]
    apartments = client.get("/v1/stations", params={"kind": "apartment"}).json()
    assert [f["id"] for f in apartments["features"]] == ["C"]


def test_station_by_code_carries_sign_and_capacity(client, three_stations):
    feature = StationFeature.model_validate(client.get("/v1/stations/C").json())
    assert feature.geometry.coordinates == [116.42, 39.91]
    assert feature.properties.district == "110101"
    assert feature.properties.capacity["bed"].maximum == 21
    assert feature.properties.capacity["bed"].reported_at is None


def test_unknown_station_is_a_404_problem(client):
    body = assert_problem(client.get("/v1/stations/NOPE"), 404)
    assert "NOPE" in body.detail


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"bbox": "1,2,3"}, "four numbers"),
        ({"bbox": "116,95,117,96"}, "lat must satisfy"),
        ({"limit": 0}, "limit"),
        ({"kind": "spaceship"}, "kind"),
    ],
)
def test_bad_station_queries_are_422_problems(client, params, needle):
    body = assert_problem(client.get("/v1/stations", params=params), 422)
    assert needle in body.detail


@pytest.mark.parametrize(
    ("path", "name"), [("/v1/stations", "district"), ("/v1/districts", "parent")]
)
def test_a_nul_character_in_free_text_is_a_422_problem(client, path, name):
    # PostgreSQL text cannot hold one: the query would fail in the driver, a 500
    body = assert_problem(client.get(path, params={name: "11\x0001"}), 422)
    assert body.detail == f"{name} '11\\x0001': must not contain a NUL character"


def test_districts(client, three_stations):
    collection = AreaCollection.model_validate(client.get("/v1/districts").json())
    assert [f.id for f in collection.features] == ["110101"]
    assert collection.features[0].properties.population == 708829
    one = AreaFeature.model_validate(client.get("/v1/districts/110101").json())
    assert one.geometry.type == "MultiPolygon"
    assert client.get("/v1/districts", params={"level": "grid"}).json()["numberMatched"] == 0


def test_vocabularies_have_both_languages(client):
    body = client.get("/v1/vocabularies").json()
    hot_water = next(t for t in body["service"] if t["code"] == "hot_water")
    assert hot_water == {"code": "hot_water", "zh": "热水", "en": "hot water"}


def test_openapi_documents_problem_responses(client):
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/v1/stations/{code}"]["get"]["responses"]
    assert "application/problem+json" in responses["404"]["content"]
