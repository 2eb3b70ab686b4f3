"""50 clients hammer a few stations through the real service: counts stay exact."""

import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from locator import keys
from locator.config import Settings
from locator.db import session_scope
from locator.io import load_file
from tests.conftest import fresh_database
from tests.helpers import station, write_geojson
from tests.live import running_service

CLIENTS = 50
REQUESTS_PER_CLIENT = 60
UNITS = {"A": ("seat", "bed"), "B": ("seat",), "C": ("charger",)}


@pytest.fixture(scope="module")
def busy_database(cluster, tmp_path_factory):
    engine = fresh_database(cluster, "locator_concurrency")
    path = write_geojson(
        tmp_path_factory.mktemp("busy") / "s.geojson",
        [
            station("A", 116.41, 39.93, seats=5, beds=3),
            station("B", 116.42, 39.93, seats=2),
            station("C", 116.43, 39.93, seats=0, chargers=4),
        ],
    )
    with session_scope(engine) as session:
        load_file(session, "stations", path)
        secret, _ = keys.create_key(session, "admin", "admin")
    yield engine, secret
    engine.dispose()
    cluster.drop_database("locator_concurrency")


def client_run(base, secret, seed, log, lock):
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {secret}"}
    holds = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for _ in range(REQUESTS_PER_CLIENT):
            code = rng.choice(sorted(UNITS))
            unit = rng.choice(UNITS[code])
            choice = rng.random()
            key = uuid.uuid4().hex
            if choice < 0.4:
                request = ("POST", f"/v1/stations/{code}/capacity/{unit}/check-in", None)
            elif choice < 0.75:
                request = ("POST", f"/v1/stations/{code}/capacity/{unit}/check-out", None)
            elif choice < 0.9 or not holds:
                request = ("POST", f"/v1/stations/{code}/holds", {"unit": unit, "minutes": 60})
            else:
                hold = holds.pop(rng.randrange(len(holds)))
                method = "POST" if rng.random() < 0.5 else "DELETE"
                path = f"/v1/holds/{hold}/confirm" if method == "POST" else f"/v1/holds/{hold}"
                request = (method, path, None)
            method, path, body = request
            first = http.request(method, path, json=body, headers={"Idempotency-Key": key})
            retries = []
            while rng.random() < 0.3:  # the phone lost the answer and sends it again
                retries.append(
                    http.request(method, path, json=body, headers={"Idempotency-Key": key})
                )
            if first.status_code == 201:
                holds.append(first.json()["id"])
            with lock:
                log.append(
                    (
                        key,
                        first.status_code,
                        first.json(),
                        [
                            (r.status_code, r.json(), r.headers.get("Idempotent-Replayed"))
                            for r in retries
                        ],
                    )
                )


def test_counts_equal_the_event_log_under_concurrent_writes(busy_database, tmp_path):
    engine, secret = busy_database
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        state_dir=tmp_path,
        writes_per_minute=1_000_000,
    )
    log, lock = [], threading.Lock()
    with running_service(settings) as base, ThreadPoolExecutor(CLIENTS) as pool:
        futures = [
            pool.submit(client_run, base, secret, seed, log, lock) for seed in range(CLIENTS)
        ]
        for future in futures:
            future.result()
    assert len(log) == CLIENTS * REQUESTS_PER_CLIENT
    statuses = Counter(status for _, status, _, _ in log)
    assert set(statuses) <= {200, 201, 409}, statuses  # never a 5xx, never a lost request
    assert statuses[200] + statuses[201] > 200 and statuses[409] > 200  # both kinds happen
    for _, status, body, retries in log:
        for retry_status, retry_body, replayed in retries:
            assert (retry_status, retry_body, replayed) == (status, body, "true")

    with engine.connect() as conn:
        applied = Counter(
            dict(
                conn.execute(
                    text(
                        "SELECT idempotency_key, count(*) FROM occupancy_events "
                        "WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key"
                    )
                ).all()
            )
        )
        counts = conn.execute(
            text(
                "SELECT s.code, c.unit, c.maximum, c.occupied, c.held FROM station_capacity c "
                "JOIN stations s ON s.id = c.station_id"
            )
        ).all()
        from_log = dict(
            conn.execute(
                text(
                    "SELECT s.code || '/' || e.unit, sum(coalesce(e.delta, 0)) "
                    "FROM occupancy_events e JOIN stations s ON s.id = e.station_id GROUP BY 1"
                )
            ).all()
        )
        active_holds = dict(
            conn.execute(
                text(
                    "SELECT s.code || '/' || h.unit, count(*) FROM holds h JOIN stations s "
                    "ON s.id = h.station_id WHERE h.status = 'active' GROUP BY 1"
                )
            ).all()
        )
        out_of_range = conn.execute(
            text(
                "SELECT count(*) FROM occupancy_events "
                "WHERE occupied_after < 0 OR occupied_after > maximum_after"
            )
        ).scalar_one()
        last_event = dict(
            conn.execute(
                text(
                    "SELECT DISTINCT ON (station_id, unit) s.code || '/' || e.unit, "
                    "e.occupied_after FROM occupancy_events e "
                    "JOIN stations s ON s.id = e.station_id "
                    "ORDER BY station_id, unit, e.id DESC"
                )
            ).all()
        )
    for key, status, _, _ in log:  # every request applied exactly once, or not at all
        assert applied[key] == (1 if status in (200, 201) else 0), key
    assert out_of_range == 0
    for code, unit, maximum, occupied, held in counts:
        assert occupied >= 0 and occupied + held <= maximum
        assert occupied == from_log[f"{code}/{unit}"] == last_event[f"{code}/{unit}"]
        assert held == active_holds.get(f"{code}/{unit}", 0)
