"""GET /v1/coverage and GET /v1/gaps on the hand-made layout and on the Beijing sample."""

from __future__ import annotations

import csv
import io

import pytest

from api.schemas import CoverageAnswer, GapsAnswer
from tests.test_coverage import H3, H6, H7, cell_of, layout  # noqa: F401  (the fixture)


def areas_by_code(body: dict) -> dict[str, dict]:
    return {area["code"]: area for area in body["areas"]}


def test_coverage_json_has_the_known_answers(client, layout):  # noqa: F811
    response = client.get("/v1/coverage", params={"level": "district"})
    assert response.status_code == 200, response.text
    body = CoverageAnswer.model_validate(response.json()).model_dump()
    d1, d2 = areas_by_code(body)["D1"], areas_by_code(body)["D2"]
    assert (d1["workers"], d1["covered_500"], d1["covered_1000"], d1["stations"]) == (62, 22, 29, 2)
    assert (d2["workers"], d2["covered_500"], d2["places"]) == (13, 13, 20)
    assert body["totals"]["workers"] == 75 and body["totals"]["covered_1000"] == 42
    assert body["options"]["privacy_k"] == 10 and body["options"]["radii_m"] == [500.0, 1000.0]


def test_suppressed_areas_are_null_in_every_format(client, layout):  # noqa: F811
    body = client.get("/v1/coverage", params={"level": "subdistrict"}).json()
    s1 = areas_by_code(body)["S1"]
    assert s1["suppressed"] is True
    assert s1["workers"] is None and s1["share_500"] is None and s1["mean_m"] is None
    assert s1["suppressed_reason"] == "fewer_than_k"
    # S2 (13 workers) is hidden so that the totals cannot give S1 back (complementary)
    s2 = areas_by_code(body)["S2"]
    assert s2["suppressed"] is True and s2["suppressed_reason"] == "complementary"
    assert s2["workers"] is None and s2["covered_1000"] is None and s2["p90_m"] is None
    geo = client.get("/v1/coverage", params={"level": "subdistrict", "format": "geojson"})
    assert geo.headers["content-type"].startswith("application/geo+json")
    features = {f["id"]: f for f in geo.json()["features"]}
    assert features["S1"]["properties"]["workers"] is None
    assert features["S2"]["properties"]["workers"] is None
    assert features["S2"]["properties"]["suppressed_reason"] == "complementary"
    assert features["S2"]["geometry"]["type"] == "MultiPolygon"
    text = client.get("/v1/coverage", params={"level": "subdistrict", "format": "csv"}).text
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["S1"]["workers"] == "" and rows["S2"]["workers"] == ""
    assert rows["S2"]["suppressed_reason"] == "complementary" and rows["S2"]["share_500"] == ""


def test_station_filters_reach_the_answer(client, layout):  # noqa: F811
    params = {"level": "district", "kind": "union_post", "radius": [500]}
    body = client.get("/v1/coverage", params=params).json()
    assert body["totals"]["covered_500"] == 5 and body["totals"]["stations"] == 1
    night = client.get("/v1/coverage", params={"hour_of_week": 70, "radius": 500}).json()
    assert night["totals"]["stations"] == 1  # Wednesday 22:00: only the 24-hour station A
    assert "open Wednesday 22:00" in night["options"]["description"]


def test_gaps_ranked_merged_and_as_cells(client, layout):  # noqa: F811
    response = client.get("/v1/gaps", params={"gap_threshold": 10})
    assert response.status_code == 200, response.text
    body = GapsAnswer.model_validate(response.json()).model_dump()
    assert [g["uncovered_workers"] for g in body["gaps"]] == [22, 11]
    assert [g["cells"] for g in body["gaps"]] == [2, 1]
    cells = client.get("/v1/gaps", params={"gap_threshold": 10, "cells": True}).json()["gaps"]
    assert [c["code"] for c in cells] == [cell_of(H6), cell_of(H3), cell_of(H7)]
    geo = client.get("/v1/gaps", params={"gap_threshold": 10, "format": "geojson"}).json()
    assert [f["properties"]["rank"] for f in geo["features"]] == [1, 2]
    assert geo["features"][0]["geometry"]["type"] == "Polygon"
    assert client.get("/v1/gaps").json()["gaps"] == []  # default threshold 50


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"radius": -5}, "radii_m -5.0"),
        ({"radius": [100, 200, 300, 400, 500]}, "at most 4"),
        ({"kind": "palace"}, "kind"),
        ({"open_at": "2026-11-18T10:00:00"}, "must carry a time zone"),
        ({"hour_of_week": 200}, "hour_of_week"),
        ({"open_at": "2026-11-18T10:00:00+08:00", "holiday": True}, "cannot be combined"),
        ({"level": "county"}, "level"),
    ],
)
def test_bad_input_is_a_problem_naming_it(client, params, needle):
    response = client.get("/v1/coverage", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert needle in response.text


@pytest.mark.slow
def test_sample_coverage_through_the_api(sample_client):
    body = sample_client.get("/v1/coverage", params={"level": "district"}).json()
    assert body["totals"]["workers"] == 400_022
    assert len(body["areas"]) == 16
    assert sum(a["workers"] for a in body["areas"]) == 400_022
    again = sample_client.get("/v1/coverage", params={"level": "grid", "format": "csv"})
    assert again.status_code == 200 and again.text.count("\n") == 16_988 + 1
