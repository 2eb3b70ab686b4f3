"""Siting plans from the store: a hand-checked layout on real PostGIS (exact geodesic radius,
existing stations, district filter), records that re-run to the same answer, comparisons,
files, the API with its roles, the CLI, and a plan for Changping on the Beijing sample."""

from __future__ import annotations

import json

import pytest
from pyproj import Geod
from sqlalchemy import text
from typer.testing import CliRunner

from api.routes.plans import PlanOut
from api.schemas import Problem
from locator import keys
from locator.errors import ConfigError, NotFoundError
from locator.plans import (
    PlanRequest,
    compare_plans,
    coverage_pairs,
    covered_by_stations,
    create_plan,
    export_plan,
    get_plan,
    plan_features,
    rerun_plan,
)

GEOD = Geod(ellps="WGS84")
ORIGIN = (116.23, 40.22)  # Changping


def at(east_m: float, north_m: float, origin: tuple[float, float] = ORIGIN) -> tuple[float, float]:
    """The point ``east_m`` east then ``north_m`` north of ``origin`` (geodesic)."""
    lon, lat, _ = GEOD.fwd(*origin, 90.0, east_m)
    lon, lat, _ = GEOD.fwd(lon, lat, 0.0, north_m)
    return float(lon), float(lat)


C2 = at(6000, 0)
# Homes: code, position, workers. H1 is covered by the existing station; H6 lies 999.99 m from
# candidate C2 (covered), H7 1000.01 m (not covered): the radius is exact on the ellipsoid.
HOMES = [
    ("H1", at(0, 500), 3),
    ("H2", at(3000, 0), 10),
    ("H3", at(3000, 900), 5),
    ("H4", C2, 7),
    ("H6", GEOD.fwd(*C2, 0.0, 999.99)[:2], 4),
    ("H7", GEOD.fwd(*C2, 180.0, 1000.01)[:2], 6),
    ("H9", at(20_000, 0), 50),  # outside the district
]
CANDIDATES = [
    ("C1", at(3000, 450), 40),
    ("C2", C2, 5),
    ("C3", at(3000, -800), None),
    ("C9", at(20_000, 0), None),  # outside the district
]


@pytest.fixture
def layout(session):
    """One district (TST) around the layout, a station at the origin, homes, candidates."""
    west, south = at(-2000, -3000)
    east, north = at(9000, 3000)
    session.execute(
        text(
            "INSERT INTO areas (code, level, name_zh, name_en, geom) VALUES ('TST', 'district', "
            "'测试区', 'Testing', ST_Multi(ST_MakeEnvelope(:w, :s, :e, :n, 4326)))"
        ),
        {"w": west, "s": south, "e": east, "n": north},
    )
    session.execute(
        text(
            "INSERT INTO stations (code, name_zh, kind, geom, opening_hours) VALUES "
            "('S1', '驿站', 'union_post', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), '24/7')"
        ),
        {"lon": ORIGIN[0], "lat": ORIGIN[1]},
    )
    for code, (lon, lat), workers in HOMES:
        session.execute(
            text(
                "INSERT INTO worker_homes (code, geom, worker_group, workers) VALUES "
                "(:code, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'courier', :workers)"
            ),
            {"code": code, "lon": lon, "lat": lat, "workers": workers},
        )
    for code, (lon, lat), capacity in CANDIDATES:
        session.execute(
            text(
                "INSERT INTO candidate_sites (code, name, site_type, capacity, district_code, "
                "geom) VALUES (:code, :code, 'street', :capacity, "
                "CASE WHEN :code = 'C9' THEN NULL ELSE 'TST' END, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            ),
            {"code": code, "lon": lon, "lat": lat, "capacity": capacity},
        )
    return session


def test_radius_is_exact_on_the_ellipsoid():
    homes = [h[1] for h in HOMES]
    pairs = coverage_pairs(homes, [C2], 1000.0).toarray()[:, 0]
    assert [h[0] for h, hit in zip(HOMES, pairs, strict=True) if hit] == ["H4", "H6"]


def test_existing_stations_cover_exactly_to_the_radius():
    homes = [h[1] for h in HOMES]
    covered = covered_by_stations(homes, [C2], 1000.0)
    assert [h[0] for h, hit in zip(HOMES, covered, strict=True) if hit] == ["H4", "H6"]
    assert not covered_by_stations(homes, [], 1000.0).any()


def test_plan_by_hand(layout):
    plan = create_plan(layout, PlanRequest(new_sites=2, radius_m=1000, district="测试区"))
    assert plan.status == "optimal" and plan.gap == pytest.approx(0.0)
    assert [(s["code"], s["workers_added"]) for s in plan.sites] == [("C1", 15.0), ("C2", 11.0)]
    assert plan.covered_before == 3.0  # H1, by the existing station
    assert plan.demand_total == 35.0  # H9 lies outside the district
    assert plan.covered_after == 29.0 and plan.sites[-1]["running_total"] == 29.0
    assert plan.results["sizes"]["candidates_in"] == 3  # C9 lies outside


def test_capacities_required_forbidden_quotas(layout):
    capped = create_plan(
        layout, PlanRequest(new_sites=2, radius_m=1000, district="TST", capacitated=True)
    )
    # C2 serves at most 5 of its 11 workers; C3's only home (H2) is C1's already.
    solved = get_plan(layout, capped.id, privacy_k=1)
    assert [(s["code"], s["workers_added"]) for s in solved.sites] == [("C1", 15.0), ("C2", 5.0)]
    # as shown (k = 10): C2's 5 workers hidden, and C1's 15 too, or the objective (20) minus
    # them would give C2's away; the plan's own total stays
    shown = [(s["code"], s["workers_added"], s["running_total"]) for s in capped.sites]
    assert shown == [("C1", None, None), ("C2", None, 23.0)]
    assert capped.objective == 20.0
    assert capped.privacy == {"k": 10, "sites_suppressed": 2, "objective_suppressed": False}
    forced = create_plan(
        layout,
        PlanRequest(
            new_sites=2, radius_m=1000, district="TST", required=("C3",), forbidden=("C1",)
        ),
    )
    assert [s["code"] for s in forced.sites] == ["C3", "C2"] and forced.sites[0]["required"]
    assert forced.objective == pytest.approx(21.0)
    quota = create_plan(
        layout, PlanRequest(new_sites=2, radius_m=1000, district="TST", quotas={"测试区": 1})
    )
    assert [s["code"] for s in quota.sites] == ["C1"]


def test_rerun_reproduces_and_compare(layout):
    first = create_plan(layout, PlanRequest(new_sites=2, radius_m=1000, district="TST"))
    old, again = rerun_plan(layout, first.id)
    assert again.id != first.id and again.data_version == first.data_version
    assert again.sites == first.sites and again.objective == first.objective
    other = create_plan(layout, PlanRequest(new_sites=1, radius_m=1000, district="TST"))
    diff = compare_plans(layout, first.id, other.id)
    assert diff.removed == ["C2"] and diff.added == [] and diff.kept == ["C1"]
    assert diff.covered_difference == pytest.approx(-11.0) and diff.same_data
    layout.execute(text("UPDATE worker_homes SET workers = 8 WHERE code = 'H4'"))
    changed = create_plan(layout, old.request)
    assert changed.data_version != first.data_version
    assert not compare_plans(layout, first.id, changed.id).same_data


def test_plan_files(layout, tmp_path):
    plan = create_plan(layout, PlanRequest(new_sites=2, radius_m=1000, district="TST"))
    paths = export_plan(plan, tmp_path)
    assert paths["curve"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    geojson = json.loads(paths["geojson"].read_text())
    assert [f["properties"]["code"] for f in geojson["features"]] == ["C1", "C2"]
    assert paths["csv"].read_text().splitlines()[1].startswith("1,C1,C1,TST,40,False,15.0,18.0")
    assert plan_features(plan) == geojson


def test_few_workers_are_hidden_in_every_output(layout, tmp_path, client):
    # capacitated: C2 adds 5 workers (< k = 10), and the objective would give it away from C1
    plan = create_plan(
        layout, PlanRequest(new_sites=2, radius_m=1000, district="TST", capacitated=True)
    )
    paths = export_plan(plan, tmp_path)
    rows = paths["csv"].read_text().splitlines()
    assert rows[1].startswith("1,C1,C1,TST,40,False,,,") and rows[2].startswith("2,C2,C2,")
    assert ",5.0," not in rows[2] and ",,23.0," in rows[2]
    features = json.loads(paths["geojson"].read_text())["features"]
    assert [f["properties"]["workers_added"] for f in features] == [None, None]
    summary = json.loads(paths["summary"].read_text())
    assert summary["objective"] == 20.0 and summary["privacy"]["sites_suppressed"] == 2
    assert all(b["added"] is None or b["added"] >= 10 for b in summary["curve_beyond"])
    secret = keys.create_key(layout, "analyst", "analyst")[0]
    answer = client.get(f"/v1/plans/{plan.id}", headers=_auth(secret)).json()
    assert [s["workers_added"] for s in answer["sites"]] == [None, None]
    from maps.siting import _popup

    popup = _popup({**plan.sites[1], "name": "C2"})
    assert "workers added: hidden (privacy)" in popup and "running total 23" in popup
    # the figures as solved, with a threshold of one worker
    assert get_plan(layout, plan.id, privacy_k=1).sites[1]["workers_added"] == 5.0


def test_bad_requests_are_named(layout):
    with pytest.raises(NotFoundError, match="district '火星区' is not a loaded district"):
        create_plan(layout, PlanRequest(new_sites=2, radius_m=1000, district="火星区"))
    with pytest.raises(ConfigError, match="required: unknown candidate 'NOPE'"):
        create_plan(layout, PlanRequest(new_sites=2, radius_m=1000, required=("NOPE",)))
    with pytest.raises(ConfigError, match="radius_m must be > 0 and <= 50000, got -5"):
        PlanRequest(new_sites=2, radius_m=-5).validate()
    with pytest.raises(ConfigError, match="demand 'offices' must be one of homes, grid"):
        PlanRequest(new_sites=2, radius_m=10, demand="offices").validate()
    with pytest.raises(ConfigError, match="quotas: 'Mars' is not a loaded district"):
        create_plan(layout, PlanRequest(new_sites=2, radius_m=1000, quotas={"Mars": 1}))
    with pytest.raises(NotFoundError, match="plan 999999 does not exist"):
        get_plan(layout, 999999)


def test_api_roles_and_answers(layout, client):
    secrets = {
        role: keys.create_key(layout, role, role, stations=("S1",) if role == "keeper" else ())[0]
        for role in ("admin", "analyst", "keeper")
    }
    body = {"new_sites": 2, "radius_m": 1000, "district": "TST"}
    assert client.post("/v1/plans", json=body).status_code == 401
    refused = client.post("/v1/plans", json=body, headers=_auth(secrets["keeper"]))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    made = client.post("/v1/plans", json=body, headers=_auth(secrets["analyst"]))
    assert made.status_code == 201, made.text
    plan = PlanOut.model_validate(made.json())
    assert [s.code for s in plan.sites] == ["C1", "C2"] and plan.created_by == "analyst"
    read = client.get(f"/v1/plans/{plan.id}", headers=_auth(secrets["admin"]))
    assert PlanOut.model_validate(read.json()) == plan
    geo = client.get(f"/v1/plans/{plan.id}/geojson", headers=_auth(secrets["admin"]))
    assert geo.headers["content-type"] == "application/geo+json"
    assert [f["properties"]["rank"] for f in geo.json()["features"]] == [1, 2]
    assert client.get(f"/v1/plans/{plan.id}").status_code == 401
    missing = client.get("/v1/plans/999999", headers=_auth(secrets["admin"]))
    assert missing.status_code == 404
    for bad, where in (
        ({**body, "radius_m": -1}, "radius_m"),
        ({**body, "required": ["NOPE"]}, "NOPE"),
        ({**body, "district": "火星区"}, "火星区"),
        ({**body, "time_limit_s": 3000}, "time_limit_s"),
        ({**body, "colour": "red"}, "colour"),
        ({**body, "name": "plan\x00"}, "must not contain a NUL character"),
        ({**body, "forbidden": ["C\x001"]}, "must not contain a NUL character"),
    ):
        answer = client.post("/v1/plans", json=bad, headers=_auth(secrets["admin"]))
        assert 400 <= answer.status_code < 500, (bad, answer.text)
        assert where in Problem.model_validate(answer.json()).detail


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_cli_plan_show_compare_rerun(layout, tmp_path, monkeypatch):
    from locator import plan_cli
    from locator.cli import app

    class Scope:
        def __enter__(self):
            return layout

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(plan_cli, "_engine", lambda: None)
    monkeypatch.setattr("locator.db.session_scope", lambda engine: Scope())
    runner = CliRunner()
    out = tmp_path / "plans"
    made = runner.invoke(
        app, ["plan", "--new", "2", "--radius", "1000", "--district", "TST", "--out", str(out)]
    )
    assert made.exit_code == 0, made.output
    assert "C1" in made.output and "optimal" in made.output
    plan_id = layout.execute(text("SELECT max(id) FROM plans")).scalar_one()
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        f"plan-{plan_id}-curve.png",
        f"plan-{plan_id}-map.html",
        f"plan-{plan_id}-sites.csv",
        f"plan-{plan_id}-sites.geojson",
        f"plan-{plan_id}.json",
    ]
    page = (out / f"plan-{plan_id}-map.html").read_text()
    assert "Proposed stations" in page and '<script src="http' not in page  # no CDN
    rerun = runner.invoke(app, ["plan", "rerun", str(plan_id), "--out", str(out)])
    assert "the same sites in the same order" in rerun.output, rerun.output
    compared = runner.invoke(app, ["plan", "compare", str(plan_id), str(plan_id + 1)])
    assert "(+0)" in compared.output, compared.output
    shown = runner.invoke(app, ["plan", "show", str(plan_id)])
    assert "C2" in shown.output
    bad = runner.invoke(app, ["plan", "--quota", "TST"])
    assert isinstance(bad.exception, ConfigError)
    assert "--quota 'TST' must look like DISTRICT=N" in str(bad.exception)


def test_changping_on_the_sample(sample_session, tmp_path):
    plan = create_plan(sample_session, PlanRequest(new_sites=30, radius_m=1000, district="昌平区"))
    assert plan.status == "optimal"
    assert 0 < len(plan.sites) <= 30
    solved = get_plan(sample_session, plan.id, privacy_k=1)
    added = [s["workers_added"] for s in solved.sites]
    assert plan.objective == solved.objective == pytest.approx(sum(added))
    shown = [s["workers_added"] for s in plan.sites]
    assert all(a is None or a == 0 or a >= 10 for a in shown)  # the default k
    assert all(s["district_code"] == "110114" for s in plan.sites)
    fast = create_plan(
        sample_session,
        PlanRequest(new_sites=30, radius_m=1000, district="昌平区", solver="fast"),
    )
    assert fast.objective >= 0.99 * plan.objective
    assert export_plan(plan, tmp_path)["curve"].exists()
