"""Capacity writes: check-in/check-out throughput and latency with 32 concurrent clients.

Measured in one run, on the same stations and the same client workload (each client picks a
random station and unit, checks in and, when that was accepted, checks out again):

- **a.** the bare SQL floor: psycopg2 in autocommit, one conditional ``UPDATE … RETURNING`` per
  write; also the whole write in one statement (update + event row in a CTE), with and without
  the NOTIFY trigger on ``occupancy_events``;
- **b.** the real service (``uvicorn --factory api.main:create_app``, W = 1 and 2 workers), with
  an API key and an ``Idempotency-Key`` on every request; experiments with uvicorn's
  TCP_NODELAY problem fixed (``bench/uvicorn_nodelay.py``) and with asyncio + h11;
- **c.** the core functions ``locator.capacity.check_in`` / ``check_out`` called in Python (a
  session per client, commit per call): the Python/ORM part between a and b;

each with 32 concurrent clients and with one client, plus the SQL round trips of one write (a
SQLAlchemy ``before_cursor_execute`` listener and the PostgreSQL statement log), a py-spy
profile of the service under load, a cProfile of the core, and a check that every count equals
the sum of the deltas of its events. The figures go to ``bench/RESULTS.md`` between the marks
``<!-- capacity:start -->`` and ``<!-- capacity:end -->``; the rest of the file is kept.

Run ``.venv/bin/python bench/capacity_bench.py [--quick]`` from the project folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import importlib.util
import itertools
import json
import logging
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import psycopg2
from benchlib import RESULTS, ROOT, STATE_DIR, write_section
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from locator import capacity, keys
from locator.cluster import EmbeddedCluster
from locator.db import make_engine, migrate, session_scope
from locator.errors import ConflictError
from locator.io import load_file

log = logging.getLogger("capacity_bench")

DATABASE = "bench_capacity"
UNITS = ("seat", "bed")
SEATS, BEDS = 20, 10
FULL_SHARE = 0.10  # share of units filled to their maximum: check-ins there are refused (409)
BEIJING = (116.20, 39.80, 116.60, 40.05)  # lon/lat box the synthetic stations are spread over
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
ROUTE = {"check_in": "check-in", "check_out": "check-out"}
BENCH_APP = "capacity_bench"  # application_name of the bench's own connections
LOAD_APP = "capacity_bench_load"  # application_name of the connections under load

_FIGURES = "station_id, unit, maximum, occupied, held, reported_at"
BARE_SQL = {
    "check_in": "UPDATE station_capacity SET occupied = occupied + 1, reported_at = now() "
    f"WHERE station_id = %s AND unit = %s AND occupied + held < maximum RETURNING {_FIGURES}",
    "check_out": "UPDATE station_capacity SET occupied = occupied - 1, reported_at = now() "
    f"WHERE station_id = %s AND unit = %s AND occupied > 0 RETURNING {_FIGURES}",
}
_EVENT_CTE = (
    "WITH c AS ({update}) INSERT INTO occupancy_events (station_id, unit, occurred_at, actor, "
    "action, delta, occupied_after, maximum_after, idempotency_key, detail) "
    "SELECT station_id, unit, reported_at, 'bench:sql', %s, %s, occupied, maximum, %s, "
    "jsonb_build_object('held', held) FROM c RETURNING occupied_after, maximum_after"
)
EVENT_SQL = {action: _EVENT_CTE.format(update=sql) for action, sql in BARE_SQL.items()}
DELTA = {"check_in": 1, "check_out": -1}


# -- configuration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """How big and how long the run is."""

    stations: int
    duration_s: float
    sequential_s: float
    warmup_s: float
    repeats: int
    clients: int
    seed: int
    max_writes: int
    profile: bool
    keep_running: bool
    wait_s: float
    quick: bool


def parse_args(argv: Sequence[str] | None = None) -> Config:
    """The command line: ``--quick`` for a smoke check, sizes and switches otherwise."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 stations, 3 s phases, 1 round")
    parser.add_argument("--stations", type=int, help="default 1000 (quick 100)")
    parser.add_argument("--duration", type=float, help="seconds per load phase (10; quick 3)")
    parser.add_argument("--repeats", type=int, help="rounds of every measure (3; quick 1)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy and cProfile")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the bench PostgreSQL running"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=1800.0,
        help="seconds to wait at most while another benchmark uses the bench cluster (1800)",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    duration = args.duration or (3.0 if quick else 10.0)
    return Config(
        stations=args.stations or (100 if quick else 1000),
        duration_s=duration,
        sequential_s=duration / 2,
        warmup_s=0.5 if quick else 1.0,
        repeats=args.repeats or (1 if quick else 3),
        clients=args.clients,
        seed=args.seed,
        max_writes=int(duration * 10_000),
        profile=not args.no_profile,
        keep_running=bool(args.keep_running),
        wait_s=float(args.wait),
        quick=quick,
    )


# -- the bench database ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One unit of one station."""

    code: str
    sid: int
    unit: str


@dataclass
class Bench:
    """The bench database, its stations and the keys of the clients."""

    cluster: EmbeddedCluster
    url: str
    engine: Engine
    codes: list[str]
    ids: dict[str, int]
    admin_secret: str
    keeper_secrets: dict[int, str]
    pools: list[list[Target]]
    full: list[Target]
    was_running: bool
    load_seconds: float
    waited_s: float = 0.0

    @property
    def dsn(self) -> dict[str, Any]:
        """psycopg2 connection keywords for the bench database."""
        url = self.engine.url
        return {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "dbname": url.database,
        }

    def secret_of(self, client: int) -> str:
        """Even clients write with the admin key, odd ones with their own keeper key."""
        return self.keeper_secrets.get(client, self.admin_secret)

    def connect(self, application_name: str = BENCH_APP) -> Any:
        """A psycopg2 connection in autocommit."""
        conn = psycopg2.connect(**self.dsn, application_name=application_name)
        conn.autocommit = True
        return conn

    @property
    def postmaster_pid(self) -> int:
        return int((self.cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])


def station_features(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` SYNTHETIC stations on a jittered grid over Beijing, 20 seats and 10 beds each."""
    rng = random.Random(f"{seed}:stations")
    x0, y0, x1, y1 = BEIJING
    side = int(np.ceil(np.sqrt(n)))
    features = []
    for i in range(n):
        lon = x0 + (x1 - x0) * ((i % side) + rng.random()) / side
        lat = y0 + (y1 - y0) * ((i // side) + rng.random()) / side
        props = {
            "code": f"CB{i:05d}",
            "name_zh": f"压测驿站{i}",
            "name_en": f"Bench station {i}",
            "kind": "union_post",
            "services": ["hot_water", "phone_charging"],
            "groups": ["courier"],
            "opening_hours": "24/7",
            "stars": 3,
            "seats": SEATS,
            "beds": BEDS,
        }
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                "properties": props,
            }
        )
    return features


def prepare(config: Config) -> Bench:
    """Start the bench cluster; make database ``bench_capacity`` afresh and fill it.

    Stations go through :func:`locator.io.load_file`; keys through
    :func:`locator.keys.create_key` (one admin key, one keeper key per odd client, bound to that
    client's share of the stations); ``FULL_SHARE`` of the units are filled with
    :func:`locator.capacity.set_count`, so that the event log explains every count.
    """
    cluster = EmbeddedCluster(STATE_DIR)
    waited_s = wait_for_quiet_cluster(cluster, config.wait_s)
    was_running = cluster.is_running()
    cluster.up()
    cluster.drop_database(DATABASE)
    url = cluster.create_database(DATABASE)
    engine = make_engine(url, connect_args={"application_name": BENCH_APP})
    migrate(engine)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stations.geojson"
        collection = {
            "type": "FeatureCollection",
            "features": station_features(config.stations, config.seed),
        }
        path.write_text(json.dumps(collection, ensure_ascii=False))
        with session_scope(engine) as session:
            load_file(session, "stations", path)
    load_seconds = time.perf_counter() - began
    with engine.connect() as conn:
        ids = {str(c): int(i) for c, i in conn.execute(text("SELECT code, id FROM stations"))}
    codes = sorted(ids)
    shares = [codes[i :: config.clients] for i in range(config.clients)]
    with session_scope(engine) as session:
        admin_secret, _ = keys.create_key(session, "bench admin", "admin")
        keeper_secrets = {
            i: keys.create_key(session, f"bench keeper {i}", "keeper", stations=tuple(shares[i]))[0]
            for i in range(1, config.clients, 2)
        }
    rng = random.Random(f"{config.seed}:full units")
    everything = [Target(c, ids[c], u) for c in codes for u in UNITS]
    full = rng.sample(everything, max(1, round(FULL_SHARE * len(everything))))
    now = dt.datetime.now(dt.UTC)
    with session_scope(engine) as session:
        for target in full:
            maximum = SEATS if target.unit == "seat" else BEDS
            capacity.set_count(
                session, target.code, target.unit, maximum, actor="bench:setup", now=now
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    pools = [
        everything if i % 2 == 0 else [Target(c, ids[c], u) for c in shares[i] for u in UNITS]
        for i in range(config.clients)
    ]
    return Bench(
        cluster,
        url,
        engine,
        codes,
        ids,
        admin_secret,
        keeper_secrets,
        pools,
        full,
        was_running,
        load_seconds,
        waited_s,
    )


# -- measures -------------------------------------------------------------------------------------
@dataclass
class Tally:
    """What one client saw: latency of every answer, refusals (409) and errors."""

    latencies_s: list[float] = field(default_factory=list)
    refused: int = 0
    errors: int = 0
    first_error: str | None = None

    def add(self, began: float, applied: bool | None, error: str | None = None) -> None:
        """Record one write that started at ``began``; ``applied`` None means it failed."""
        if applied is None:
            self.errors += 1
            self.first_error = self.first_error or error
            return
        self.latencies_s.append(time.perf_counter() - began)
        if not applied:
            self.refused += 1


@dataclass(frozen=True)
class Summary:
    """Latency figures in milliseconds."""

    n: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of_seconds(cls, values: Sequence[float]) -> Summary:
        if not values:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan)
        ms = np.asarray(values) * 1000.0
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(len(ms), float(p50), float(p90), float(p99), float(ms.max()))


@dataclass
class Measure:
    """One load phase of one measure."""

    name: str
    clients: int
    seconds: float = 0.0
    tallies: list[Tally] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    sessions: Counter[str] = field(default_factory=Counter)
    sessions_seen: int = 0
    tries: int = 1

    @property
    def interference(self) -> float:
        """Share of the machine's CPU time lost to others: stolen by the hypervisor or used by
        processes that are not part of the measure."""
        wall = self.cpu_s.get("wall", 0.0)
        lost = self.cpu_s.get("steal", 0.0) + max(self.cpu_s.get("other", 0.0), 0.0)
        return lost / (wall * (os.cpu_count() or 1)) if wall else 0.0

    @property
    def steal_share(self) -> float:
        """Share of the machine's CPU time the hypervisor gave to others during the phase."""
        wall = self.cpu_s.get("wall", 0.0)
        return self.cpu_s.get("steal", 0.0) / (wall * (os.cpu_count() or 1)) if wall else 0.0

    @property
    def latencies_s(self) -> list[float]:
        return [v for t in self.tallies for v in t.latencies_s]

    @property
    def answers(self) -> int:
        return sum(len(t.latencies_s) for t in self.tallies)

    @property
    def refused(self) -> int:
        return sum(t.refused for t in self.tallies)

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.tallies)

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.seconds else 0.0

    @property
    def summary(self) -> Summary:
        return Summary.of_seconds(self.latencies_s)

    def cpu_ms_per_write(self, part: str) -> float:
        return 1000.0 * self.cpu_s.get(part, float("nan")) / max(self.answers, 1)


class Budget:
    """A write budget shared by the clients of one phase (bounded request count)."""

    def __init__(self, limit: int) -> None:
        self._counter = itertools.count()
        self.limit = limit

    def take(self) -> bool:
        return next(self._counter) < self.limit


Write = Callable[[Target, str], bool]
AsyncWrite = Callable[[Target, str], Awaitable[bool]]


def drive(
    write: Write, pool: list[Target], rng: random.Random, stop_at: float, budget: Budget
) -> Tally:
    """Check in on random units of ``pool`` and, when accepted, check out again, until time or
    budget runs out."""
    tally = Tally()
    while time.perf_counter() < stop_at and budget.take():
        target = rng.choice(pool)
        for action in ("check_in", "check_out"):
            began = time.perf_counter()
            try:
                applied = write(target, action)
            except Exception as exc:  # counted and reported; the run goes on
                tally.add(began, None, f"{type(exc).__name__}: {exc}"[:300])
                break
            tally.add(began, applied)
            if not applied:
                break
    return tally


async def drive_async(
    write: AsyncWrite, pool: list[Target], rng: random.Random, stop_at: float, budget: Budget
) -> Tally:
    """:func:`drive` for a coroutine ``write``."""
    tally = Tally()
    while time.perf_counter() < stop_at and budget.take():
        target = rng.choice(pool)
        for action in ("check_in", "check_out"):
            began = time.perf_counter()
            try:
                applied = await write(target, action)
            except Exception as exc:  # counted and reported; the run goes on
                tally.add(began, None, f"{type(exc).__name__}: {exc}"[:300])
                break
            tally.add(began, applied)
            if not applied:
                break
    return tally


# -- CPU accounting -------------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process; None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def reaped_children_s(pid: int) -> float:
    """CPU seconds of the children ``pid`` has waited for (exited PostgreSQL backends, for the
    postmaster)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return sum(int(v) for v in fields[13:15]) / CLOCK_TICKS


def _title(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
        )
    except OSError:
        return ""


def tree_cpu(root: int, keep: Callable[[int], bool] = lambda pid: True) -> dict[int, float]:
    """CPU seconds so far of ``root`` and its descendants (those ``keep`` accepts), by pid."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            parents[int(entry.name)], cpu[int(entry.name)] = stat
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return {pid: cpu[pid] for pid in found if pid in cpu and keep(pid)}


def machine_times() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far (/proc/stat, all cores).

    Stolen time is what the hypervisor gave to other guests while this one wanted to run.
    """
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


SESSION_STATES = (
    "running",
    "row lock",
    "NOTIFY queue lock",
    "WAL flush",
    "other wait",
    "idle in transaction",
    "idle",
)


def session_state(state: str | None, wait_type: str | None, wait: str | None) -> str:
    """What one database session is doing, in the words of the report."""
    if state == "idle in transaction":
        return "idle in transaction"
    if state != "active":
        return "idle"
    if wait_type is None:
        return "running"
    if wait_type == "Lock":
        return "NOTIFY queue lock" if wait == "object" else "row lock"
    if wait in ("WALSync", "WALWrite", "WALInsert"):
        return "WAL flush"
    return "other wait"


class SessionSampler(threading.Thread):
    """Samples ``pg_stat_activity`` for the sessions of the load, every 20 ms."""

    def __init__(self, bench: Bench) -> None:
        super().__init__(daemon=True)
        self.bench = bench
        self.counts: Counter[str] = Counter()
        self.pids: set[int] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        with contextlib.closing(self.bench.connect(f"{BENCH_APP}_sampler")) as conn:
            cur = conn.cursor()
            while not self._stop_event.wait(0.02):
                cur.execute(
                    "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name = %s",
                    (DATABASE, LOAD_APP),
                )
                for pid, *row in cur.fetchall():
                    self.counts[session_state(*row)] += 1
                    self.pids.add(pid)

    def stop(self) -> Counter[str]:
        self._stop_event.set()
        self.join()
        return self.counts


class PhaseMeter:
    """CPU used during a phase by the bench process, the service, PostgreSQL and the rest;
    CPU stolen by the hypervisor; and (``sessions``) what the database sessions were doing."""

    def __init__(
        self, bench: Bench, server_pid: int | None = None, *, sessions: bool = False
    ) -> None:
        self.bench, self.server_pid = bench, server_pid
        self.sampler = SessionSampler(bench) if sessions else None
        self.used: dict[str, float] = {}
        self.sessions: Counter[str] = Counter()
        self.sessions_seen = 0

    def _ours(self, pid: int) -> bool:
        """PostgreSQL processes that work for this database (and the shared helpers)."""
        title = _title(pid)
        return not title.startswith("postgres: locator ") or f" {DATABASE} " in title

    def _snapshot(self) -> dict[str, Any]:
        busy, stolen = machine_times()
        return {
            "client": time.process_time(),
            "app": tree_cpu(self.server_pid) if self.server_pid else {},
            "postgres": tree_cpu(self.bench.postmaster_pid, self._ours),
            "reaped": reaped_children_s(self.bench.postmaster_pid),
            "machine": busy,
            "steal": stolen,
            "wall": time.perf_counter(),
        }

    def __enter__(self) -> PhaseMeter:
        if self.sampler:
            self.sampler.start()
        self.before = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self._snapshot()
        if self.sampler:
            self.sessions = self.sampler.stop()
            self.sessions_seen = len(self.sampler.pids)
        used = {k: after[k] - self.before[k] for k in ("client", "machine", "steal", "wall")}
        for part in ("app", "postgres"):
            used[part] = sum(s - self.before[part].get(p, 0.0) for p, s in after[part].items())
        used["postgres"] += after["reaped"] - self.before["reaped"]  # backends that ended
        used["other"] = used["machine"] - used["client"] - used["app"] - used["postgres"]
        self.used = used


# -- a. bare SQL and c. the core, in threads ------------------------------------------------------
def run_threads(
    bench: Bench,
    config: Config,
    name: str,
    writers: list[Write],
    *,
    seconds: float,
    seed: int,
) -> Measure:
    """Each writer in its own thread for a warm-up, then for ``seconds``; CPU measured."""
    measure = Measure(name, len(writers))

    def phase(duration: float, budget: Budget, salt: int) -> list[Tally]:
        stop_at = time.perf_counter() + duration
        results: list[Tally] = [Tally() for _ in writers]

        def work(i: int) -> None:
            rng = random.Random(f"{seed}:threads:{salt}:{i}")
            pool = bench.pools[i % len(bench.pools)] if len(writers) > 1 else bench.pools[0]
            results[i] = drive(writers[i], pool, rng, stop_at, budget)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(writers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    phase(config.warmup_s, Budget(config.max_writes), 0)
    with PhaseMeter(bench, sessions=len(writers) > 1) as meter:
        began = time.perf_counter()
        measure.tallies = phase(seconds, Budget(config.max_writes), 1)
        measure.seconds = time.perf_counter() - began
    measure.cpu_s, measure.sessions = meter.used, meter.sessions
    measure.sessions_seen = meter.sessions_seen
    return measure


def bare_writer(cursor: Any, sql: dict[str, str], with_event: bool) -> Write:
    """One write as one statement on one autocommit psycopg2 connection."""

    def write(target: Target, action: str) -> bool:
        if with_event:
            params: tuple[Any, ...] = (
                target.sid,
                target.unit,
                action,
                DELTA[action],
                uuid.uuid4().hex,
            )
        else:
            params = (target.sid, target.unit)
        cursor.execute(sql[action], params)
        return cursor.fetchone() is not None

    return write


def measure_sql(
    bench: Bench,
    config: Config,
    name: str,
    clients: int,
    *,
    with_event: bool,
    seconds: float,
    seed: int,
    setting: str | None = None,
) -> Measure:
    """a. Bare SQL: the conditional update (``with_event``: and the event row, one statement);
    ``setting`` is a ``SET`` statement run first on every connection."""
    sql = EVENT_SQL if with_event else BARE_SQL
    connections = [bench.connect(LOAD_APP) for _ in range(clients)]
    try:
        if setting:
            for conn in connections:
                with conn.cursor() as cur:
                    cur.execute(setting)
        writers = [bare_writer(c.cursor(), sql, with_event) for c in connections]
        return run_threads(bench, config, name, writers, seconds=seconds, seed=seed)
    finally:
        for conn in connections:
            conn.close()


@contextlib.contextmanager
def notify_trigger_off(bench: Bench) -> Iterator[None]:
    """The NOTIFY trigger on occupancy_events disabled, in the bench database only."""
    with contextlib.closing(bench.connect()) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE occupancy_events DISABLE TRIGGER occupancy_events_notify")
        try:
            yield
        finally:
            cur.execute("ALTER TABLE occupancy_events ENABLE TRIGGER occupancy_events_notify")


def core_writer(session: Session) -> Write:
    """c. ``capacity.check_in``/``check_out`` on one session, committed per call."""

    def write(target: Target, action: str) -> bool:
        change = capacity.check_in if action == "check_in" else capacity.check_out
        try:
            change(
                session,
                target.code,
                target.unit,
                actor="bench:core",
                now=dt.datetime.now(dt.UTC),
                idempotency_key=uuid.uuid4().hex,
            )
        except ConflictError:
            session.rollback()
            return False
        session.commit()
        return True

    return write


def core_engine(bench: Bench, clients: int, application_name: str = BENCH_APP) -> Engine:
    """An engine made as the service makes it (:func:`locator.db.make_engine`, pre-ping on)."""
    return make_engine(
        bench.url,
        pool_size=clients + 2,
        max_overflow=0,
        connect_args={"application_name": application_name},
    )


def measure_core(
    bench: Bench, config: Config, clients: int, *, seconds: float, seed: int
) -> Measure:
    """c. The core functions in ``clients`` threads, each with its own session."""
    engine = core_engine(bench, clients, LOAD_APP)
    factory = sessionmaker(engine, expire_on_commit=False)
    sessions = [factory() for _ in range(clients)]
    try:
        writers = [core_writer(s) for s in sessions]
        return run_threads(
            bench, config, "c. core check_in/check_out", writers, seconds=seconds, seed=seed
        )
    finally:
        for session in sessions:
            session.close()
        engine.dispose()


# -- b. the real service --------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerKind:
    """How the service is started."""

    label: str
    workers: int
    loop: str = "auto"
    http: str = "auto"
    nodelay_fix: bool = False
    experiment: bool = False
    client: str = "httpx"  # or "raw": a minimal asyncio HTTP/1.1 client, lighter on the CPU


AUTO_STACK = (
    ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
    + "+"
    + ("httptools" if importlib.util.find_spec("httptools") else "h11")
)
SERVERS = (
    ServerKind("b. API W=1", 1),
    ServerKind("b. API W=2", 2),
    ServerKind("b. API W=2, TCP_NODELAY fixed", 2, nodelay_fix=True, experiment=True),
    ServerKind("b. API W=1, asyncio+h11", 1, "asyncio", "h11", experiment=True),
    ServerKind("b. API W=1, raw HTTP client", 1, experiment=True, client="raw"),
)


@dataclass
class Server:
    """A running uvicorn serving the real app."""

    kind: ServerKind
    port: int
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def service(bench: Bench, kind: ServerKind, *, url: str | None = None) -> Iterator[Server]:
    """``uvicorn --factory api.main:create_app`` on a free loopback port; stopped after."""
    from benchlib import uvicorn_server

    with uvicorn_server(
        url or f"{bench.url}?application_name={LOAD_APP}",
        workers=kind.workers,
        loop=kind.loop,
        http=kind.http,
        nodelay_fix=kind.nodelay_fix,
        env={"LOCATOR_WRITES_PER_MINUTE": "100000000"},
    ) as running:
        yield Server(kind, running.port, running.process)


def _answered(response: Any) -> bool:
    """True for 200, False for a refusal (409); anything else is an error."""
    if response.status_code == 200:
        return True
    if response.status_code == 409:
        return False
    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")


def api_path(target: Target, action: str) -> str:
    return f"/v1/stations/{target.code}/capacity/{target.unit}/{ROUTE[action]}"


class RawClient:
    """One keep-alive HTTP/1.1 connection sending bodiless POSTs (minimal parsing, so that the
    load generator takes little of the two cores)."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {secret}\r\nContent-Length: 0"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str) -> int:
        """POST ``path`` with a fresh Idempotency-Key; return the status code."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        request = (
            f"POST {path} HTTP/1.1\r\n{self.head}\r\nIdempotency-Key: {uuid.uuid4().hex}\r\n\r\n"
        )
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return int(head[9:12])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _raw_writer(client: RawClient) -> AsyncWrite:
    async def write(target: Target, action: str) -> bool:
        status = await client.post(api_path(target, action))
        if status in (200, 409):
            return status == 200
        raise RuntimeError(f"HTTP {status}")

    return write


async def _api_phase(
    bench: Bench,
    server: Server,
    clients: int,
    duration: float,
    budget: Budget,
    salt: int,
    *,
    pools: Sequence[list[Target]] | None = None,
) -> list[Tally]:
    """``clients`` concurrent clients, each writing as fast as its answers come back."""
    import httpx

    pools = pools or bench.pools
    stop_at = time.perf_counter() + duration
    rngs = [random.Random(f"{salt}:api:{i}") for i in range(clients)]
    if server.kind.client == "raw":
        raw = [RawClient(server.port, bench.secret_of(i)) for i in range(clients)]
        try:
            return list(
                await asyncio.gather(
                    *(
                        drive_async(_raw_writer(raw[i]), pools[i], rngs[i], stop_at, budget)
                        for i in range(clients)
                    )
                )
            )
        finally:
            for client in raw:
                client.close()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as http:

        def writer(client: int) -> AsyncWrite:
            auth = f"Bearer {bench.secret_of(client)}"

            async def write(target: Target, action: str) -> bool:
                headers = {"Authorization": auth, "Idempotency-Key": uuid.uuid4().hex}
                # A connection that breaks before the answer (e.g. a keep-alive connection the
                # server closed as the request left) is tried again with the same key, as a
                # phone does: the service applies the write once whatever the number of tries.
                for attempt in range(3):
                    try:
                        return _answered(await http.post(api_path(target, action), headers=headers))
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                raise AssertionError("unreachable")

            return write

        return list(
            await asyncio.gather(
                *(
                    drive_async(writer(i), pools[i], rngs[i], stop_at, budget)
                    for i in range(clients)
                )
            )
        )


def measure_api(
    bench: Bench, config: Config, server: Server, *, seconds: float, seed: int
) -> Measure:
    """b. ``config.clients`` concurrent clients (httpx.AsyncClient) against the service."""
    measure = Measure(server.kind.label, config.clients)
    asyncio.run(
        _api_phase(bench, server, config.clients, config.warmup_s, Budget(config.max_writes), 0)
    )
    with PhaseMeter(bench, server.process.pid, sessions=True) as meter:
        began = time.perf_counter()
        measure.tallies = asyncio.run(
            _api_phase(bench, server, config.clients, seconds, Budget(config.max_writes), seed)
        )
        measure.seconds = time.perf_counter() - began
    measure.cpu_s, measure.sessions = meter.used, meter.sessions
    measure.sessions_seen = meter.sessions_seen
    return measure


def sync_api_writer(http: Any, secret: str) -> Write:
    """One write through ``httpx.Client``."""
    auth = f"Bearer {secret}"

    def write(target: Target, action: str) -> bool:
        headers = {"Authorization": auth, "Idempotency-Key": uuid.uuid4().hex}
        return _answered(http.post(api_path(target, action), headers=headers))

    return write


def measure_api_sequential(bench: Bench, config: Config, server: Server, *, seed: int) -> Measure:
    """b. One client (``httpx.Client``, or the raw client), one request after the other."""
    import httpx

    measure = Measure(server.kind.label, 1)
    if server.kind.client == "raw":
        one = [bench.pools[0]]
        asyncio.run(_api_phase(bench, server, 1, config.warmup_s, Budget(10**9), 0, pools=one))
        with PhaseMeter(bench, server.process.pid) as meter:
            began = time.perf_counter()
            measure.tallies = asyncio.run(
                _api_phase(bench, server, 1, config.sequential_s, Budget(10**9), seed, pools=one)
            )
            measure.seconds = time.perf_counter() - began
        measure.cpu_s = meter.used
        return measure
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        write = sync_api_writer(http, bench.admin_secret)
        rng = random.Random(f"{seed}:sequential")
        drive(write, bench.pools[0], rng, time.perf_counter() + config.warmup_s, Budget(10**9))
        with PhaseMeter(bench, server.process.pid) as meter:
            began = time.perf_counter()
            stop_at = began + config.sequential_s
            measure.tallies = [drive(write, bench.pools[0], rng, stop_at, Budget(10**9))]
            measure.seconds = time.perf_counter() - began
    measure.cpu_s = meter.used
    return measure


# -- SQL round trips ------------------------------------------------------------------------------
class StatementLog:
    """Statements PostgreSQL logs (``log_statement = all`` on the bench database only)."""

    def __init__(self, bench: Bench) -> None:
        self.path = bench.cluster.run_dir / "postgres.log"
        self.bench = bench
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def since_mark(self, application_name: str) -> list[str]:
        """Statements logged since :meth:`mark` by backends of ``application_name``."""
        time.sleep(0.05)
        with contextlib.closing(self.bench.connect()) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                (DATABASE, application_name),
            )
            pids = {str(row[0]) for row in cur.fetchall()}
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            lines = handle.read().decode(errors="replace").splitlines()
        found = []
        for line in lines:
            match = re.search(r"\[(\d+)\] LOG:  statement: (.*)", line)
            if match and match.group(1) in pids:
                found.append(match.group(2).strip())
        return found


@contextlib.contextmanager
def statement_log(bench: Bench) -> Iterator[StatementLog]:
    """Log every statement of new sessions on the bench database, for the duration."""
    with contextlib.closing(bench.connect()) as conn, conn.cursor() as cur:
        cur.execute(f"ALTER DATABASE {DATABASE} SET log_statement = 'all'")
        try:
            yield StatementLog(bench)
        finally:
            cur.execute(f"ALTER DATABASE {DATABASE} RESET log_statement")


@dataclass(frozen=True)
class ConnectCost:
    """What opening one new connection costs (a pool overflow does it per request)."""

    n: int
    wall_ms: float
    client_cpu_ms: float
    server_cpu_ms: float


def measure_connect(bench: Bench, n: int = 40) -> ConnectCost:
    """Open and close ``n`` psycopg2 connections as the service's pool would (SCRAM auth)."""
    postmaster = bench.postmaster_pid
    server_before = reaped_children_s(postmaster) + sum(tree_cpu(postmaster).values())
    cpu, began = time.process_time(), time.perf_counter()
    for _ in range(n):
        bench.connect().close()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    time.sleep(0.5)  # let the postmaster reap the ended backends
    server = reaped_children_s(postmaster) + sum(tree_cpu(postmaster).values()) - server_before
    return ConnectCost(n, 1000 * wall / n, 1000 * cpu / n, 1000 * server / n)


@dataclass
class RoundTrips:
    """Statements per write, by path and by how they were counted."""

    counts: dict[str, dict[str, float]] = field(default_factory=dict)
    api_statements: dict[str, list[str]] = field(default_factory=dict)
    core_statements: dict[str, list[str]] = field(default_factory=dict)
    connect: ConnectCost | None = None


def _free_target(bench: Bench, rng: random.Random) -> Target:
    full = set(bench.full)
    return rng.choice([t for t in bench.pools[0] if t not in full])


def count_round_trips(bench: Bench, *, repeats: int = 5) -> RoundTrips:
    """Statements of one check-in (accepted and refused), check-out and replayed retry.

    The core is counted with a SQLAlchemy ``before_cursor_execute`` listener and in the
    PostgreSQL log (which also shows BEGIN, COMMIT and the pool's pre-ping); the service only
    in the PostgreSQL log.
    """
    import httpx

    found = RoundTrips()
    rng = random.Random("round trips")
    full = bench.full[0]
    with statement_log(bench) as pglog:
        engine = core_engine(bench, 1, "bench_core")
        seen: list[str] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        session = sessionmaker(engine, expire_on_commit=False)()
        write = core_writer(session)
        cases: dict[str, list[tuple[int, int]]] = {}
        for _ in range(repeats):
            target = _free_target(bench, rng)
            for case, tgt, action in (
                ("check-in", target, "check_in"),
                ("check-out", target, "check_out"),
                ("check-in refused (409)", full, "check_in"),
            ):
                seen.clear()
                pglog.mark()
                write(tgt, action)
                statements = pglog.since_mark("bench_core")
                cases.setdefault(case, []).append((len(seen), len(statements)))
                found.core_statements[case] = statements
        session.close()
        engine.dispose()
        for case, pairs in cases.items():
            found.counts[f"c. core, {case}"] = {
                "SQLAlchemy listener": median(p[0] for p in pairs),
                "PostgreSQL log": median(p[1] for p in pairs),
            }
        api_url = bench.url + "?application_name=bench_api"
        with (
            service(bench, SERVERS[0], url=api_url) as server,
            httpx.Client(base_url=server.base_url, timeout=60) as http,
        ):
            headers = {"Authorization": f"Bearer {bench.admin_secret}"}
            api_cases: dict[str, list[int]] = {}
            for _ in range(repeats):
                target = _free_target(bench, rng)
                idem = uuid.uuid4().hex
                for case, path, key in (
                    ("check-in", api_path(target, "check_in"), idem),
                    ("retry of that check-in (replayed)", api_path(target, "check_in"), idem),
                    ("check-out", api_path(target, "check_out"), uuid.uuid4().hex),
                    ("check-in refused (409)", api_path(full, "check_in"), uuid.uuid4().hex),
                ):
                    pglog.mark()
                    http.post(path, headers={**headers, "Idempotency-Key": key})
                    statements = pglog.since_mark("bench_api")
                    api_cases.setdefault(case, []).append(len(statements))
                    found.api_statements[case] = statements
            for case, counts in api_cases.items():
                found.counts[f"b. API, {case}"] = {"PostgreSQL log": median(counts)}
    return found


# -- profiles -------------------------------------------------------------------------------------
BUCKETS: tuple[tuple[str, str], ...] = (
    (
        "psycopg2 calls (libpq, socket; GIL held)",
        r"^sqlalchemy/engine/default\.py .*\b(do_execute|do_commit|do_rollback|do_ping)$",
    ),
    ("SQLAlchemy (Session, Core, pool, results)", r"^sqlalchemy/"),
    ("pydantic", r"^pydantic(_core)?/"),
    ("FastAPI (dependencies, parameters, routing)", r"^fastapi/"),
    ("Starlette (routing, responses, middleware)", r"^starlette/"),
    ("thread pool hand-offs (anyio, threading)", r"^(anyio/|concurrent/|threading\.py|queue\.py)"),
    ("HTTP server (uvicorn, h11, httptools)", r"^(uvicorn/|h11/|httptools/)"),
    ("event loop (asyncio, uvloop)", r"^(asyncio/|uvloop/|selectors\.py)"),
    ("json", r"^json/"),
    ("project code (locator/, api/)", r"^(locator|api)/"),
    ("logging", r"^logging/"),
)
STAGES: tuple[tuple[str, str], ...] = (
    ("authenticate the key (get_key)", r"^get_key \(api/deps\.py"),
    ("run_write, all of it", r"^run_write \(api/routes/capacity\.py"),
    ("  capacity.check_in/check_out", r"^check_(in|out) \(locator/capacity\.py"),
    ("  idempotency.claim", r"^claim \(locator/idempotency\.py"),
    ("  idempotency.record", r"^record \(locator/idempotency\.py"),
    ("  Session.commit", r"^Session\.commit \(sqlalchemy/orm/session\.py"),
    ("pool checkout incl. pre-ping", r"^_ConnectionFairy\._checkout \(sqlalchemy/pool/base\.py"),
    ("  new connection (pool overflow)", r"_create_connection \(sqlalchemy/pool/base\.py"),
    ("  pre-ping", r"^\w+\.do_ping \(sqlalchemy"),
    ("FastAPI solve_dependencies", r"^solve_dependencies \(fastapi/dependencies/utils\.py"),
    ("answer body (pydantic figures, JSONResponse)", r"^(_figures|_answer) \(api/routes/capa"),
    ("session close (get_session exit)", r"^Session\.close \(sqlalchemy/orm/session\.py"),
)


@dataclass
class Profile:
    """Where the samples of one py-spy recording fell."""

    samples: int
    buckets: Counter[str]
    stages: Counter[str]
    leaves: Counter[str]
    seconds: float
    answers: int
    clients: int


def _frame_file(frame: str) -> str:
    match = re.search(r"\((.*?):\d+\)$", frame)
    return match.group(1) if match else ""


def _bucket_of(frame: str) -> str | None:
    """The bucket of one py-spy frame (``function (file:line)``), None when unknown."""
    where = _frame_file(frame)
    if re.search(BUCKETS[0][1], f"{where} {frame.split(' (')[0]}"):
        return BUCKETS[0][0]
    return next((label for label, pattern in BUCKETS[1:] if re.search(pattern, where)), None)


def parse_py_spy(raw: str) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Samples, self time per bucket (innermost known frame), inclusive time per stage and
    the top leaf frames of py-spy ``--format raw`` output."""
    samples, buckets, stages, leaves = 0, Counter[str](), Counter[str](), Counter[str]()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or not stack.strip():
            continue
        count, frames = int(count_text), stack.split(";")
        samples += count
        leaves[frames[-1]] += count
        label = next((b for f in reversed(frames) if (b := _bucket_of(f))), None)
        buckets[label or "other (stdlib, C)"] += count
        for stage, pattern in STAGES:
            if any(re.search(pattern, f) for f in frames):
                stages[stage] += count
    return samples, buckets, stages, leaves


def profile_service(bench: Bench, config: Config, clients: int) -> Profile | None:
    """py-spy (GIL-holding samples) on the W=1 service under ``clients`` concurrent writers
    (the raw HTTP client, so that the load generator takes little CPU)."""
    if not Path(PY_SPY).exists():
        log.warning("py-spy is not installed (.venv/bin/pip install py-spy); no service profile")
        return None
    seconds = config.duration_s
    kind = ServerKind("profile", 1, client="raw")
    with service(bench, kind) as server, tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "raw.txt"
        asyncio.run(_api_phase(bench, server, clients, config.warmup_s, Budget(10**9), 90))
        spy = subprocess.Popen(
            [
                PY_SPY,
                "record",
                "--pid",
                str(server.process.pid),
                "--rate",
                "200",
                "--gil",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(out),
                "--duration",
                str(int(seconds) + 1),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        tallies = asyncio.run(_api_phase(bench, server, clients, seconds, Budget(10**9), 91))
        spy.wait(timeout=seconds + 60)
        raw = out.read_text() if out.exists() else ""
    samples, buckets, stages, leaves = parse_py_spy(raw)
    answers = sum(len(t.latencies_s) for t in tallies)
    return Profile(samples, buckets, stages, leaves, seconds, answers, clients)


@dataclass
class CoreProfile:
    """cProfile of the core on one session."""

    calls: int
    wall_s: float
    cpu_s: float
    top: list[tuple[str, int, float, float]]
    by_area: dict[str, float]


def profile_core(bench: Bench, config: Config) -> CoreProfile:
    """cProfile around ``check_in``/``check_out`` called one after the other (one session)."""
    engine = core_engine(bench, 1)
    session = sessionmaker(engine, expire_on_commit=False)()
    write = core_writer(session)
    rng = random.Random("core profile")
    drive(write, bench.pools[0], rng, time.perf_counter() + config.warmup_s, Budget(10**9))
    profiler = cProfile.Profile()
    budget = Budget(500 if config.quick else 2000)
    began, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    tally = drive(write, bench.pools[0], rng, float("inf"), budget)
    profiler.disable()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    session.close()
    engine.dispose()
    stats = pstats.Stats(profiler)
    rows = []
    by_area: Counter[str] = Counter()
    for (filename, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = _short(filename)
        rows.append((f"{func} ({where}:{line})", ncalls, tottime, cumtime))
        by_area[_area(where, func)] += tottime
    rows.sort(key=lambda r: r[2], reverse=True)
    return CoreProfile(len(tally.latencies_s), wall, cpu, rows[:15], dict(by_area))


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _area(where: str, func: str) -> str:
    if "psycopg2" in func and ("execute" in func or "commit" in func or "rollback" in func):
        return "psycopg2 execute/commit (network + PostgreSQL, wall)"
    if where.startswith("sqlalchemy/"):
        return "SQLAlchemy"
    if where.startswith(("locator/", "bench/")):
        return "project and bench code"
    return "other (stdlib, C builtins)"


# -- correctness ----------------------------------------------------------------------------------
def check_correctness(bench: Bench) -> dict[str, int]:
    """Counts against the event log and the idempotency records, after everything ran."""
    queries = {
        "units": "SELECT count(*) FROM station_capacity",
        "events": "SELECT count(*) FROM occupancy_events",
        "units whose count differs from the sum of their event deltas": """
            SELECT count(*) FROM station_capacity c LEFT JOIN (
                SELECT station_id, unit, sum(coalesce(delta, 0)) AS total
                FROM occupancy_events GROUP BY station_id, unit) e USING (station_id, unit)
            WHERE c.occupied <> coalesce(e.total, 0)""",
        "units whose count differs from their last event": """
            SELECT count(*) FROM station_capacity c JOIN (
                SELECT DISTINCT ON (station_id, unit) station_id, unit, occupied_after
                FROM occupancy_events ORDER BY station_id, unit, id DESC) e
                USING (station_id, unit)
            WHERE c.occupied <> e.occupied_after""",
        "units out of range (occupied < 0 or occupied + held > maximum)": (
            "SELECT count(*) FROM station_capacity WHERE occupied < 0 OR occupied + held > maximum"
        ),
        "idempotency keys": "SELECT count(*) FROM idempotency_keys",
        "idempotency keys without a stored answer": (
            "SELECT count(*) FROM idempotency_keys WHERE status_code IS NULL"
        ),
        "accepted API writes (200) without exactly one event": """
            SELECT count(*) FROM idempotency_keys k LEFT JOIN (
                SELECT idempotency_key, count(*) AS n FROM occupancy_events
                WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key) e
                USING (idempotency_key)
            WHERE (k.status_code = 200 AND coalesce(e.n, 0) <> 1)
               OR (k.status_code = 409 AND coalesce(e.n, 0) <> 0)""",
    }
    with bench.engine.connect() as conn:
        found = {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in queries.items()}
        counts = conn.execute(
            text("SELECT station_id, unit, occupied, maximum FROM station_capacity")
        )
        full = {(t.sid, t.unit) for t in bench.full}
        found["units not back at their starting count (0, or full for the pre-filled)"] = sum(
            occupied != (maximum if (sid, unit) in full else 0)
            for sid, unit, occupied, maximum in counts
        )
    return found


# -- the run --------------------------------------------------------------------------------------
@dataclass
class Run:
    """Everything one run measured."""

    config: Config
    started: dt.datetime
    machine: dict[str, str]
    bench: Bench | None = None
    concurrent: dict[str, list[Measure]] = field(default_factory=dict)
    sequential: dict[str, list[Measure]] = field(default_factory=dict)
    round_trips: RoundTrips | None = None
    profiles: list[Profile] = field(default_factory=list)
    core_profile: CoreProfile | None = None
    correctness: dict[str, int] = field(default_factory=dict)
    other_sessions: list[int] = field(default_factory=list)
    finished: dt.datetime | None = None
    load_after: str = ""
    server_version: str = ""


def machine_facts() -> dict[str, str]:
    """Cores, CPU, memory, load and Python, for the report."""
    meminfo = dict(
        line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {
        "cores (nproc)": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{int(meminfo['MemTotal'].split()[0]) / 1024 / 1024:.1f} GiB",
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "python": sys.version.split()[0],
    }


def sessions_elsewhere(url: str) -> int:
    """Client sessions on the other databases of the cluster at ``url`` (another benchmark)."""
    dsn = make_url(url)
    with (
        contextlib.closing(
            psycopg2.connect(
                host=dsn.host,
                port=dsn.port,
                user=dsn.username,
                password=dsn.password,
                dbname=dsn.database,
                connect_timeout=5,
            )
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND datname IS DISTINCT FROM %s AND pid <> pg_backend_pid()",
            (DATABASE,),
        )
        return int(cur.fetchone()[0])


def other_sessions(bench: Bench) -> int:
    """Client sessions on other databases of the bench cluster (another benchmark running)."""
    return sessions_elsewhere(bench.url)


def wait_for_quiet_cluster(cluster: EmbeddedCluster, max_wait_s: float) -> float:
    """Wait while another benchmark has sessions on the bench cluster, at most ``max_wait_s``;
    return the seconds waited. (Another benchmark may also stop the cluster when it ends.)"""
    began = time.monotonic()
    while time.monotonic() - began < max_wait_s and cluster.is_running():
        try:
            busy = sessions_elsewhere(cluster.url("postgres"))
        except psycopg2.OperationalError:
            busy = 0
        if not busy:
            break
        log.info("another benchmark has %d sessions on the bench cluster; waiting", busy)
        time.sleep(15)
    return time.monotonic() - began


CALM_LIMIT = 0.25  # a phase losing more of the machine than this to others is measured again
CALM_TRIES = 3


FLOOR = "a. bare SQL UPDATE (floor)"
SQL_MEASURES: tuple[tuple[str, bool, bool, str | None], ...] = (  # name, event, no trigger, SET
    (FLOOR, False, False, None),
    ("a. SQL UPDATE + event, one statement", True, False, None),
    ("a. SQL UPDATE + event, no NOTIFY trigger", True, True, None),
    (
        "a. SQL UPDATE + event, synchronous_commit off",
        True,
        False,
        "SET synchronous_commit = off",
    ),
)
SQL_EXPERIMENTS = {SQL_MEASURES[3][0]}


def calm(measure_once: Callable[[], Measure]) -> Measure:
    """Measure until less than ``CALM_LIMIT`` of the machine was lost to other processes or
    the hypervisor, at most ``CALM_TRIES`` times; keep the calmest phase."""
    best: Measure | None = None
    for tries in range(1, CALM_TRIES + 1):
        measure = measure_once()
        if best is None or measure.interference < best.interference:
            best = measure
        best.tries = tries
        if measure.interference <= CALM_LIMIT:
            break
    assert best is not None
    return best


def one_round(run: Run, bench: Bench, config: Config, round_no: int) -> None:
    """Every measure once, concurrent and sequential, in a fixed order."""
    seed = config.seed + round_no
    clients, seq_s, conc_s = config.clients, config.sequential_s, config.duration_s

    def keep(table: dict[str, list[Measure]], measure_once: Callable[[], Measure]) -> None:
        measure = calm(measure_once)
        table.setdefault(measure.name, []).append(measure)
        log.info(
            "round %d %-40s %2d clients: %6.0f writes/s p50 %7.2f ms p99 %7.2f ms, "
            "409 %4.1f %%, errors %d, lost to others %3.0f %% (steal %3.0f %%; %d tries)",
            round_no + 1,
            measure.name,
            measure.clients,
            measure.rate,
            measure.summary.p50,
            measure.summary.p99,
            100 * measure.refused / max(measure.answers, 1),
            measure.errors,
            100 * measure.interference,
            100 * measure.steal_share,
            measure.tries,
        )

    for name, with_event, trigger_off, setting in SQL_MEASURES:
        sql = partial(
            measure_sql, bench, config, name, with_event=with_event, seed=seed, setting=setting
        )
        with notify_trigger_off(bench) if trigger_off else contextlib.nullcontext():
            keep(run.concurrent, partial(sql, clients, seconds=conc_s))
            keep(run.sequential, partial(sql, 1, seconds=seq_s))
    core = partial(measure_core, bench, config, seed=seed)
    keep(run.concurrent, partial(core, clients, seconds=conc_s))
    keep(run.sequential, partial(core, 1, seconds=seq_s))
    for kind in SERVERS:
        with service(bench, kind) as server:
            keep(
                run.concurrent,
                partial(measure_api, bench, config, server, seconds=conc_s, seed=seed),
            )
            keep(run.sequential, partial(measure_api_sequential, bench, config, server, seed=seed))
    run.other_sessions.append(other_sessions(bench))


def execute(config: Config) -> Run:
    """Prepare, measure, profile, check; always stop what was started here."""
    run = Run(config, dt.datetime.now(dt.UTC), machine_facts())
    bench = prepare(config)
    run.bench = bench
    try:
        with bench.engine.connect() as conn:
            run.server_version = str(
                conn.execute(
                    text(
                        "SELECT split_part(version(), ' on ', 1) || ', PostGIS ' "
                        "|| postgis_lib_version()"
                    )
                ).scalar_one()
            )
        run.other_sessions.append(other_sessions(bench))
        for round_no in range(config.repeats):
            one_round(run, bench, config, round_no)
        log.info("counting SQL round trips")
        run.round_trips = count_round_trips(bench)
        run.round_trips.connect = measure_connect(bench)
        if config.profile:
            log.info("profiling the service (py-spy) and the core (cProfile)")
            for clients in (config.clients, 1):
                if (profile := profile_service(bench, config, clients)) is not None:
                    run.profiles.append(profile)
            run.core_profile = profile_core(bench, config)
        run.correctness = check_correctness(bench)
    finally:
        run.finished = dt.datetime.now(dt.UTC)
        run.load_after = " ".join(f"{v:.2f}" for v in os.getloadavg())
        bench.engine.dispose()
        stop_cluster(bench, config)
    return run


def stop_cluster(bench: Bench, config: Config) -> None:
    """Stop the bench PostgreSQL if this run started it and nobody else is using it."""
    if config.keep_running or bench.was_running:
        log.info("leaving the bench PostgreSQL running (it was running before, or asked to)")
        return
    if other_sessions(bench):
        log.info("leaving the bench PostgreSQL running: other databases are in use")
        return
    bench.cluster.down()


# -- the report -----------------------------------------------------------------------------------
def fmt(value: float, digits: int = 2) -> str:
    """A number for a table; '–' when missing."""
    if value is None or np.isnan(value):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class Aggregate:
    """Medians over the rounds of one measure."""

    name: str
    rounds: int
    rate: float
    rate_min: float
    rate_max: float
    p50: float
    p90: float
    p99: float
    refused_share: float
    errors: int
    cpu: dict[str, float]
    lost: float
    tries: int
    sessions: Counter[str]
    sessions_seen: float

    @classmethod
    def of(cls, measures: list[Measure]) -> Aggregate:
        summaries = [m.summary for m in measures]
        return cls(
            measures[0].name,
            len(measures),
            median(m.rate for m in measures),
            min(m.rate for m in measures),
            max(m.rate for m in measures),
            median(s.p50 for s in summaries),
            median(s.p90 for s in summaries),
            median(s.p99 for s in summaries),
            median(m.refused / max(m.answers, 1) for m in measures),
            sum(m.errors for m in measures),
            {
                part: median(m.cpu_ms_per_write(part) for m in measures)
                for part in ("client", "app", "postgres", "other")
            },
            median(m.interference for m in measures),
            sum(m.tries for m in measures),
            sum((m.sessions for m in measures), Counter[str]()),
            median(m.sessions_seen for m in measures),
        )


def render(run: Run) -> str:
    """The capacity section of RESULTS.md."""
    config, bench = run.config, run.bench
    assert bench is not None and run.finished is not None
    lines: list[str] = []
    add = lines.append
    command = "`.venv/bin/python bench/capacity_bench.py" + (" --quick" if config.quick else "")
    add("# Capacity writes: check-in throughput and latency")
    add("")
    add(
        f"Run {run.started:%Y-%m-%d %H:%M}–{run.finished:%H:%M} UTC by {command}`"
        + (" (QUICK: smoke-check sizes)" if config.quick else "")
        + f". Every figure was measured in this one run; {config.repeats} round(s) of every "
        "measure, interleaved, and the tables give the median round (writes/s also min–max)."
    )
    add("")
    facts = {
        **run.machine,
        "load average at end": run.load_after,
        "PostgreSQL": f"{run.server_version} (embedded cluster in .locator/bench, "
        "synchronous_commit on)",
        "uvicorn default stack": f"{AUTO_STACK} (what `uvicorn` picks with the test extras "
        "installed; a base install gets asyncio+h11)",
        "sessions of other databases on the cluster": ", ".join(map(str, run.other_sessions))
        + f" (sampled at start and after each round; waited {bench.waited_s:.0f} s at start "
        "for another benchmark to finish)",
        "dataset": f"{config.stations:,} SYNTHETIC stations on a grid over Beijing, loaded "
        f"through `locator.io.load_file` in {bench.load_seconds:.1f} s; each has {SEATS} seats "
        f"and {BEDS} beds; {len(bench.full)} of the {2 * config.stations:,} units "
        f"({FULL_SHARE:.0%}) were filled beforehand with `capacity.set_count`, so check-ins "
        "there are refused (409)",
        "keys": f"1 admin key and {len(bench.keeper_secrets)} keeper keys "
        f"(`locator.keys.create_key`); even clients write with the admin key on any station, "
        f"odd clients with their keeper key on their own share (about "
        f"{config.stations // config.clients} stations)",
        "workload": "each client picks a random unit (seat or bed) of a random station of "
        "its pool, checks in and, when accepted, checks out again; 200 and 409 both count as "
        f"answers. Load phases {config.duration_s:.0f} s (bounded at {config.max_writes:,} "
        f"writes) after a {config.warmup_s:.1f} s warm-up; one-client phases "
        f"{config.sequential_s:.1f} s",
    }
    add(table(["", ""], list(facts.items())))
    add("")
    if any(run.other_sessions) or float(run.machine["load average at start"].split()[0]) > 1.5:
        add(
            "Other processes were running on the machine (see the load and the `other` CPU "
            "column): compare ratios within this run rather than absolute figures."
        )
        add("")
    add(_concurrent_section(run))
    add(_sequential_section(run))
    add(_round_trip_section(run))
    add(_profile_section(run))
    add(_correctness_section(run))
    return "\n".join(lines).rstrip() + "\n"


def _concurrent_section(run: Run) -> str:
    aggregates = {name: Aggregate.of(ms) for name, ms in run.concurrent.items()}
    floor = aggregates[FLOOR]
    rows = []
    for name, agg in aggregates.items():
        experiment = name in SQL_EXPERIMENTS or any(
            k.label == name and k.experiment for k in SERVERS
        )
        rows.append(
            [
                name + (" *(experiment)*" if experiment else ""),
                f"{fmt(agg.rate, 0)} ({fmt(agg.rate_min, 0)}–{fmt(agg.rate_max, 0)})",
                fmt(agg.p50),
                fmt(agg.p90),
                fmt(agg.p99),
                f"{agg.refused_share:.1%}",
                agg.errors,
                f"{agg.rate / floor.rate:.3f}",
                f"{agg.p99 / floor.p99:.1f}×",
                *(fmt(agg.cpu[p], 3) for p in ("client", "app", "postgres", "other")),
                f"{agg.lost:.0%} ({agg.tries})",
            ]
        )
    states = [
        [
            name,
            *(f"{agg.sessions[s] / max(agg.sessions.total(), 1):.0%}" for s in SESSION_STATES),
            fmt(agg.sessions_seen, 0),
        ]
        for name, agg in aggregates.items()
        if agg.sessions
    ]
    return "\n".join(
        [
            f"## {run.config.clients} concurrent clients",
            "",
            "Writes/s counts every answer (check-ins and check-outs, 200 or 409). CPU columns: "
            "milliseconds of CPU per write used by the bench process (the load generator, or "
            "the core itself for c), the uvicorn process tree, the PostgreSQL processes of this "
            "database, and everything else on the machine (2 cores = 2,000 ms of CPU per "
            "second). *Lost to others*: the share of the machine's CPU time stolen by the "
            "hypervisor or used by unrelated processes during the phase (median); a phase losing "
            f"more than {CALM_LIMIT:.0%} is measured again, up to {CALM_TRIES} times, keeping the "
            "calmest (the count of phases run is in brackets).",
            "",
            table(
                [
                    "measure",
                    "writes/s (min–max)",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "409 share",
                    "errors",
                    "rate ÷ floor",
                    "p99 ÷ floor",
                    "CPU ms/write: client",
                    "app",
                    "postgres",
                    "other",
                    "lost to others (phases run)",
                ],
                rows,
            ),
            "",
            "What the database sessions of the load were doing (`pg_stat_activity` sampled every "
            "20 ms; *idle* and *idle in transaction* mean waiting for the client or the service, "
            "the latter while holding the row lock; *NOTIFY queue lock* is the cluster-wide lock "
            "a committing transaction that notified takes, held through its WAL flush. "
            "*Distinct sessions seen*: backend pids of the load met by the sampler in the phase "
            "(median); the service's pool keeps at most 10 connections (+ 20 overflow ones that "
            "are closed when returned to a full pool), so many more than 30 means connections "
            "are opened and closed during the load):",
            "",
            table(["measure", *SESSION_STATES, "distinct sessions seen"], states),
            "",
        ]
    )


def _sequential_section(run: Run) -> str:
    aggregates = {name: Aggregate.of(ms) for name, ms in run.sequential.items()}
    floor = aggregates[FLOOR]
    rows = [
        [
            name,
            fmt(agg.rate, 0),
            fmt(agg.p50),
            fmt(agg.p99),
            f"{agg.p50 / floor.p50:.1f}×",
            f"{agg.p50 - floor.p50:+.2f}",
            *(fmt(agg.cpu[p], 3) for p in ("client", "app", "postgres")),
            agg.errors,
            f"{agg.lost:.0%} ({agg.tries})",
        ]
        for name, agg in aggregates.items()
    ]
    return "\n".join(
        [
            "## One client, one write after the other",
            "",
            table(
                [
                    "measure",
                    "writes/s",
                    "p50 ms",
                    "p99 ms",
                    "p50 ÷ floor",
                    "p50 − floor ms",
                    "CPU ms/write: client",
                    "app",
                    "postgres",
                    "errors",
                    "lost to others (phases run)",
                ],
                rows,
            ),
            "",
        ]
    )


def _round_trip_section(run: Run) -> str:
    found = run.round_trips
    if found is None:
        return ""
    rows = [
        ["a. bare SQL UPDATE, or UPDATE + event in one statement (autocommit)", "–", "1"],
    ] + [
        [case, fmt(c.get("SQLAlchemy listener", float("nan")), 0), fmt(c["PostgreSQL log"], 0)]
        for case, c in found.counts.items()
    ]
    parts = [
        "## SQL round trips per write",
        "",
        "Medians of 5 writes each. The SQLAlchemy listener (`before_cursor_execute`) sees the "
        "statements the code sends; the PostgreSQL log (`log_statement = all` on the bench "
        "database, by backend pid) also sees psycopg2's BEGIN, the COMMIT and the pool's "
        "pre-ping. The bare SQL floor is 1 round trip (autocommit).",
        "",
        table(["write", "SQLAlchemy listener", "PostgreSQL log"], rows),
        "",
    ]
    if found.connect is not None:
        cost = found.connect
        parts += [
            f"One new connection (psycopg2, SCRAM-SHA-256 password auth, as the service's pool "
            f"opens one; mean of {cost.n}): {cost.wall_ms:.2f} ms wall, "
            f"{cost.client_cpu_ms:.2f} ms CPU in the client, {cost.server_cpu_ms:.2f} ms CPU "
            "in PostgreSQL (fork, authentication, backend start and exit).",
            "",
        ]
    for title, statements in (
        ("b. API check-in, as PostgreSQL logged it", found.api_statements.get("check-in", [])),
        ("c. core check-in, as PostgreSQL logged it", found.core_statements.get("check-in", [])),
    ):
        parts += [f"{title}:", "", "```"]
        parts += [f"{i:2d}. {s[:140]}" for i, s in enumerate(statements, 1)]
        parts += ["```", ""]
    return "\n".join(parts)


def _profile_section(run: Run) -> str:
    parts = ["## Where the time goes", ""]
    profiles = [p for p in run.profiles if p.samples]
    if profiles:

        def ms(profile: Profile, count: int) -> str:
            return fmt(count / 200.0 * 1000.0 / max(profile.answers, 1), 3)

        def columns(profile: Profile, count: int) -> list[str]:
            return [f"{count / profile.samples:.1%}", ms(profile, count)]

        header = [
            f"{p.clients} client{'s' if p.clients > 1 else ''}: {label}"
            for p in profiles
            for label in ("share", "GIL ms/write")
        ]
        labels = list(dict.fromkeys(b for p in profiles for b, _ in p.buckets.most_common()))
        parts += [
            "py-spy on the W=1 service (`--gil --rate 200`: only the thread holding the GIL is "
            "sampled, so this is the process's one Python core), under the raw HTTP client. "
            + "; ".join(
                f"{p.clients} client(s) for {p.seconds:.0f} s: {p.answers:,} writes, "
                f"{p.samples:,} samples, GIL held {p.samples / (p.seconds * 200.0):.0%} of the "
                f"time, {p.samples / 200.0 * 1000.0 / max(p.answers, 1):.2f} GIL-ms per write"
                for p in profiles
            )
            + ".",
            "",
            "Self time by where the innermost known frame lives:",
            "",
            table(
                ["bucket", *header],
                [[b, *(c for p in profiles for c in columns(p, p.buckets[b]))] for b in labels],
            ),
            "",
            "Inclusive time of the stages of one request:",
            "",
            table(
                ["stage", *header],
                [
                    [label, *(c for p in profiles for c in columns(p, p.stages[label]))]
                    for label, _ in STAGES
                ],
            ),
            "",
        ]
        for p in profiles:
            parts += [
                f"Top leaf frames, {p.clients} client(s): "
                + "; ".join(
                    f"`{leaf}` {count / p.samples:.1%}" for leaf, count in p.leaves.most_common(8)
                ),
                "",
            ]
    core = run.core_profile
    if core is not None:
        per_call = core.wall_s * 1000.0 / max(core.calls, 1)
        parts += [
            f"cProfile of the core, one session, {core.calls:,} writes one after the other: "
            f"{per_call:.2f} ms wall per write under the profiler, of which "
            f"{core.cpu_s * 1000.0 / max(core.calls, 1):.2f} ms CPU of this process.",
            "",
            table(
                ["area (tottime)", "ms per write"],
                [
                    [area, fmt(seconds * 1000.0 / max(core.calls, 1), 3)]
                    for area, seconds in sorted(core.by_area.items(), key=lambda kv: -kv[1])
                ],
            ),
            "",
            table(
                ["function", "calls per write", "tottime ms/write", "cumtime ms/write"],
                [
                    [
                        f"`{name}`",
                        fmt(ncalls / max(core.calls, 1), 1),
                        fmt(tot * 1000 / max(core.calls, 1), 3),
                        fmt(cum * 1000 / max(core.calls, 1), 3),
                    ]
                    for name, ncalls, tot, cum in core.top
                ],
            ),
            "",
        ]
    return "\n".join(parts)


def _correctness_section(run: Run) -> str:
    found = run.correctness
    must_be_zero = [
        "units whose count differs from the sum of their event deltas",
        "units whose count differs from their last event",
        "units out of range (occupied < 0 or occupied + held > maximum)",
        "units not back at their starting count (0, or full for the pre-filled)",
        "idempotency keys without a stored answer",
        "accepted API writes (200) without exactly one event",
    ]
    errors = sum(
        m.errors for ms in (*run.concurrent.values(), *run.sequential.values()) for m in ms
    )
    ok = all(found.get(k, 1) == 0 for k in must_be_zero) and errors == 0
    rows = [[name, f"{value:,}"] for name, value in found.items()]
    rows.append(["errors (5xx, exceptions) in all phases", f"{errors:,}"])
    seen = [
        f"{m.name}: {t.first_error}"
        for ms in (*run.concurrent.values(), *run.sequential.values())
        for m in ms
        for t in m.tallies
        if t.first_error
    ]
    if seen:
        rows.append(["first error of each client that had one", "; ".join(seen[:5])])
    return "\n".join(
        [
            "## Correctness after the run: " + ("**pass**" if ok else "**FAIL**"),
            "",
            table(["check", "value"], rows),
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of ``bench/RESULTS.md``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = parse_args(argv)
    run = execute(config)
    write_section("capacity", render(run))
    log.info("wrote the capacity section of %s", RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
