"""GBFS-style feeds and the live stream of capacity changes."""

import datetime as dt
import json
import queue
import threading
import time

import httpx
import pytest

from api.schemas import GbfsDiscovery, GbfsInformation, GbfsStatus
from locator import capacity, keys
from locator.config import Settings
from locator.db import session_scope
from locator.io import load_file
from tests.conftest import fresh_database
from tests.helpers import station, write_geojson
from tests.live import running_service

T0 = dt.datetime(2025, 11, 25, 14, 0, tzinfo=dt.UTC)  # 22:00 in Beijing, a Tuesday


@pytest.fixture
def two_stations(session, tmp_path, client):
    load_file(
        session,
        "stations",
        write_geojson(
            tmp_path / "s.geojson",
            [
                station("NIGHT", 116.41, 39.93, opening_hours="24/7", beds=21, seats=4),
                station("DAY", 116.42, 39.93, opening_hours="Mo-Fr 09:00-18:00; PH off", seats=6),
                station("GONE", 116.43, 39.93, status="closed"),
            ],
        ),
    )
    capacity.set_count(session, "NIGHT", "bed", 17, actor="t", now=T0 - dt.timedelta(hours=1))
    capacity.set_count(session, "NIGHT", "seat", 2, actor="t", now=T0 - dt.timedelta(minutes=5))
    client.app.state.clock = lambda: T0


def test_discovery_lists_both_feeds(client, two_stations):
    body = GbfsDiscovery.model_validate(client.get("/v1/gbfs/gbfs.json").json())
    names = [f.name for f in body.data["en"].feeds]
    assert names == ["station_information", "station_status"]
    assert body.last_updated == int(T0.timestamp()) and body.ttl == 60


def test_station_information(client, two_stations):
    body = GbfsInformation.model_validate(client.get("/v1/gbfs/station_information.json").json())
    by_id = {s.station_id: s for s in body.data.stations}
    assert sorted(by_id) == ["DAY", "NIGHT"]  # closed stations are not published
    assert by_id["NIGHT"].capacity == {"bed": 21, "seat": 4}


def test_station_status_marks_stale_counts_unknown(client, two_stations):
    body = GbfsStatus.model_validate(client.get("/v1/gbfs/station_status.json").json())
    night = next(s for s in body.data.stations if s.station_id == "NIGHT")
    day = next(s for s in body.data.stations if s.station_id == "DAY")
    assert night.is_open is True and day.is_open is False
    assert night.units["seat"].available == 2  # reported 5 minutes ago
    assert night.units["bed"].available == 4  # beds stay fresh for 3 hours
    assert day.units["seat"].available is None  # never reported
    assert night.last_reported == int(T0.timestamp()) - 300


@pytest.fixture(scope="module")
def stream_database(cluster, tmp_path_factory):
    """A database whose writes are committed, so that they notify the stream."""
    engine = fresh_database(cluster, "locator_stream")
    path = write_geojson(
        tmp_path_factory.mktemp("stream") / "s.geojson", [station("LIVE", 116.41, 39.93, seats=4)]
    )
    with session_scope(engine) as session:
        load_file(session, "stations", path)
        secret, _ = keys.create_key(session, "admin", "admin")
    yield engine, secret
    engine.dispose()
    cluster.drop_database("locator_stream")


def test_stream_delivers_a_change_within_a_second(stream_database, tmp_path):
    engine, secret = stream_database
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False), state_dir=tmp_path
    )
    received: queue.Queue = queue.Queue()
    with running_service(settings) as base:

        def listen():
            with httpx.stream(
                "GET", f"{base}/v1/stream", params={"timeout_s": 20}, timeout=30
            ) as response:
                received.put(("open", response.headers["content-type"]))
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        received.put(("data", line[6:]))
                        return

        threading.Thread(target=listen, daemon=True).start()
        assert received.get(timeout=10)[1].startswith("text/event-stream")
        time.sleep(0.3)  # the listener subscribes as the stream opens
        written = time.monotonic()
        answer = httpx.post(
            f"{base}/v1/stations/LIVE/capacity/seat/check-in",
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert answer.status_code == 200
        kind, payload = received.get(timeout=5)
        latency = time.monotonic() - written
    change = json.loads(payload)
    assert (kind, change["station"], change["action"], change["occupied"]) == (
        "data",
        "LIVE",
        "check_in",
        1,
    )
    assert latency < 1.0
