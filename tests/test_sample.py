"""The Beijing sample loads whole, and the database holds exactly what the files say."""

import csv
import gzip
import json
from collections import Counter

import pytest
from sqlalchemy import text

from locator.config import Settings
from locator.sample import SAMPLE_FILES, district_summary, load_sample

SAMPLE_DIR = Settings().sample_dir


def features(name):
    path = SAMPLE_DIR / name
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)["features"]


def homes():
    with gzip.open(SAMPLE_DIR / "homes.synthetic.csv.gz", "rt", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_sample_file_is_present_and_synthetic_ones_say_so():
    for sample_file in SAMPLE_FILES:
        assert (SAMPLE_DIR / sample_file.name).exists(), sample_file.name
    for name in ("stations.synthetic.geojson.gz", "candidates.synthetic.geojson.gz"):
        with gzip.open(SAMPLE_DIR / name, "rt", encoding="utf-8") as handle:
            assert json.load(handle)["synthetic"] is True


def test_stations_per_district_equal_the_file(sample_session):
    expected = Counter(
        f["properties"]["district"] for f in features("stations.synthetic.geojson.gz")
    )
    loaded = dict(
        sample_session.execute(
            text("SELECT district_code, count(*) FROM stations GROUP BY district_code")
        ).all()
    )
    assert loaded == dict(expected)
    assert loaded["110114"] == 1094  # Changping, as reported by its union
    assert len(loaded) == 16


def test_areas_equal_the_files(sample_session):
    loaded = dict(
        sample_session.execute(text("SELECT level, count(*) FROM areas GROUP BY level")).all()
    )
    assert loaded == {
        "district": len(features("districts.geojson")),
        "subdistrict": len(features("subdistricts.geojson")),
        "grid": len(features("grid_1km.geojson.gz")),
    }
    assert loaded["district"] == 16 and loaded["subdistrict"] == 29
    population = sample_session.execute(
        text("SELECT sum(population) FROM areas WHERE level = 'district'")
    ).scalar_one()
    assert population == 21_893_095  # 7th national census, 2020
    grid = sample_session.execute(
        text("SELECT sum(population) FROM areas WHERE level = 'grid'")
    ).scalar_one()
    assert grid == 21_893_095


def test_homes_and_workers_equal_the_file(sample_session):
    rows = homes()
    count, workers = sample_session.execute(
        text("SELECT count(*), sum(workers) FROM worker_homes")
    ).one()
    assert (count, workers) == (len(rows), sum(int(r["workers"]) for r in rows))
    by_group = dict(
        sample_session.execute(
            text("SELECT worker_group, sum(workers) FROM worker_homes GROUP BY worker_group")
        ).all()
    )
    expected = Counter()
    for row in rows:
        expected[row["group"]] += int(row["workers"])
    assert by_group == dict(expected)


def test_candidates_and_capacity(sample_session):
    expected = features("candidates.synthetic.geojson.gz")
    assert sample_session.execute(text("SELECT count(*) FROM candidate_sites")).scalar_one() == len(
        expected
    )
    beds_file = sum(
        (f["properties"].get("beds") or 0) for f in features("stations.synthetic.geojson.gz")
    )
    beds_db = sample_session.execute(
        text("SELECT sum(maximum) FROM station_capacity WHERE unit = 'bed'")
    ).scalar_one()
    assert beds_db == beds_file


def test_every_station_lies_in_its_district(sample_session):
    misplaced = sample_session.execute(
        text(
            "SELECT count(*) FROM stations s JOIN areas a ON a.code = s.district_code "
            "WHERE NOT ST_Covers(a.geom, s.geom)"
        )
    ).scalar_one()
    assert misplaced == 0


def test_reloading_the_sample_changes_nothing(sample_session):
    before = sample_session.execute(
        text(
            "SELECT count(*), md5(string_agg(code || ST_AsText(geom), ',' ORDER BY code)) "
            "FROM stations"
        )
    ).one()
    reports = load_sample(sample_session, SAMPLE_DIR)
    assert all((r.inserted, r.updated) == (0, 0) for r in reports)
    after = sample_session.execute(
        text(
            "SELECT count(*), md5(string_agg(code || ST_AsText(geom), ',' ORDER BY code)) "
            "FROM stations"
        )
    ).one()
    assert tuple(before) == tuple(after)
    events = sample_session.execute(
        text("SELECT count(*) FROM occupancy_events WHERE action = 'set_maximum'")
    ).scalar_one()
    units = sample_session.execute(text("SELECT count(*) FROM station_capacity")).scalar_one()
    assert events == units  # maxima unchanged by the reload: no new events


def test_summary_adds_up(sample_session):
    rows = district_summary(sample_session)
    assert len(rows) == 16
    assert (
        sum(r["stations"] for r in rows)
        == sample_session.execute(text("SELECT count(*) FROM stations")).scalar_one()
    )
    assert sum(r["population"] for r in rows) == 21_893_095


@pytest.mark.parametrize(
    "path",
    ["/v1/stations?district=110114&limit=1", "/v1/districts?level=subdistrict&parent=110108"],
)
def test_api_serves_the_sample(sample_client, path):
    body = sample_client.get(path).json()
    assert body["numberMatched"] == (1094 if "stations" in path else 29)


def test_simplified_district_outlines_are_light_enough_for_a_phone(sample_client):
    full = sample_client.get("/v1/districts").content
    light = sample_client.get("/v1/districts", params={"simplify_m": 200})
    assert light.json()["numberReturned"] == 16
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in light.json()["features"])
    assert len(light.content) < 150_000 < len(full)
