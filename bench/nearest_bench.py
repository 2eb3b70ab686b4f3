"""Benchmark of the courier's question (nearest stations) on a national-scale synthetic set.

All in one run, on the same query points (clustered around cities, fixed seed) and the same
filter mixes, it measures:

a. the in-database time of the exact SQL that :func:`locator.nearest.find_nearest` sends
   (``EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)``: planning + execution), the same statements
   replayed through psycopg2, and the SQL round trips per call and per API request;
b. the bare KNN SQL through psycopg2 on one connection: the database floor;
c. ``find_nearest`` called in Python: the Python overhead;
d. the real service under uvicorn: one client (p50, p99) and 32 concurrent clients
   (answers per second, p50, p99), with the CPU each process group used per answer;
e. an in-memory KD-tree (scipy ``cKDTree`` on unit-sphere coordinates): the absolute floor;

plus SQL what-if variants and py-spy profiles of ``find_nearest`` and of the service, and
writes its section of ``bench/RESULTS.md``. Run ``.venv/bin/python bench/nearest_bench.py --help``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg2
from benchlib import (
    RESULTS,
    ROOT,
    STATE_DIR,
    BenchDatabase,
    LoadResult,
    MachineTimes,
    Server,
    Summary,
    cpu_used,
    fmt,
    machine_facts,
    markdown_table,
    prepare_database,
    run_load,
    run_sequential_httpx,
    set_live_occupancy,
    tree_cpu_seconds,
    uvicorn_server,
    write_section,
)
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from api.main import make_read_engine
from locator import synthetic
from locator.config import Settings
from locator.nearest import NearestQuery, find_nearest

log = logging.getLogger("bench")

SHANGHAI = ZoneInfo("Asia/Shanghai")
LUNCH = dt.datetime(2026, 11, 25, 12, 30, tzinfo=SHANGHAI)  # a Wednesday, no holiday
NIGHT = dt.datetime(2026, 11, 25, 3, 0, tzinfo=SHANGHAI)
K = 5
GOAL_IN_DB_MS = 0.5
GOAL_ONE_CLIENT_P50_MS = 3.0
GOAL_RATE = 1500.0
GOAL_P99_MS = 50.0
BARE_SQL = (
    "SELECT id FROM stations ORDER BY geog <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography "
    "LIMIT 5"
)
BARE_SQL_FILTERED = (
    "SELECT id FROM stations WHERE status = 'active' AND services @> %s::text[] "
    "ORDER BY geog <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography LIMIT 5"
)


@dataclass(frozen=True)
class Mix:
    """One filter mix: the same question asked of find_nearest and of the API."""

    name: str
    label: str
    filters: dict[str, Any]
    params: tuple[tuple[str, str], ...]
    at: dt.datetime = LUNCH

    def query(self, lon: float, lat: float) -> NearestQuery:
        return NearestQuery(lon=lon, lat=lat, k=K, at=self.at, **self.filters)

    def path(self, lon: float, lat: float) -> str:
        if self.name == "healthz":
            return "/healthz"
        params = [("lon", f"{lon:.6f}"), ("lat", f"{lat:.6f}"), ("k", str(K)), *self.params]
        params.append(("at", self.at.isoformat()))
        return "/v1/nearest?" + urllib.parse.urlencode(params)


SERVICES = ("hot_water", "microwave")
MIXES = (
    Mix("none", "no filter", {}, ()),
    Mix(
        "services",
        "services=hot_water,microwave",
        {"services": SERVICES},
        (("service", "hot_water"), ("service", "microwave")),
    ),
    Mix("open_now", "open=now (Wed 12:30)", {"open": "now"}, (("open", "now"),)),
    Mix("open_night", "open=now (Wed 03:00)", {"open": "now"}, (("open", "now"),), NIGHT),
    Mix("seat", "unit=seat free=1", {"unit": "seat", "free": 1}, (("unit", "seat"), ("free", "1"))),
    Mix("bed", "unit=bed free=1", {"unit": "bed", "free": 1}, (("unit", "bed"), ("free", "1"))),
    Mix(
        "combo",
        "services + open=now + unit=seat free=1",
        {"services": SERVICES, "open": "now", "unit": "seat", "free": 1},
        (
            ("service", "hot_water"),
            ("service", "microwave"),
            ("open", "now"),
            ("unit", "seat"),
            ("free", "1"),
        ),
    ),
)
HEALTHZ = Mix("healthz", "GET /healthz (HTTP + FastAPI floor, no database)", {}, ())
NO_UNIT_MIXES = tuple(m for m in MIXES if "unit" not in m.filters)


@dataclass(frozen=True)
class Config:
    """How big and how long the run is."""

    stations: int
    seed: int
    points: int
    db_points: int
    phase_cap_s: float
    load_s: float
    repeats: int
    clients: int
    workers: tuple[int, ...]
    profile: bool
    keep_running: bool
    quick: bool


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=None, help="default 150000 (quick 20000)")
    parser.add_argument("--seed", type=int, default=synthetic.DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help="20,000 stations, short phases")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the bench PostgreSQL running"
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    return Config(
        stations=args.stations or (20_000 if quick else 150_000),
        seed=args.seed,
        points=60 if quick else 300,
        db_points=40 if quick else 200,
        phase_cap_s=2.0 if quick else 8.0,
        load_s=2.0 if quick else 8.0,
        repeats=1 if quick else 3,
        clients=args.clients,
        workers=(1, 2),
        profile=not args.no_profile,
        keep_running=bool(args.keep_running),
        quick=quick,
    )


# -- helpers --------------------------------------------------------------------------------------
def bounded(items: Sequence[Any], cap_s: float) -> Iterator[Any]:
    """Yield ``items`` until they run out or ``cap_s`` seconds have passed."""
    stop_at = time.perf_counter() + cap_s
    for item in items:
        if time.perf_counter() > stop_at:
            return
        yield item


def raw_connection(db: BenchDatabase) -> Any:
    """A psycopg2 connection in autocommit (no BEGIN/COMMIT round trips)."""
    conn = psycopg2.connect(**db.psycopg2_dsn)
    conn.autocommit = True
    return conn


class StatementRecorder:
    """Records every statement sent through its own engine's psycopg2 cursors: SQLAlchemy's
    and the raw DBAPI cursor the search itself opens (which SQLAlchemy events do not see)."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.active = False
        recorder = self

        class RecordingCursor(psycopg2.extensions.cursor):
            def execute(self, query: Any, vars: Any = None) -> Any:
                # queries only: SQLAlchemy also asks the connection for its settings
                if recorder.active and str(query).lstrip()[:7].upper() in {"SELECT ", "EXECUTE"}:
                    recorder.statements.append((query, vars))
                return super().execute(query, vars)

        # autocommit, as the service's read pool: first search batches go as EXECUTE of a
        # statement prepared on this connection, and are explained there
        self.engine = create_engine(
            engine.url,
            connect_args={"cursor_factory": RecordingCursor},
            isolation_level="AUTOCOMMIT",
        )

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[str, Any]]]:
        self.statements = []
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False


def explain(cursor: Any, statement: str, parameters: Any) -> dict[str, Any]:
    """Planning and execution time (ms) of one statement, and whether it used JIT or workers."""
    cursor.execute(
        "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) " + statement, parameters
    )
    doc = cursor.fetchone()[0][0]
    text = str(doc)
    return {
        "plan_ms": float(doc["Planning Time"]),
        "exec_ms": float(doc["Execution Time"]),
        "jit": "JIT" in doc,
        "parallel": "'Workers Launched'" in text,
    }


# -- a. in-database time of find_nearest's SQL ----------------------------------------------------
@dataclass
class InDbResult:
    mix: Mix
    calls: int = 0
    statements: list[int] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    plan_ms: list[float] = field(default_factory=list)
    share_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    replay_ms: list[float] = field(default_factory=list)
    jit: int = 0
    parallel: int = 0


def measure_in_db(
    db: BenchDatabase, points: np.ndarray, settings: Settings, cap_s: float
) -> list[InDbResult]:
    """EXPLAIN ANALYZE and replay every statement find_nearest sends, per call."""
    recorder = StatementRecorder(db.engine)
    results = []
    with recorder.engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for mix in MIXES:
            result = InDbResult(mix)
            for lon, lat in bounded(points, cap_s):
                with recorder.recording() as sent:
                    find_nearest(
                        connection,
                        mix.query(float(lon), float(lat)),
                        speed_kmh=settings.speed_kmh(),
                        stale_after_min=settings.stale_after(),
                    )
                shares = searches = plans = 0.0
                replay = 0.0
                for statement, parameters in sent:
                    figures = explain(cursor, statement, parameters)
                    in_db = figures["plan_ms"] + figures["exec_ms"]
                    plans += figures["plan_ms"]
                    result.jit += figures["jit"]
                    result.parallel += figures["parallel"]
                    if _is_unit_share(statement):
                        shares += in_db
                    else:
                        searches += in_db
                    began = time.perf_counter()
                    cursor.execute(statement, parameters)
                    cursor.fetchall()
                    replay += (time.perf_counter() - began) * 1000
                result.calls += 1
                result.statements.append(len(sent))
                result.batches.append(sum(not _is_unit_share(s) for s, _ in sent))
                result.total_ms.append(shares + searches)
                result.plan_ms.append(plans)
                result.share_ms.append(shares)
                result.search_ms.append(searches)
                result.replay_ms.append(replay)
            log.info(
                "in-db %-10s %4d calls, p50 %.3f ms",
                mix.name,
                result.calls,
                Summary.of_ms(result.total_ms).p50,
            )
            results.append(result)
    return results


def count_round_trips(db: BenchDatabase) -> dict[str, list[str]]:
    """The statements one API request sends, per mix, read from the server log.

    The service runs in-process (``TestClient``) on a URL that asks PostgreSQL to log every
    statement of its own connections (``options=-c log_statement=all``); psycopg2's implicit
    BEGIN, the pool's pre-ping and the ROLLBACK at the end of the request all show.
    """
    from fastapi.testclient import TestClient

    from api.main import create_app

    log_path = db.cluster.run_dir / "postgres.log"
    url = db.url + "?options=" + urllib.parse.quote("-c log_statement=all")
    app = create_app(Settings(database_url=url, state_dir=STATE_DIR))
    lon, lat = 116.40, 39.90
    found: dict[str, list[str]] = {}
    with TestClient(app) as client:
        for mix in MIXES:
            client.get(mix.path(lon, lat)).raise_for_status()
            time.sleep(0.1)
            offset = log_path.stat().st_size
            client.get(mix.path(lon, lat)).raise_for_status()
            time.sleep(0.3)
            with open(log_path, "rb") as handle:
                handle.seek(offset)
                found[mix.name] = logged_statements(handle.read().decode(errors="replace"))
    return found


def logged_statements(log_text: str) -> list[str]:
    """Short labels of the statements in a PostgreSQL log excerpt (``log_statement=all``);
    a statement's continuation lines carry no log prefix."""
    statements: list[str] = []
    for line in log_text.splitlines():
        if "LOG:  statement:" in line:
            statements.append(line.split("LOG:  statement:", 1)[1])
        elif statements and not line[:4].isdigit():
            statements[-1] += "\n" + line
    return [_statement_label(sql) for sql in statements]


def _is_unit_share(sql: str) -> bool:
    """Whether ``sql`` is one of the statements that decide how a unit search starts."""
    return "FROM stations s" not in sql and ("reltuples" in sql or "station_capacity" in sql)


def _statement_label(sql: str) -> str:
    sql = " ".join(sql.split())
    if _is_unit_share(sql):
        return "unit share"
    if sql.startswith("SELECT 1"):
        return "pre-ping"
    if sql.startswith("SELECT s.code"):
        return "search batch"
    if sql.startswith("EXECUTE locator_nearest_"):
        return "search batch (prepared)"
    if sql.startswith("PREPARE locator_nearest_"):
        return "PREPARE (once per connection)"
    return sql.split(" ", 1)[0] if sql else "?"


# -- b. the bare KNN query: the database floor ----------------------------------------------------
@dataclass
class BareResult:
    label: str
    summary: Summary
    rate: float
    in_db: Summary


def measure_bare(db: BenchDatabase, points: np.ndarray, seconds: float) -> list[BareResult]:
    """The bare KNN SQL on one psycopg2 connection: latency, queries/s, in-database time."""
    results = []
    variants: list[tuple[str, str, Callable[[float, float], tuple[Any, ...]]]] = [
        ("bare KNN, k=5", BARE_SQL, lambda lon, lat: (lon, lat)),
        (
            "bare KNN + static filters (active, services)",
            BARE_SQL_FILTERED,
            lambda lon, lat: (list(SERVICES), lon, lat),
        ),
    ]
    with contextlib.closing(raw_connection(db)) as conn, conn.cursor() as cursor:
        for label, sql, params in variants:
            in_db = []
            for lon, lat in points[:200]:
                figures = explain(cursor, sql, params(float(lon), float(lat)))
                in_db.append(figures["plan_ms"] + figures["exec_ms"])
            latencies = []
            stop_at = time.perf_counter() + seconds
            began = time.perf_counter()
            index = 0
            while time.perf_counter() < stop_at:
                lon, lat = points[index % len(points)]
                index += 1
                started = time.perf_counter()
                cursor.execute(sql, params(float(lon), float(lat)))
                cursor.fetchall()
                latencies.append(time.perf_counter() - started)
            elapsed = time.perf_counter() - began
            results.append(
                BareResult(
                    label,
                    Summary.of_seconds(latencies),
                    len(latencies) / elapsed,
                    Summary.of_ms(in_db),
                )
            )
            log.info("bare %-45s %.0f q/s", label, results[-1].rate)
    return results


# -- SQL what-ifs: where the in-database time of the search goes ----------------------------------
IDS_ONLY = (
    "SELECT s.id, s.geog <-> q.g FROM stations s, "
    "(SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS g) q "
    "WHERE s.status = 'active' ORDER BY s.geog <-> q.g LIMIT %(limit)s"
)


@dataclass(frozen=True)
class WhatIf:
    """A variant of the first search batch; ``setup`` runs once before it, ``teardown`` after."""

    label: str
    sql: str
    limit: int
    setup: tuple[str, ...] = ()
    teardown: tuple[str, ...] = ()


def whatif_statements() -> list[WhatIf]:
    """The first search batch find_nearest sends (no filter), rebuilt from its SQL pieces, and
    variants of it. (With LIMIT as a parameter, a prepared statement's generic plan loses the
    index order and one batch takes hundreds of milliseconds: find_nearest writes LIMIT and
    OFFSET into the statements it prepares.)"""
    from locator.nearest import _SELECT, _where

    where = _where(NearestQuery(lon=0.0, lat=0.0), "any")
    base = f"{_SELECT}{where} ORDER BY s.geog <-> q.g LIMIT %(limit)s"
    first = K + 3  # the first batch without an opening-hours filter
    variants = [
        WhatIf(f"first batch as sent (LIMIT {first}, no filter)", base, first),
        WhatIf("same, LIMIT 5", base, 5),
        WhatIf("same, LIMIT 18 (the first batch with an opening-hours filter)", base, 18),
    ]
    start = base.find("(SELECT json_object_agg")
    end = base.find(")::text,", start) + len(")::text")
    if 0 <= start < end:
        without = base[:start] + "NULL" + base[end:]
        variants.append(
            WhatIf(f"same (LIMIT {first}) without the capacity subquery", without, first)
        )
    variants.append(WhatIf(f"ids and sphere distances only (LIMIT {first})", IDS_ONLY, first))
    return variants


@dataclass
class WhatIfResult:
    label: str
    in_db: Summary
    plan: Summary
    wall: Summary


def measure_whatifs(db: BenchDatabase, points: np.ndarray, cap_s: float) -> list[WhatIfResult]:
    """The first search batch and variants of it, on one psycopg2 connection (at most 200
    points and ``cap_s`` seconds per variant)."""
    results = []
    with contextlib.closing(raw_connection(db)) as conn, conn.cursor() as cursor:
        for whatif in whatif_statements():
            for statement in whatif.setup:
                cursor.execute(statement)
            in_db, plans, wall = [], [], []
            for lon, lat in bounded(points[:200], cap_s):
                params = {"lon": float(lon), "lat": float(lat), "limit": whatif.limit}
                figures = explain(cursor, whatif.sql, params)
                in_db.append(figures["plan_ms"] + figures["exec_ms"])
                plans.append(figures["plan_ms"])
                began = time.perf_counter()
                cursor.execute(whatif.sql, params)
                cursor.fetchall()
                wall.append(time.perf_counter() - began)
            for statement in whatif.teardown:
                cursor.execute(statement)
            results.append(
                WhatIfResult(
                    whatif.label,
                    Summary.of_ms(in_db),
                    Summary.of_ms(plans),
                    Summary.of_seconds(wall),
                )
            )
    return results


# -- c. find_nearest in Python --------------------------------------------------------------------
@dataclass
class DirectResult:
    mix: Mix
    one_session: Summary
    per_call_session: Summary


def measure_direct(
    db: BenchDatabase, points: np.ndarray, settings: Settings, cap_s: float
) -> list[DirectResult]:
    """find_nearest on one long session, and on a pooled read connection per call as the API
    does (autocommit, first batches prepared)."""
    api_engine = make_read_engine(db.url, 10)
    factory = api_engine.connect
    speeds, stale = settings.speed_kmh(), settings.stale_after()
    results = []
    try:
        for mix in MIXES:
            queries = [mix.query(float(lon), float(lat)) for lon, lat in points]
            one, per_call = [], []
            with Session(db.engine) as session:
                for query in queries[:3]:
                    find_nearest(session, query, speed_kmh=speeds, stale_after_min=stale)
                for query in bounded(queries, cap_s / 2):
                    began = time.perf_counter()
                    find_nearest(session, query, speed_kmh=speeds, stale_after_min=stale)
                    one.append(time.perf_counter() - began)
            for query in bounded(queries, cap_s / 2):
                began = time.perf_counter()
                with factory() as session:
                    find_nearest(session, query, speed_kmh=speeds, stale_after_min=stale)
                per_call.append(time.perf_counter() - began)
            results.append(DirectResult(mix, Summary.of_seconds(one), Summary.of_seconds(per_call)))
            log.info("direct %-10s p50 %.2f ms", mix.name, results[-1].one_session.p50)
    finally:
        api_engine.dispose()
    return results


# -- f. capacity searches when no count is fresh ------------------------------------------------
@dataclass
class StaleResult:
    mix: Mix
    product: Summary  # as find_nearest decides (few qualify: start from them)
    walk: Summary  # the distance index walked past every station (SCARCE_SHARE = 0)


def measure_stale(
    db: BenchDatabase, points: np.ndarray, settings: Settings, cap_s: float
) -> list[StaleResult]:
    """Capacity searches when no count is fresh (as at night, when keepers do not report),
    on a read connection as the API uses, and the same with the index walked past every
    station, the way these searches went before; the live state is restored after."""
    from locator import nearest

    set_live_occupancy(db, fresh_share=0.0)
    engine = make_read_engine(db.url, 2)
    speeds, stale = settings.speed_kmh(), settings.stale_after()
    results = []
    try:
        with engine.connect() as connection:

            def timed(queries: Sequence[NearestQuery], seconds: float) -> Summary:
                took = []
                for query in bounded(queries, seconds):
                    began = time.perf_counter()
                    find_nearest(connection, query, speed_kmh=speeds, stale_after_min=stale)
                    took.append(time.perf_counter() - began)
                return Summary.of_seconds(took)

            for mix in (m for m in MIXES if "unit" in m.filters):
                queries = [mix.query(float(lon), float(lat)) for lon, lat in points]
                nearest._ROOM_SHARES.clear()
                timed(queries[:2], cap_s)  # the share count and the first plans
                product = timed(queries, cap_s / 2)
                saved = nearest.SCARCE_SHARE
                nearest.SCARCE_SHARE = 0.0
                try:
                    walk = timed(queries[:20], cap_s / 2)
                finally:
                    nearest.SCARCE_SHARE = saved
                results.append(StaleResult(mix, product, walk))
                log.info("stale %-6s p50 %.2f ms (walk %.2f ms)", mix.name, product.p50, walk.p50)
    finally:
        engine.dispose()
        set_live_occupancy(db)
    return results


# -- d. the service -------------------------------------------------------------------------------
@dataclass
class OneClientResult:
    mix: Mix
    raw: Summary
    httpx: Summary
    server_cpu_ms: float
    postgres_cpu_ms: float


@dataclass
class ThroughputResult:
    workers: int
    server: str
    workload: str
    client: str
    runs: list[LoadResult]
    server_cpu_s: float
    postgres_cpu_s: float
    machine_cpu_s: float
    steal_s: float

    @property
    def median_run(self) -> LoadResult:
        return sorted(self.runs, key=lambda r: r.rate)[len(self.runs) // 2]

    @property
    def answers(self) -> int:
        return sum(r.answers for r in self.runs)

    @property
    def latency(self) -> Summary:
        return Summary.of_seconds([v for r in self.runs for v in r.latencies_s])

    def cpu_per_answer_ms(self, seconds: float) -> float:
        return seconds / max(self.answers, 1) * 1000


def paths_for(mixes: Sequence[Mix], points: np.ndarray) -> list[str]:
    """Interleaved paths: point i asked with mix i mod len(mixes)."""
    return [
        mixes[i % len(mixes)].path(float(lon), float(lat)) for i, (lon, lat) in enumerate(points)
    ]


def one_client(
    db: BenchDatabase,
    server: Server,
    points: np.ndarray,
    cap_s: float,
    mixes: Sequence[Mix] = MIXES,
) -> list[OneClientResult]:
    """One client at a time, per mix (and /healthz): the raw client and httpx, each waiting for
    its answer, each path once, for at most ``cap_s`` seconds per client and mix; with the CPU
    the server and PostgreSQL used per answer of the raw client."""
    results = []
    for mix in (HEALTHZ, *mixes):
        paths = [mix.path(float(lon), float(lat)) for lon, lat in points]
        server_before = tree_cpu_seconds(server.process.pid)
        postgres_before = tree_cpu_seconds(db.postmaster_pid)
        raw = run_load(server, paths, clients=1, duration_s=cap_s, max_requests=len(paths))
        server_cpu = cpu_used(server_before, tree_cpu_seconds(server.process.pid))
        postgres_cpu = cpu_used(postgres_before, tree_cpu_seconds(db.postmaster_pid))
        via_httpx = run_sequential_httpx(server, paths, cap_s=cap_s)
        answers = max(raw.answers, 1)
        results.append(
            OneClientResult(
                mix,
                raw.summary,
                via_httpx.summary,
                server_cpu / answers * 1000,
                postgres_cpu / answers * 1000,
            )
        )
        log.info(
            "one client %s %-10s p50 raw %.2f httpx %.2f ms",
            server.label,
            mix.name,
            raw.summary.p50,
            via_httpx.summary.p50,
        )
    return results


def throughput(
    db: BenchDatabase,
    server: Server,
    paths: list[str],
    *,
    workload: str,
    clients: int,
    load_s: float,
    repeats: int,
    client: str = "raw",
) -> ThroughputResult:
    """``repeats`` runs of ``load_s`` seconds with ``clients`` clients, after a warm-up."""
    run_load(server, paths, clients=clients, duration_s=min(2.0, load_s / 2), kind=client)
    runs = []
    server_cpu = postgres_cpu = machine_cpu = steal = 0.0
    for _ in range(repeats):
        server_before = tree_cpu_seconds(server.process.pid)
        postgres_before = tree_cpu_seconds(db.postmaster_pid)
        machine_before = MachineTimes.now()
        runs.append(run_load(server, paths, clients=clients, duration_s=load_s, kind=client))
        machine_after = MachineTimes.now()
        machine_cpu += machine_after.busy - machine_before.busy
        steal += machine_after.steal - machine_before.steal
        server_cpu += cpu_used(server_before, tree_cpu_seconds(server.process.pid))
        postgres_cpu += cpu_used(postgres_before, tree_cpu_seconds(db.postmaster_pid))
    result = ThroughputResult(
        server.workers,
        server.label,
        workload,
        client,
        runs,
        server_cpu,
        postgres_cpu,
        machine_cpu,
        steal,
    )
    log.info(
        "%d clients %s %s %s: %.0f answers/s, p50 %.1f p99 %.1f ms",
        clients,
        result.server,
        workload,
        client,
        result.median_run.rate,
        result.latency.p50,
        result.latency.p99,
    )
    return result


# -- e. the KD-tree floor -------------------------------------------------------------------------
@dataclass
class KdResult:
    build_s: float
    single: Summary
    single_rate: float
    batch_rate: float
    agreement: float


def measure_kdtree(db: BenchDatabase, points: np.ndarray, seconds: float) -> KdResult:
    """cKDTree k=5 queries, one at a time and in one batch, and agreement with the SQL."""
    from scipy.spatial import cKDTree

    from locator.sphere import unit_xyz

    with contextlib.closing(raw_connection(db)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, ST_X(geom), ST_Y(geom) FROM stations ORDER BY id")
        rows = np.array(cursor.fetchall(), dtype=float)
        ids = rows[:, 0].astype(int)
        began = time.perf_counter()
        tree = cKDTree(unit_xyz(rows[:, 1], rows[:, 2]))
        build_s = time.perf_counter() - began
        queries = unit_xyz(points[:, 0], points[:, 1])
        same = 0
        for (lon, lat), xyz in zip(points[:100], queries[:100], strict=False):
            cursor.execute(BARE_SQL, (float(lon), float(lat)))
            same += {r[0] for r in cursor.fetchall()} == set(ids[tree.query(xyz, k=K)[1]])
    latencies = []
    stop_at = time.perf_counter() + seconds
    began = time.perf_counter()
    index = 0
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        tree.query(queries[index % len(queries)], k=K)
        latencies.append(time.perf_counter() - started)
        index += 1
    single_rate = len(latencies) / (time.perf_counter() - began)
    batch = np.tile(queries, (max(1, 200_000 // len(queries)), 1))
    began = time.perf_counter()
    tree.query(batch, k=K, workers=1)
    batch_rate = len(batch) / (time.perf_counter() - began)
    return KdResult(
        build_s,
        Summary.of_seconds(latencies),
        single_rate,
        batch_rate,
        same / min(100, len(points)),
    )


# -- profiles -------------------------------------------------------------------------------------
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
PY_SPY_RATE_HZ = 250


def py_spy_available() -> bool:
    return Path(PY_SPY).exists()


@dataclass
class Sampling:
    """A py-spy recording under way: its output file and process."""

    out: Path
    process: subprocess.Popen[bytes]

    def running(self) -> bool:
        return self.process.poll() is None


@contextlib.contextmanager
def py_spy(
    pid: int, seconds: float, *, gil: bool = False, idle: bool = False, subprocesses: bool = False
) -> Iterator[Sampling]:
    """Sample ``pid`` (and with ``subprocesses`` its children, such as uvicorn's workers) with
    py-spy for ``seconds`` (raw collapsed stacks); wait for it at the end."""
    out = Path(tempfile.mkstemp(prefix="py-spy-", suffix=".txt")[1])
    command = [PY_SPY, "record", "--pid", str(pid), "--duration", str(int(seconds)),
               "--rate", str(PY_SPY_RATE_HZ), "--format", "raw", "--output", str(out),
               "--nonblocking"]  # fmt: skip
    command += ["--gil"] if gil else []
    command += ["--idle"] if idle else []
    command += ["--subprocesses"] if subprocesses else []
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield Sampling(out, process)
    finally:
        try:
            process.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=10)


Rule = Callable[[list[str]], bool]
HOURS = ("locator/hours.py", "locator/calendar.py")
# Our code first: the first rule matching any frame of a stack names its bucket.
APP_BUCKETS: tuple[tuple[str, Rule], ...] = (
    ("opening hours (locator.hours)", lambda s: _any(s, *HOURS)),
    ("capacity JSON (_capacity)", lambda s: _any(s, "_capacity (")),
    ("building response models (nearest_feature)", lambda s: _any(s, "nearest_feature (")),
    ("pool: checkout, pre-ping, reset/rollback", lambda s: _any(s, "sqlalchemy/pool/")),
    ("psycopg2 execute (idle: waiting for PostgreSQL)", lambda s: _leaf(s, "do_execute (")),
    ("psycopg2 fetch + row conversion", lambda s: _leaf(s, "fetchall (", "_fetchall_impl (")),
    ("SQLAlchemy (statement, params, Result/Row)", lambda s: _any(s, "sqlalchemy/")),
    ("find_nearest Python (_answer, batches, sort)", lambda s: _any(s, "locator/nearest.py")),
    (
        "route body: NearestQuery, CRS, settings",
        lambda s: _any(s, "api/routes/nearest.py", "locator/crs.py"),
    ),
)
# Framework code: the frame nearest the leaf that matches one of these names the bucket
# (pydantic, json and typing frames are passed over, so they count for their caller).
FRAMEWORK_BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("uvicorn HTTP protocol (h11/httptools)", ("uvicorn/protocols", "h11/", "httptools")),
    (
        "request parsing + validation (FastAPI params)",
        ("fastapi/dependencies/", "starlette/requests.py", "starlette/datastructures.py"),
    ),
    (
        "response validation + serialisation (FastAPI, pydantic, JSON)",
        ("serialize_response (", "fastapi/_compat", "fastapi/encoders.py", "starlette/responses"),
    ),
    (
        "threadpool hand-offs (anyio, threading)",
        ("anyio/", "threading.py", "concurrent/", "starlette/concurrency.py", "queue.py"),
    ),
    ("event loop (asyncio)", ("asyncio/",)),
    ("routing + middleware (starlette, fastapi, uvicorn)", ("starlette/", "fastapi/", "uvicorn/")),
)


def _any(stack: list[str], *needles: str) -> bool:
    return any(needle in frame for frame in stack for needle in needles)


def _leaf(stack: list[str], *needles: str) -> bool:
    return bool(stack) and any(needle in stack[-1] for needle in needles)


def classify(stack: list[str]) -> str:
    """The bucket of one sampled stack (root first, leaf last)."""
    for label, rule in APP_BUCKETS:
        if rule(stack):
            return label
    for frame in reversed(stack):
        for label, needles in FRAMEWORK_BUCKETS:
            if any(needle in frame for needle in needles):
                return label
    return "other"


def bucket_profile(path: Path) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Samples in all, per bucket, and the top leaf frames, from py-spy raw output."""
    per_bucket: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        stack = [frame for frame in stack_text.split(";") if frame]
        stack = stack[1:] if stack and stack[0].startswith(("process ", "thread ")) else stack
        total += count
        per_bucket[classify(stack)] += count
        if stack:
            leaves[_short(stack[-1])] += count
    return total, per_bucket.most_common(), leaves.most_common(12)


def _short(frame: str) -> str:
    """``func (path/to/site-packages/pkg/mod.py:12)`` → ``func (pkg/mod.py:12)``."""
    if "(" not in frame:
        return frame
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


@dataclass
class Profile:
    """Buckets of one py-spy recording; ``ms_per_answer`` converts a sample count."""

    title: str
    samples: int
    buckets: list[tuple[str, int]]
    leaves: list[tuple[str, int]]
    answers: float
    wall_s: float
    note: str

    def ms_per_answer(self, samples: int) -> float:
        return samples / PY_SPY_RATE_HZ / max(self.answers, 1) * 1000


def profile_direct(
    db: BenchDatabase, points: np.ndarray, settings: Settings, mixes: Sequence[Mix], seconds: float
) -> Profile:
    """py-spy (idle time included) on this process while it calls find_nearest with a pooled
    read connection per call, as the API does, for as long as py-spy samples."""
    api_engine = make_read_engine(db.url, 10)
    factory = api_engine.connect
    queries = [m.query(float(lon), float(lat)) for lon, lat in points for m in mixes]
    calls = 0
    speeds, stale = settings.speed_kmh(), settings.stale_after()
    with py_spy(os.getpid(), seconds, idle=True) as sampling:
        began = time.perf_counter()
        while sampling.running():
            with factory() as session:
                find_nearest(
                    session, queries[calls % len(queries)], speed_kmh=speeds, stale_after_min=stale
                )
            calls += 1
        wall = time.perf_counter() - began
    api_engine.dispose()
    total, buckets, leaves = bucket_profile(sampling.out)
    sampling.out.unlink(missing_ok=True)
    names = ", ".join(m.name for m in mixes)
    # samples cover the wall clock (idle included): convert with the measured time per call
    answers = total / PY_SPY_RATE_HZ / (wall / max(calls, 1))
    note = (
        f"{calls:,} calls in {wall:.1f} s ({wall / max(calls, 1) * 1000:.2f} ms per call); "
        "idle samples included, so the buckets add up to the wall time per call"
    )
    return Profile(
        f"find_nearest, pooled read connection per call as the API does ({names})",
        total, buckets, leaves, answers, wall, note,
    )  # fmt: skip


def profile_server(server: Server, paths: list[str], clients: int, seconds: float) -> Profile:
    """py-spy ``--gil`` on the uvicorn processes (the workers too) while ``clients`` clients
    load it."""
    with py_spy(server.process.pid, seconds, gil=True, subprocesses=True) as sampling:
        run = run_load(server, paths, clients=clients, duration_s=seconds + 1.5)
    total, buckets, leaves = bucket_profile(sampling.out)
    sampling.out.unlink(missing_ok=True)
    answers = run.rate * seconds
    note = (
        f"{run.rate:,.0f} answers/s during the recording; only samples where a thread holds "
        f"the GIL count: on average {total / (seconds * PY_SPY_RATE_HZ):.2f} of the "
        f"{server.workers} worker processes held theirs"
    )
    return Profile("", total, buckets, leaves, answers, seconds, note)


# -- the run --------------------------------------------------------------------------------------
@dataclass
class Run:
    config: Config
    started: dt.datetime
    machine: dict[str, str]
    db: BenchDatabase | None = None
    occupancy: dict[str, int] = field(default_factory=dict)
    capacity_rows: dict[str, int] = field(default_factory=dict)
    in_db: list[InDbResult] = field(default_factory=list)
    round_trips: dict[str, list[str]] = field(default_factory=dict)
    bare: list[BareResult] = field(default_factory=list)
    whatifs: list[WhatIfResult] = field(default_factory=list)
    direct: list[DirectResult] = field(default_factory=list)
    stale: list[StaleResult] = field(default_factory=list)
    one_client: dict[str, list[OneClientResult]] = field(default_factory=dict)
    throughput: list[ThroughputResult] = field(default_factory=list)
    kd: KdResult | None = None
    profiles: list[Profile] = field(default_factory=list)
    finished: dt.datetime | None = None
    load_after: str = ""
    phases: list[tuple[str, float, float, float]] = field(default_factory=list)
    server_version: str = ""


@contextlib.contextmanager
def phase(run: Run, name: str) -> Iterator[None]:
    """Record how long ``name`` took and how busy the machine was meanwhile."""
    log.info("phase: %s", name)
    start = MachineTimes.now()
    yield
    end = MachineTimes.now()
    busy, steal = end.cores_since(start)
    run.phases.append((name, end.at - start.at, busy, steal))
    if steal > 0.2:
        log.warning("%s: the hypervisor stole %.2f of the 2 cores on average", name, steal)


def run_bench(config: Config) -> Run:
    run = Run(config, dt.datetime.now(dt.UTC), machine_facts())
    db = run.db = prepare_database(config.stations, config.seed)
    settings = Settings(database_url=db.url)
    try:
        run.server_version = _server_version(db)
        run.occupancy = set_live_occupancy(db)
        with db.engine.connect() as conn:
            run.capacity_rows = {
                str(unit): int(n)
                for unit, n in conn.exec_driver_sql(
                    "SELECT unit, count(*) FROM station_capacity GROUP BY unit ORDER BY unit"
                )
            }
        points = synthetic.query_points(config.points, seed=config.seed + 1)
        with phase(run, "b. bare KNN SQL"):
            run.bare = measure_bare(db, points, seconds=config.phase_cap_s / 2)
        with phase(run, "e. KD-tree"):
            run.kd = measure_kdtree(db, points, seconds=config.phase_cap_s / 2)
        with phase(run, "a. in-database time"):
            run.in_db = measure_in_db(
                db, points[: config.db_points], settings, config.phase_cap_s * 2
            )
            run.round_trips = count_round_trips(db)
        with phase(run, "SQL what-ifs"):
            run.whatifs = measure_whatifs(db, points, config.phase_cap_s / 2)
        with phase(run, "c. find_nearest in Python"):
            run.direct = measure_direct(db, points, settings, config.phase_cap_s)
        if config.profile and py_spy_available():
            with phase(run, "profiles of find_nearest"):
                for mixes in (NO_UNIT_MIXES, tuple(m for m in MIXES if "unit" in m.filters)):
                    run.profiles.append(
                        profile_direct(db, points, settings, mixes, 3 if config.quick else 8)
                    )
        run_service(run, db, points)
        with phase(run, "f. capacity searches, no count fresh"):
            run.stale = measure_stale(db, points, settings, config.phase_cap_s)
    finally:
        run.finished = dt.datetime.now(dt.UTC)
        run.load_after = " ".join(f"{v:.2f}" for v in os.getloadavg())
        if config.keep_running:
            db.engine.dispose()
        else:
            db.stop_cluster()
    return run


@dataclass(frozen=True)
class ServerSetup:
    """One way of running the service."""

    workers: int
    loop: str = "uvloop"
    http: str = "httptools"
    product: bool = False  # as `locator serve` runs it by default on this machine

    @property
    def label(self) -> str:
        socket = " (TCP socket, as `locator serve`)" if self.workers > 1 else ""  # = Server.label
        return f"W={self.workers} {self.loop}+{self.http}{socket}"

    @property
    def baseline(self) -> bool:
        """Measured in full (every mix, repeated runs) and judged against the goals."""
        return self.product

    def start(self, url: str) -> contextlib.AbstractContextManager[Server]:
        return uvicorn_server(
            url, workers=self.workers, loop=self.loop, http=self.http, nodelay_fix=self.workers > 1
        )


def server_setups(workers: Sequence[int]) -> list[ServerSetup]:
    """The service as `locator serve` runs it (one worker per core, uvloop + httptools, the
    listening socket bound as TCP by ``api.server``), then for comparison one worker, and one
    worker without the optional speedups (asyncio + h11)."""
    cores = max(1, min(os.cpu_count() or 1, 8))
    setups = [ServerSetup(cores, product=True)]
    setups += [ServerSetup(w) for w in workers if w != cores]
    setups.append(ServerSetup(1, "asyncio", "h11"))
    return setups


def run_service(run: Run, db: BenchDatabase, points: np.ndarray) -> None:
    """Measures d: one client and many clients against uvicorn, for each server setup."""
    config = run.config
    mixed = paths_for(MIXES, points)
    no_unit = paths_for(NO_UNIT_MIXES, points)
    for setup in server_setups(config.workers):
        with phase(run, f"d. service {setup.label}"), setup.start(db.url) as server:
            run_load(server, mixed, clients=8, duration_s=1.0)
            run.one_client[server.label] = one_client(
                db,
                server,
                points,
                config.phase_cap_s / 4,
                MIXES if setup.baseline else (MIXES[0], MIXES[-1]),
            )
            for workload, paths in (("all mixes", mixed), ("mixes without unit", no_unit)):
                run.throughput.append(
                    throughput(
                        db, server, paths, workload=workload, clients=config.clients,
                        load_s=config.load_s, repeats=config.repeats if setup.baseline else 1,
                    )
                )  # fmt: skip
            if setup.baseline:
                run.throughput.append(
                    throughput(
                        db, server, mixed, workload="all mixes", clients=config.clients,
                        load_s=config.load_s, repeats=1, client="httpx",
                    )
                )  # fmt: skip
                if config.profile and py_spy_available():
                    seconds = 3 if config.quick else 6
                    none_only = paths_for(MIXES[:1], points)
                    for clients, workload, paths in (
                        (1, "no filter", none_only),
                        (config.clients, "all mixes", mixed),
                        (config.clients, "mixes without unit", no_unit),
                    ):
                        profile = profile_server(server, paths, clients, seconds)
                        profile.title = (
                            f"service {server.label}, {clients} client{'s' * (clients > 1)}, "
                            f"{workload}: Python CPU (py-spy --gil)"
                        )
                        run.profiles.append(profile)


# -- the report -----------------------------------------------------------------------------------
def passfail(ok: bool) -> str:
    return "**pass**" if ok else "**FAIL**"


def write_report(run: Run, path: Path = RESULTS) -> str:
    """Render the report, put it in its section of RESULTS.md, and return it."""
    config, db = run.config, run.db
    assert db is not None and run.kd is not None
    bare = run.bare[0]
    product = next(s for s in server_setups(run.config.workers) if s.product)
    one_w1 = run.one_client.get(product.label, [])
    lines: list[str] = []
    add = lines.append
    add("# Nearest-station benchmark (national scale, synthetic)")
    add("")
    add(
        f"Run {run.started:%Y-%m-%d %H:%M} UTC – {run.finished:%H:%M} UTC by "
        f"`.venv/bin/python bench/nearest_bench.py{' --quick' if config.quick else ''}`"
        f"{' (QUICK: smoke-check sizes, not for judging goals)' if config.quick else ''}. "
        "Every figure below was measured in this one run, on the same query points."
    )
    add("")
    facts = {
        **run.machine,
        "load average at end": run.load_after,
        "PostgreSQL": run.server_version,
        "dataset": (
            f"{db.stations:,} SYNTHETIC stations (`locator.synthetic.national_stations`, seed "
            f"{db.seed}) around 300 city centres; "
            + (
                f"generated and loaded through `locator.io.load_file` in {db.load_seconds:.0f} s"
                if db.loaded_now
                else "already loaded (same n, seed, generator version)"
            )
        ),
        "capacity rows": ", ".join(f"{u} {n:,}" for u, n in run.capacity_rows.items()),
        "live occupancy": ", ".join(f"{k} {v:,}" for k, v in sorted(run.occupancy.items()))
        + " (fresh = reported in the last 10 minutes)",
        "query points": (
            f"{config.points} (`locator.synthetic.query_points`, seed {config.seed + 1}: 90 % "
            f"around cities, 10 % anywhere on land); in-DB phase: first {config.db_points}"
        ),
        "question": f"k={K}; opening hours evaluated at {LUNCH:%a %Y-%m-%d %H:%M} Asia/Shanghai "
        f"(night mix: {NIGHT:%H:%M}); `at` is passed explicitly so runs compare",
    }
    add(markdown_table(["", ""], list(facts.items())))
    add("")
    _report_machine(run, add)
    _report_goals(run, add, bare, one_w1)
    _report_in_db(run, add, bare)
    _report_floors(run, add)
    _report_direct(run, add, bare)
    _report_service(run, add, bare)
    _report_stale(run, add)
    _report_whatifs(run, add)
    _report_profiles(run, add)
    text = "\n".join(lines) + "\n"
    write_section("nearest", text, path, first=True)
    return text


def _report_machine(run: Run, add: Callable[[str], None]) -> None:
    total = sum(seconds for _, seconds, _, _ in run.phases) or 1.0
    steal = sum(seconds * stolen for _, seconds, _, stolen in run.phases) / total
    add(
        "This is a shared virtual machine: other processes run beside the benchmark, and the "
        "hypervisor may not run its 2 vCPUs when they have work (*steal*). Figures are medians "
        "over many queries and repeated runs, but absolute times are only as good as the "
        f"machine was: over the run, **{steal:.2f} of the 2 cores were stolen on average**"
        + (" — treat absolute figures as pessimistic, compare ratios." if steal > 0.2 else ".")
    )
    add("")
    add(
        markdown_table(
            ["phase", "seconds", "cores busy (all processes)", "cores stolen (hypervisor)"],
            [
                (name, f"{seconds:.0f}", f"{busy:.2f}", f"{stolen:.2f}")
                for name, seconds, busy, stolen in run.phases
            ],
        )
    )
    add("")


def _server_version(db: BenchDatabase) -> str:
    with db.engine.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
        postgis = conn.exec_driver_sql("SELECT postgis_lib_version()").scalar()
    return f"{version}, PostGIS {postgis} (embedded cluster in .locator/bench)"


def _report_goals(
    run: Run, add: Callable[[str], None], bare: BareResult, one_w1: list[OneClientResult]
) -> None:
    add("## Goals")
    add("")
    rows = []
    for result in run.in_db:
        p50 = Summary.of_ms(result.total_ms).p50
        rows.append(
            (
                f"in-database time, {result.mix.label}",
                f"≤ {GOAL_IN_DB_MS} ms",
                f"{fmt(p50, 3)} ms (p50)",
                passfail(p50 <= GOAL_IN_DB_MS),
            )
        )
    for result in one_w1:
        if result.mix is HEALTHZ:
            continue
        rows.append(
            (
                f"one-client API p50 (`locator serve`, httpx), {result.mix.label}",
                f"≤ {GOAL_ONE_CLIENT_P50_MS} ms",
                f"{fmt(result.httpx.p50)} ms",
                passfail(result.httpx.p50 <= GOAL_ONE_CLIENT_P50_MS),
            )
        )
    for result in run.throughput:
        if result.client != "raw":
            continue
        rate, p99 = result.median_run.rate, result.latency.p99
        experiment = "" if "locator serve" in result.server else " (for comparison)"
        rows.append(
            (
                f"{run.config.clients} clients, {result.server}{experiment}, {result.workload}",
                f"≥ {GOAL_RATE:,.0f}/s, p99 ≤ {GOAL_P99_MS:.0f} ms",
                f"{rate:,.0f}/s, p99 {fmt(p99, 1)} ms",
                passfail(rate >= GOAL_RATE and p99 <= GOAL_P99_MS),
            )
        )
    add(markdown_table(["measure", "goal", "result", ""], rows))
    add("")
    add(
        f"For scale, the bare KNN query alone does **{bare.rate:,.0f}/s** on one connection here "
        f"(p50 {fmt(bare.summary.p50, 3)} ms), and the KD-tree floor "
        f"**{run.kd.single_rate:,.0f}/s** one query at a time."
    )
    add("")


def _report_in_db(run: Run, add: Callable[[str], None], bare: BareResult) -> None:
    add("## a. In-database time of the SQL find_nearest sends")
    add("")
    add(
        "Each call's statements were captured (SQLAlchemy `before_cursor_execute`) and run again "
        "under `EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)`: *in-DB* = planning + execution, summed "
        "over the call's statements; *replayed* = the same statements through psycopg2 on one "
        "autocommit connection (wall time, with the loopback round trips and row decoding). "
        f"Ratios are against the bare KNN in-DB p50 ({fmt(bare.in_db.p50, 3)} ms)."
    )
    add("")
    rows = []
    for r in run.in_db:
        total, plan = Summary.of_ms(r.total_ms), Summary.of_ms(r.plan_ms)
        share, search = Summary.of_ms(r.share_ms), Summary.of_ms(r.search_ms)
        replay = Summary.of_ms(r.replay_ms)
        rows.append(
            (
                r.mix.label,
                r.calls,
                f"{np.mean(r.statements):.2f} (max {max(r.statements)})",
                f"{np.mean(r.batches):.2f} (max {max(r.batches)})",
                fmt(total.p50, 3),
                fmt(total.p99, 3),
                fmt(plan.p50, 3),
                fmt(share.p50, 3) if max(r.share_ms) > 0 else "–",
                fmt(search.p50, 3),
                fmt(replay.p50, 3),
                fmt(replay.p99, 3),
                f"{total.p50 / bare.in_db.p50:.1f}×",
                f"{r.jit}/{r.parallel}",
            )
        )
    add(
        markdown_table(
            [
                "mix",
                "calls",
                "statements/call",
                "search batches/call",
                "in-DB p50 ms",
                "in-DB p99 ms",
                "of which planning p50",
                "unit-share stmt p50",
                "search stmts p50",
                "replayed p50 ms",
                "replayed p99 ms",
                "in-DB ÷ bare",
                "JIT/parallel stmts",
            ],
            rows,
        )
    )
    add("")
    add(
        "SQL round trips of one API request (read from the PostgreSQL log with "
        "`log_statement=all` on the service's own connections):"
    )
    add("")
    add(
        markdown_table(
            ["mix", "round trips", "statements in order"],
            [(m, len(s), " → ".join(s)) for m, s in run.round_trips.items()],
        )
    )
    add("")


def _report_floors(run: Run, add: Callable[[str], None]) -> None:
    kd = run.kd
    assert kd is not None
    add("## b, e. Floors: bare KNN SQL (one psycopg2 connection) and in-memory KD-tree")
    add("")
    rows = [
        (
            b.label,
            fmt(b.in_db.p50, 3),
            fmt(b.summary.p50, 3),
            fmt(b.summary.p99, 3),
            f"{b.rate:,.0f}",
        )
        for b in run.bare
    ]
    rows.append(
        (
            "KD-tree (scipy cKDTree, unit sphere), one query per call",
            "–",
            fmt(kd.single.p50, 4),
            fmt(kd.single.p99, 4),
            f"{kd.single_rate:,.0f}",
        )
    )
    rows.append(("KD-tree, one batched call (1 thread)", "–", "–", "–", f"{kd.batch_rate:,.0f}"))
    add(markdown_table(["query", "in-DB p50 ms", "latency p50 ms", "p99 ms", "answers/s"], rows))
    add("")
    add(
        f"KD-tree build: {kd.build_s * 1000:.0f} ms for {run.config.stations:,} stations; its "
        f"top-5 equals the SQL KNN's for {kd.agreement:.0%} of 100 points (chord order is "
        "great-circle order; PostGIS `<->` on geography orders on the sphere). The KD-tree "
        f"is {kd.single_rate / run.bare[0].rate:,.0f}× the bare SQL rate one query at a "
        f"time and {kd.batch_rate / run.bare[0].rate:,.0f}× batched."
    )
    add("")


def _report_direct(run: Run, add: Callable[[str], None], bare: BareResult) -> None:
    add("## c. find_nearest in Python")
    add("")
    add(
        "*one session*: all calls on one Session (one transaction; statements sent as they "
        "are); *connection per call*: a pooled read connection per call, as each API request "
        "does (autocommit, no pre-ping, first search batches prepared once per connection). "
        "Ratios against the "
        f"bare KNN latency p50 ({fmt(bare.summary.p50, 3)} ms)."
    )
    add("")
    by_mix = {r.mix.name: r for r in run.in_db}
    rows = []
    for r in run.direct:
        replay = Summary.of_ms(by_mix[r.mix.name].replay_ms).p50
        rows.append(
            (
                r.mix.label,
                r.one_session.n,
                fmt(r.one_session.p50),
                fmt(r.one_session.p99),
                r.per_call_session.n,
                fmt(r.per_call_session.p50),
                fmt(r.per_call_session.p99),
                fmt(r.per_call_session.p50 - replay),
                f"{r.per_call_session.p50 / bare.summary.p50:.1f}×",
            )
        )
    add(
        markdown_table(
            [
                "mix",
                "n",
                "one session p50 ms",
                "p99",
                "n",
                "connection per call p50 ms",
                "p99",
                "Python + pool overhead p50 (per call − replayed SQL)",
                "÷ bare KNN",
            ],
            rows,
        )
    )
    add("")


def _report_stale(run: Run, add: Callable[[str], None]) -> None:
    add("## f. Capacity searches when no count is fresh (as at night)")
    add("")
    add(
        "Every count made stale (20 % reported one to six hours ago, the rest never); "
        "find_nearest on a read connection as the API uses. *as shipped*: few stations of the "
        "unit have a fresh count with room, so the search starts from them; *index walk*: the "
        "same questions with the distance index walked past every station, as these searches "
        "went before (at most 20 questions)."
    )
    add("")
    rows = [
        (
            r.mix.label,
            r.product.n,
            fmt(r.product.p50),
            fmt(r.product.p99),
            r.walk.n,
            fmt(r.walk.p50),
            f"{r.walk.p50 / r.product.p50:.0f}×" if r.product.p50 else "–",
        )
        for r in run.stale
    ]
    header = ["mix", "n", "as shipped p50 ms", "p99", "n", "index walk p50 ms", "walk ÷ shipped"]
    add(markdown_table(header, rows))
    add("")


def _report_service(run: Run, add: Callable[[str], None], bare: BareResult) -> None:
    add("## d. The service: uvicorn + FastAPI, loopback")
    add("")
    add(
        "`uvicorn --factory api.main:create_app --workers W --loop L --http H`. The goals are "
        "judged on the service as `locator serve` runs it here: one worker per core, uvloop + "
        "httptools, and for several workers the listening socket bound as TCP by "
        "`api.server.listening_socket` (through `bench/uvicorn_nodelay.py`), so that asyncio "
        "turns Nagle's algorithm off on accepted connections (Kludex/uvicorn#3149). One worker, "
        "and one worker with asyncio + h11 (uvicorn without its optional speedups), are shown "
        "for comparison. "
        "*raw* = a minimal asyncio HTTP/1.1 keep-alive client (cheap, so that the load generator "
        "takes little of the 2 cores), *httpx* = `httpx.Client` / `httpx.AsyncClient`."
    )
    add("")
    direct = {r.mix.name: r.per_call_session.p50 for r in run.direct}
    for name, results in run.one_client.items():
        add(f"One client, {name} (each request waits for the previous answer):")
        add("")
        add(
            markdown_table(
                ["mix", "n", "httpx p50 ms", "httpx p99 ms", "raw p50 ms", "raw p99 ms",
                 "raw p50 − find_nearest p50 (HTTP + FastAPI + JSON)", "server CPU ms/answer",
                 "PostgreSQL CPU ms/answer", "httpx p50 ÷ bare KNN"],
                [
                    (r.mix.label, r.httpx.n, fmt(r.httpx.p50), fmt(r.httpx.p99), fmt(r.raw.p50),
                     fmt(r.raw.p99),
                     fmt(r.raw.p50 - direct[r.mix.name]) if r.mix.name in direct else "–",
                     fmt(r.server_cpu_ms, 3), fmt(r.postgres_cpu_ms, 3),
                     f"{r.httpx.p50 / bare.summary.p50:.1f}×")
                    for r in results
                ],
            )
        )  # fmt: skip
        add("")
    add(
        f"{run.config.clients} concurrent clients ({run.config.load_s:.0f} s per run after a "
        "warm-up; answers/s is the median run, min–max in brackets; latencies pooled over "
        "runs). CPU per answer = user + system CPU time of each process tree ÷ answers; on 2 "
        "cores the rate cannot exceed 2000 ms ÷ (their sum) per second. *others* = cores "
        "busy with processes outside this benchmark during the runs; *stolen* = time the "
        "hypervisor did not run this VM's 2 vCPUs although they had work."
    )
    add("")
    rows = []
    for t in run.throughput:
        rates = [r.rate for r in t.runs]
        seconds = sum(r.seconds for r in t.runs)
        client_cpu = sum(r.client_cpu_s for r in t.runs)
        ours = t.server_cpu_s + t.postgres_cpu_s + client_cpu
        rows.append(
            (
                t.server, t.workload, t.client, len(t.runs),
                f"{t.median_run.rate:,.0f} ({min(rates):,.0f}–{max(rates):,.0f})",
                fmt(t.latency.p50, 1), fmt(t.latency.p99, 1), sum(r.errors for r in t.runs),
                fmt(t.cpu_per_answer_ms(t.server_cpu_s), 3),
                fmt(t.cpu_per_answer_ms(t.postgres_cpu_s), 3),
                fmt(t.cpu_per_answer_ms(client_cpu), 3),
                f"{ours / seconds:.2f}", f"{max(t.machine_cpu_s - ours, 0) / seconds:.2f}",
                f"{t.steal_s / seconds:.2f}",
                f"{t.median_run.rate / bare.rate:.2f}",
            )
        )  # fmt: skip
    add(
        markdown_table(
            ["server", "workload", "client", "runs", "answers/s", "p50 ms", "p99 ms", "errors",
             "server CPU ms/answer", "PostgreSQL CPU ms/answer", "client CPU ms/answer",
             "cores busy (ours)", "cores busy (others)", "cores stolen (hypervisor)",
             "÷ bare KNN q/s"],
            rows,
        )
    )  # fmt: skip
    add("")


def _report_whatifs(run: Run, add: Callable[[str], None]) -> None:
    add("## What-if: the first search batch and variants of it (psycopg2, one connection)")
    add("")
    add(
        "Not what the code does today; shows what each part of the search SQL costs, on the "
        "same points, no filter."
    )
    add("")
    add(
        markdown_table(
            [
                "SQL",
                "in-DB p50 ms",
                "planning p50 ms",
                "in-DB p99 ms",
                "wall p50 ms",
                "wall p99 ms",
            ],
            [
                (
                    w.label,
                    fmt(w.in_db.p50, 3),
                    fmt(w.plan.p50, 3),
                    fmt(w.in_db.p99, 3),
                    fmt(w.wall.p50, 3),
                    fmt(w.wall.p99, 3),
                )
                for w in run.whatifs
            ],
        )
    )
    add("")


def _report_profiles(run: Run, add: Callable[[str], None]) -> None:
    add("## Where the time goes: py-spy profiles")
    add("")
    if not run.profiles:
        add("Skipped (`--no-profile`, or py-spy is not installed).")
        add("")
        return
    add(
        f"py-spy at {PY_SPY_RATE_HZ} Hz. A sample goes to the first of our-code buckets that one "
        "of its frames matches (hours, capacity, response models, pool, psycopg2, SQLAlchemy, "
        "find_nearest, route body), else to the framework bucket of the frame nearest the leaf "
        "(pydantic/json frames count for their caller). *ms per answer* = samples ÷ rate ÷ "
        "answers."
    )
    add("")
    for p in run.profiles:
        add(f"### {p.title}")
        add("")
        add(f"{p.samples:,} samples; {p.note}.")
        add("")
        add(
            markdown_table(
                ["bucket", "share", "ms per answer"],
                [
                    (name, f"{n / max(p.samples, 1):.1%}", fmt(p.ms_per_answer(n), 3))
                    for name, n in p.buckets
                ],
            )
        )
        add("")
        add("<details><summary>top leaf frames</summary>")
        add("")
        add(
            markdown_table(
                ["frame", "share"],
                [(f"`{f}`", f"{n / max(p.samples, 1):.1%}") for f, n in p.leaves],
            )
        )
        add("")
        add("</details>")
        add("")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    config = parse_args(argv)
    log.info("benchmark: %s", config)
    began = time.perf_counter()
    run = run_bench(config)
    report = write_report(run)
    print(report)
    log.info("wrote %s in %.0f s", RESULTS, time.perf_counter() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
