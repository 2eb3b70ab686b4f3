"""Capacity operations on the real database, with a controllable clock."""

import datetime as dt

import pytest
from sqlalchemy import text

from locator import capacity, keys
from locator.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from locator.io import load_file
from tests.helpers import station, write_geojson

T0 = dt.datetime(2025, 11, 25, 22, 0, tzinfo=dt.UTC)


@pytest.fixture
def apartment(session, tmp_path):
    """Dongcheng's courier apartment: 21 beds, and a union post with 2 seats."""
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


def events(session, code):
    return session.execute(
        text(
            "SELECT e.action, e.delta, e.occupied_after FROM occupancy_events e "
            "JOIN stations s ON s.id = e.station_id WHERE s.code = :c AND e.actor <> 'loader' "
            "ORDER BY e.id"
        ),
        {"c": code},
    ).all()


def test_check_in_and_out_log_every_change(session, apartment):
    after_in = capacity.check_in(session, "APT", "bed", actor="keeper", now=T0)
    assert (after_in.occupied, after_in.free, after_in.reported_at) == (18, 3, T0)
    after_out = capacity.check_out(session, "APT", "bed", actor="keeper", now=T0)
    assert after_out.occupied == 17
    assert [tuple(e) for e in events(session, "APT")] == [
        ("set_count", 17, 17),
        ("check_in", 1, 18),
        ("check_out", -1, 17),
    ]


def test_a_full_station_refuses_with_current_figures(session, apartment):
    for _ in range(2):
        capacity.check_in(session, "POST", "seat", actor="k", now=T0)
    with pytest.raises(ConflictError, match="'POST' is full: 2 of 2 seat") as caught:
        capacity.check_in(session, "POST", "seat", actor="k", now=T0)
    assert caught.value.figures["free"] == 0 and caught.value.figures["occupied"] == 2


def test_count_never_goes_below_zero(session, apartment):
    with pytest.raises(ConflictError, match="count is 0"):
        capacity.check_out(session, "POST", "seat", actor="k", now=T0)


def test_head_count_and_maximum_must_fit(session, apartment):
    with pytest.raises(ConflictError, match="count 22 does not fit"):
        capacity.set_count(session, "APT", "bed", 22, actor="k", now=T0)
    with pytest.raises(ConflictError, match="maximum 10 is below"):
        capacity.set_maximum(session, "APT", "bed", 10, actor="k", now=T0)
    assert capacity.set_maximum(session, "APT", "bed", 25, actor="k", now=T0).free == 8
    added = capacity.set_maximum(session, "POST", "charger", 4, actor="k", now=T0)
    assert (added.maximum, added.occupied) == (4, 0)
    with pytest.raises(ConfigError, match="count -1 must be 0 or more"):
        capacity.set_count(session, "APT", "bed", -1, actor="k", now=T0)


def test_unknown_station_and_unit(session, apartment):
    with pytest.raises(NotFoundError, match="station 'NOPE' does not exist"):
        capacity.check_in(session, "NOPE", "seat", actor="k", now=T0)
    with pytest.raises(NotFoundError, match="'POST' has no bed capacity"):
        capacity.check_in(session, "POST", "bed", actor="k", now=T0)
    with pytest.raises(ConfigError, match="unit 'sofa' must be one of"):
        capacity.check_in(session, "POST", "sofa", actor="k", now=T0)


def test_hold_expires_on_time_unless_confirmed(session, apartment):
    hold, after = capacity.place_hold(session, "APT", "bed", actor="k", now=T0)
    assert (after.held, after.free) == (1, 3)
    assert hold.expires_at == T0 + dt.timedelta(minutes=90)
    just_before = T0 + dt.timedelta(minutes=89, seconds=59)
    assert capacity.expire_holds(session, now=just_before) == 0
    assert capacity.figures(session, "APT", "bed").held == 1
    assert capacity.expire_holds(session, now=T0 + dt.timedelta(minutes=90)) == 1
    after_expiry = capacity.figures(session, "APT", "bed")
    assert (after_expiry.held, after_expiry.occupied) == (0, 17)
    with pytest.raises(ConflictError, match=f"hold {hold.id} is expired"):
        capacity.confirm_hold(session, hold.id, actor="k", now=T0 + dt.timedelta(minutes=91))


def test_confirmed_hold_becomes_a_check_in(session, apartment):
    hold, _ = capacity.place_hold(session, "APT", "bed", actor="k", now=T0, minutes=30)
    done = capacity.confirm_hold(session, hold.id, actor="k", now=T0 + dt.timedelta(minutes=29))
    assert (done.occupied, done.held) == (18, 0)
    assert capacity.get_hold(session, hold.id).status == "confirmed"


def test_expired_holds_are_released_before_the_next_change(session, apartment):
    for _ in range(4):
        capacity.place_hold(session, "APT", "bed", actor="k", now=T0, minutes=10)
    with pytest.raises(ConflictError, match="is full"):
        capacity.check_in(session, "APT", "bed", actor="k", now=T0 + dt.timedelta(minutes=5))
    later = capacity.check_in(session, "APT", "bed", actor="k", now=T0 + dt.timedelta(minutes=10))
    assert (later.occupied, later.held) == (18, 0)
    expired = [e for e in events(session, "APT") if e.action == "hold_expired"]
    assert len(expired) == 4


def test_event_log_agrees_with_counts(session, apartment):
    for op in ["check_in"] * 3 + ["check_out"]:
        getattr(capacity, op)(session, "APT", "bed", actor="k", now=T0)
    total = session.execute(
        text(
            "SELECT sum(delta) FROM occupancy_events e JOIN stations s ON s.id = e.station_id "
            "WHERE s.code = 'APT' AND unit = 'bed' AND delta IS NOT NULL"
        )
    ).scalar_one()
    assert total == capacity.figures(session, "APT", "bed").occupied


def test_keys_roles_and_revocation(session, apartment):
    secret, info = keys.create_key(session, "keeper of APT", "keeper", stations=("APT",))
    assert secret.startswith(f"wsl_{info.prefix}_")
    stored = session.execute(text("SELECT secret_hash FROM api_keys")).scalar_one()
    assert secret.split("_", 2)[2] not in stored
    caller = keys.authenticate(session, secret)
    apt = capacity.station_id(session, "APT")
    post = capacity.station_id(session, "POST")
    keys.require_write(caller, apt, "APT")
    with pytest.raises(PermissionDeniedError, match="may not write station 'POST'"):
        keys.require_write(caller, post, "POST")
    analyst_secret, _ = keys.create_key(session, "analyst", "analyst")
    with pytest.raises(PermissionDeniedError, match="writes nothing"):
        keys.require_write(keys.authenticate(session, analyst_secret), apt, "APT")
    keys.revoke_key(session, info.prefix, now=T0)
    with pytest.raises(AuthenticationError, match="revoked"):
        keys.authenticate(session, secret)
    with pytest.raises(AuthenticationError, match="not valid"):
        keys.authenticate(session, analyst_secret[:-2] + "xx")
    with pytest.raises(AuthenticationError, match="needs an API key"):
        keys.authenticate(session, None)
    with pytest.raises(ConfigError, match="needs at least one station"):
        keys.create_key(session, "k", "keeper")
