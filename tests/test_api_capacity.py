"""Keepers' writes through the API: roles, idempotent retries, conflicts, holds, rate limits."""

import datetime as dt
import time

import pytest

from api.schemas import HoldOut, Problem, UnitFiguresOut
from locator import capacity, keys
from locator.io import load_file
from tests.helpers import station, write_geojson

T0 = dt.datetime(2025, 11, 25, 22, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture
def world(session, tmp_path, client):
    load_file(
        session,
        "stations",
        write_geojson(
            tmp_path / "s.geojson",
            [
                station("APT", 116.41, 39.93, kind="apartment", beds=21, seats=4),
                station("POST", 116.42, 39.93, seats=2),
            ],
        ),
    )
    capacity.set_count(session, "APT", "bed", 17, actor="test", now=T0)
    secrets = {
        "admin": keys.create_key(session, "admin", "admin")[0],
        "analyst": keys.create_key(session, "analyst", "analyst")[0],
        "keeper": keys.create_key(session, "APT keeper", "keeper", stations=("APT",))[0],
    }
    clock = Clock()
    client.app.state.clock = clock
    return secrets, clock


def auth(secret):
    return {"Authorization": f"Bearer {secret}"}


WRITES = [
    ("post", "/v1/stations/{code}/capacity/seat/check-in", None),
    ("post", "/v1/stations/{code}/capacity/seat/check-out", None),
    ("put", "/v1/stations/{code}/capacity/seat/count", {"count": 1}),
    ("put", "/v1/stations/{code}/capacity/seat/maximum", {"maximum": 5}),
    ("post", "/v1/stations/{code}/holds", {"unit": "seat", "minutes": 5}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_roles_on_every_write(client, world, method, path, body):
    secrets, _ = world

    def call(code, headers):
        return client.request(method, path.format(code=code), json=body, headers=headers)

    assert call("APT", {}).status_code == 401
    assert call("APT", {}).headers["WWW-Authenticate"] == "Bearer"
    assert call("APT", auth("wsl_nope_nope")).status_code == 401
    assert call("APT", auth(secrets["analyst"])).status_code == 403
    refused = call("POST", auth(secrets["keeper"]))
    assert refused.status_code == 403
    assert "may not write station 'POST'" in Problem.model_validate(refused.json()).detail
    assert call("APT", auth(secrets["keeper"])).status_code in (200, 201, 409)
    assert call("POST", auth(secrets["admin"])).status_code in (200, 201, 409)
    assert call("APT", {"X-API-Key": secrets["admin"]}).status_code in (200, 201, 409)


def test_check_in_answers_figures_and_full_is_409(client, world):
    secrets, _ = world
    url = "/v1/stations/POST/capacity/seat/check-in"
    first = UnitFiguresOut.model_validate(client.post(url, headers=auth(secrets["admin"])).json())
    assert (first.occupied, first.free, first.reported_at) == (1, 1, T0)
    client.post(url, headers=auth(secrets["admin"]))
    full = client.post(url, headers=auth(secrets["admin"]))
    assert full.status_code == 409
    problem = Problem.model_validate(full.json())
    assert problem.current["occupied"] == 2 and problem.current["free"] == 0


def test_retry_with_the_same_idempotency_key_is_applied_once(client, world):
    secrets, _ = world
    headers = {**auth(secrets["keeper"]), "Idempotency-Key": "phone-42-0001"}
    url = "/v1/stations/APT/capacity/bed/check-in"
    first = client.post(url, headers=headers)
    again = client.post(url, headers=headers)
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    assert client.get("/v1/stations/APT/capacity/bed").json()["occupied"] == 18
    other = client.post("/v1/stations/APT/capacity/bed/check-out", headers=headers)
    assert other.status_code == 422
    assert "already used for a different request" in other.json()["detail"]


def test_refusals_are_replayed_too(client, world):
    secrets, _ = world
    headers = {**auth(secrets["admin"]), "Idempotency-Key": "k1"}
    url = "/v1/stations/POST/capacity/seat/check-out"
    first = client.post(url, headers=headers)
    assert first.status_code == 409
    assert client.post(url, headers=headers).json() == first.json()


def test_hold_expires_by_the_clock_and_confirm_becomes_check_in(client, world):
    secrets, clock = world
    created = client.post("/v1/stations/APT/holds", json={}, headers=auth(secrets["keeper"]))
    assert created.status_code == 201
    hold = HoldOut.model_validate(created.json())
    assert hold.expires_at == T0 + dt.timedelta(minutes=90) and hold.figures.held == 1
    clock.now = T0 + dt.timedelta(minutes=91)
    late = client.post(f"/v1/holds/{hold.id}/confirm", headers=auth(secrets["keeper"]))
    assert late.status_code == 409 and "is expired" in late.json()["detail"]
    clock.now = T0 + dt.timedelta(minutes=100)
    second = HoldOut.model_validate(
        client.post(
            "/v1/stations/APT/holds", json={"minutes": 30}, headers=auth(secrets["keeper"])
        ).json()
    )
    done = client.post(f"/v1/holds/{second.id}/confirm", headers=auth(secrets["keeper"]))
    assert done.json()["status"] == "confirmed" and done.json()["figures"]["occupied"] == 18


def test_bad_write_bodies_are_422(client, world):
    secrets, _ = world
    bad = client.put(
        "/v1/stations/APT/capacity/bed/count", json={"count": -1}, headers=auth(secrets["admin"])
    )
    assert bad.status_code == 422 and "count" in bad.json()["detail"]
    assert (
        client.post(
            "/v1/stations/APT/capacity/sofa/check-in", headers=auth(secrets["admin"])
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/v1/stations/NOPE/capacity/seat/check-in", headers=auth(secrets["admin"])
        ).status_code
        == 404
    )


def test_writes_are_rate_limited_per_key(client, world):
    secrets, _ = world
    from api.ratelimit import RateLimiter

    client.app.state.rate_limiter = RateLimiter(per_minute=3)
    url = "/v1/stations/APT/capacity/seat/check-in"
    answers = [client.post(url, headers=auth(secrets["admin"])).status_code for _ in range(4)]
    assert answers[:3] == [200, 200, 200] and answers[3] == 429
    limited = client.post(url, headers=auth(secrets["admin"]))
    assert int(limited.headers["Retry-After"]) >= 1
    assert client.post(url, headers=auth(secrets["keeper"])).status_code == 200


def test_history_is_for_analysts_admins_and_the_station_keeper(client, world):
    secrets, _ = world
    client.post("/v1/stations/APT/capacity/bed/check-in", headers=auth(secrets["keeper"]))
    params = {"since": "2025-11-25T00:00:00+00:00", "until": "2025-11-26T00:00:00+00:00"}
    assert client.get("/v1/stations/APT/history", params=params).status_code == 401
    for role in ("analyst", "admin", "keeper"):
        answer = client.get("/v1/stations/APT/history", params=params, headers=auth(secrets[role]))
        assert answer.status_code == 200, role
    body = answer.json()
    assert [e["action"] for e in body["events"]] == ["set_count", "check_in"]
    assert sorted(body["profile"]) == ["bed", "seat"]
    tuesday_22 = body["profile"]["bed"][24 + 22]  # 2025-11-25 is a Tuesday; 22:00 UTC+0 = 06:00
    assert len(body["profile"]["bed"]) == 168 and tuesday_22["hour_of_week"] == 46
    assert (
        client.get(
            "/v1/stations/POST/history", params=params, headers=auth(secrets["keeper"])
        ).status_code
        == 403
    )


def test_the_service_expires_due_holds_with_no_write_to_the_station(cluster, tmp_path):
    """A hold that ran out frees its bed in read-only answers too: the service sweeps due holds
    on its own, so a quiet station does not show a bed held for hours."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from locator.config import Settings
    from locator.db import session_scope
    from tests.conftest import fresh_database

    engine = fresh_database(cluster, "locator_sweep")
    try:
        with session_scope(engine) as session:
            path = write_geojson(tmp_path / "s.geojson", [station("APT", 116.41, 39.93, beds=21)])
            load_file(session, "stations", path)
            capacity.set_count(session, "APT", "bed", 17, actor="test", now=T0)
            capacity.place_hold(session, "APT", "bed", actor="test", now=T0, minutes=90)
        url = engine.url.render_as_string(hide_password=False)
        app = create_app(Settings(database_url=url, state_dir=tmp_path, hold_sweep_s=0.05))
        with TestClient(app) as client:
            app.state.clock = lambda: T0 + dt.timedelta(minutes=89)
            params = {"lon": 116.41, "lat": 39.93, "at": "2025-11-25T22:00:00Z"}

            def held() -> int:
                answer = client.get("/v1/nearest", params=params).json()
                return answer["features"][0]["properties"]["capacity"]["bed"]["held"]

            assert held() == 1
            app.state.clock = lambda: T0 + dt.timedelta(minutes=91)
            deadline = time.monotonic() + 10
            while held() != 0:
                assert time.monotonic() < deadline, "the due hold was not expired by the service"
                time.sleep(0.05)
        with session_scope(engine) as session:
            assert capacity.figures(session, "APT", "bed").held == 0
    finally:
        engine.dispose()
