"""The synthetic national station set: sizes, codes, vocabularies, ranges, reproducibility."""

import gzip
import json
from collections import Counter

import numpy as np
import pytest

from locator import vocab
from locator.hours import syntax_problem
from locator.io import CAPACITY_FIELDS, SPECS, read_table, validate
from locator.synthetic import (
    SOURCE,
    city_centres,
    national_stations,
    on_land,
    query_points,
    write_geojson,
)

N = 3000


@pytest.fixture(scope="module")
def stations():
    return national_stations(N, seed=7)


def test_count_and_unique_codes(stations):
    assert len(stations) == N
    assert len({f["properties"]["code"] for f in stations}) == N


def test_every_code_is_a_vocabulary_code(stations):
    for feature in stations:
        props = feature["properties"]
        assert props["kind"] in vocab.KINDS
        assert props["status"] in vocab.STATUSES
        assert not vocab.unknown_terms(props["services"], vocab.SERVICES)
        assert not vocab.unknown_terms(props["groups"], vocab.GROUPS)
        assert 1 <= props["stars"] <= 5


def test_properties_are_those_of_the_sample_and_the_loader(stations):
    known = {f.name for f in SPECS["stations"].all_fields}
    for feature in stations[:50]:
        assert set(feature["properties"]) == known
        assert feature["properties"]["source"] == SOURCE
    hours = {f["properties"]["opening_hours"] for f in stations}
    assert all(syntax_problem(h) is None for h in hours)
    for feature in stations:
        for name in CAPACITY_FIELDS:
            assert 0 <= feature["properties"][name] <= 100


def test_points_lie_in_china_and_on_land(stations):
    xy = np.array([f["geometry"]["coordinates"] for f in stations])
    assert (xy[:, 0] >= 75).all() and (xy[:, 0] <= 135).all()
    assert (xy[:, 1] >= 18).all() and (xy[:, 1] <= 53).all()
    assert on_land(xy[:, 0], xy[:, 1]).all()


def test_the_mix_follows_the_beijing_sample(stations):
    kinds = Counter(f["properties"]["kind"] for f in stations)
    assert kinds["union_post"] / N == pytest.approx(0.473, abs=0.04)
    assert kinds["shop_front"] / N == pytest.approx(0.362, abs=0.04)
    assert kinds["smart_24h"] / N == pytest.approx(0.112, abs=0.03)
    beds = [f for f in stations if f["properties"]["beds"] > 0]
    assert {f["properties"]["kind"] for f in beds} == {"apartment"}
    assert all("beds" in f["properties"]["services"] for f in beds)
    assert all("phone_charging" in f["properties"]["services"] for f in stations)


def test_the_same_seed_gives_the_same_stations_and_another_seed_does_not(stations):
    assert national_stations(N, seed=7) == stations
    assert national_stations(N, seed=8) != stations
    assert national_stations(10, seed=7)[0]["properties"]["kind"] in vocab.KINDS


def test_city_centres():
    centres = city_centres(5)
    assert len(centres) == 300
    assert len({c.code for c in centres}) == 300
    assert centres == city_centres(5)
    assert on_land([c.lon for c in centres], [c.lat for c in centres]).all()
    assert centres[0].name_en == "Shanghai"
    assert all(c.population_m > 0 and c.spread_km > 0 for c in centres)
    with pytest.raises(ValueError, match="count 10 must be at least"):
        city_centres(5, count=10)


def test_query_points_are_reproducible_and_on_land():
    points = query_points(500, seed=3)
    assert points.shape == (500, 2)
    assert np.array_equal(points, query_points(500, seed=3))
    assert on_land(points[:, 0], points[:, 1]).all()


def test_write_geojson_marks_the_file_synthetic(tmp_path, stations):
    path = write_geojson(tmp_path / "stations.geojson.gz", stations[:20])
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    assert document["synthetic"] is True
    assert document["type"] == "FeatureCollection"
    assert document["features"] == stations[:20]


def test_the_loader_accepts_the_file_whole(tmp_path, stations):
    path = write_geojson(tmp_path / "stations.geojson", stations)
    table = validate(read_table(path), "stations")
    assert len(table.rows) == N
    assert table.warnings == []
