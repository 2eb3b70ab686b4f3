"""History, hour-of-week profiles and idle flags from the event log (known answers)."""

import datetime as dt

import pytest
from sqlalchemy import text

from locator import capacity, usage
from locator.errors import ConfigError
from locator.io import load_file
from tests.helpers import station, write_geojson

# Monday 2025-11-24 08:00 in Beijing: in the past, so that the loader's own events (stamped
# with the real time of the test run) always fall after every window the tests ask about.
MONDAY_8 = dt.datetime(2025, 11, 24, 8, 0, tzinfo=usage.SHANGHAI)
ADDED = MONDAY_8 - dt.timedelta(days=7)


def added_on(session, when: dt.datetime) -> None:
    """Stations loaded by a test were added at ``when`` (not at the real time of the run)."""
    session.execute(text("UPDATE stations SET created_at = :when"), {"when": when})


@pytest.fixture
def used(session, tmp_path):
    load_file(
        session,
        "stations",
        write_geojson(
            tmp_path / "s.geojson",
            [
                station("BUSY", 116.41, 39.93, seats=2, opening_hours="24/7"),
                station("IDLE", 116.42, 39.93, seats=2, opening_hours="Mo-Fr 09:00-18:00"),
                station(
                    "NIGHT", 116.43, 39.93, seats=2, opening_hours="Mo 02:00-03:00", status="closed"
                ),
            ],
        ),
    )
    added_on(session, ADDED)
    h = dt.timedelta(hours=1)
    capacity.set_count(session, "BUSY", "seat", 0, actor="k", now=MONDAY_8)
    capacity.check_in(session, "BUSY", "seat", actor="k", now=MONDAY_8 + h / 2)  # 08:30 -> 1
    capacity.check_in(session, "BUSY", "seat", actor="k", now=MONDAY_8 + h)  # 09:00 -> 2 (full)
    capacity.check_out(session, "BUSY", "seat", actor="k", now=MONDAY_8 + 1.5 * h)  # 09:30 -> 1


def test_profile_weights_occupancy_by_time(session, used):
    slots = usage.profile(
        session, "BUSY", "seat", since=MONDAY_8, until=MONDAY_8 + dt.timedelta(hours=2)
    )
    eight, nine = slots[8], slots[9]  # Monday 08:00 and 09:00
    assert (eight.observed_h, eight.mean_occupied, eight.peak, eight.share_full) == (
        1.0,
        0.5,
        1,
        0.0,
    )
    assert (nine.observed_h, nine.mean_occupied, nine.peak, nine.share_full) == (1.0, 1.5, 2, 0.5)
    assert slots[10].observed_h == 0 and slots[10].mean_occupied is None


def test_history_lists_events_in_order(session, used):
    events = usage.history(session, "BUSY", since=MONDAY_8, until=MONDAY_8 + dt.timedelta(days=1))
    assert [e["action"] for e in events] == ["set_count", "check_in", "check_in", "check_out"]
    assert [e["occupied_after"] for e in events] == [0, 1, 2, 1]


def test_idle_stations_posted_open_are_flagged(session, used):
    flagged = usage.idle_stations(session, now=MONDAY_8 + dt.timedelta(days=2), days=3)
    assert [f["code"] for f in flagged] == ["IDLE"]  # BUSY is used; NIGHT is closed
    assert flagged[0]["posted_open_hours"] == 18  # Monday and Tuesday 09:00-18:00


def test_idle_counts_only_hours_since_the_station_was_added(session, used):
    now = MONDAY_8 + dt.timedelta(days=2)  # Wednesday 08:00
    added_on(session, MONDAY_8 + dt.timedelta(days=1))  # Tuesday 08:00
    flagged = usage.idle_stations(session, now=now, days=3)
    assert [(f["code"], f["posted_open_hours"]) for f in flagged] == [("IDLE", 9)]  # Tuesday only
    added_on(session, now)  # added just now: nothing to review yet
    assert usage.idle_stations(session, now=now, days=3) == []


def test_idle_ignores_activity_after_the_window(session, used):
    # BUSY's keeper was active on Monday; seen from the Saturday before, it had been idle.
    saturday = MONDAY_8 - dt.timedelta(days=2)
    flagged = usage.idle_stations(session, now=saturday, days=3)
    assert [f["code"] for f in flagged] == ["BUSY", "IDLE"]
    assert flagged[0]["last_activity"] is None


def test_windows_are_checked(session, used):
    with pytest.raises(ConfigError, match="must come before"):
        usage.history(session, "BUSY", since=MONDAY_8, until=MONDAY_8)
    with pytest.raises(ConfigError, match="at most 366 days"):
        usage.profile(
            session, "BUSY", "seat", since=MONDAY_8, until=MONDAY_8 + dt.timedelta(days=400)
        )


def test_utilization_of_every_station(session, used):
    rows = usage.utilization(session, since=MONDAY_8, until=MONDAY_8 + dt.timedelta(hours=2))
    busy = next(r for r in rows if (r.code, r.unit) == ("BUSY", "seat"))
    assert (busy.events, busy.observed_h, busy.mean_occupied, busy.peak) == (4, 2.0, 1.0, 2)
    assert busy.mean_rate == pytest.approx(0.5) and busy.share_full == pytest.approx(0.25)


def test_report_command_writes_tables_and_chart(cluster, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from locator.cli import app
    from locator.db import session_scope
    from tests.conftest import fresh_database

    engine = fresh_database(cluster, "locator_report")
    with session_scope(engine) as session:
        load_file(
            session,
            "stations",
            write_geojson(
                tmp_path / "s.geojson",
                [
                    station("BUSY", 116.41, 39.93, seats=2, opening_hours="24/7"),
                    station("IDLE", 116.42, 39.93, seats=2, opening_hours="24/7"),
                ],
            ),
        )
        added_on(session, ADDED)
        for hours in range(0, 48, 3):
            at = MONDAY_8 + dt.timedelta(hours=hours)
            capacity.check_in(session, "BUSY", "seat", actor="k", now=at)
            capacity.check_out(session, "BUSY", "seat", actor="k", now=at + dt.timedelta(hours=1))
    monkeypatch.setenv("LOCATOR_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    out = tmp_path / "reports"
    until = (MONDAY_8 + dt.timedelta(days=2)).isoformat()
    result = CliRunner().invoke(
        app, ["report", "utilization", "--days", "3", "--until", until, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = (out / "utilization.csv").read_text().splitlines()
    assert rows[0].startswith("station,unit,maximum,events")
    busy = next(r for r in rows if r.startswith("BUSY,seat"))
    assert busy.split(",")[3] == "32"  # 16 check-ins and 16 check-outs in the window
    assert (out / "idle_stations.csv").read_text().splitlines()[1].startswith("IDLE,")
    assert (out / "utilization.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    engine.dispose()
    cluster.drop_database("locator_report")
