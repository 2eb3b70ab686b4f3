"""Shared pieces of the benchmarks: the bench database, statistics, CPU accounting, a uvicorn
server in a subprocess and HTTP load generators.

The benchmarks run on their own embedded cluster in ``.locator/bench`` (never the developer's or
the tests' cluster) and load SYNTHETIC national data through the real loader.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text

from locator import synthetic
from locator.cluster import EmbeddedCluster, free_port
from locator.db import make_engine, migrate, session_scope
from locator.io import load_file

log = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".locator" / "bench"
RESULTS = ROOT / "bench" / "RESULTS.md"


def write_section(name: str, body: str, path: Path = RESULTS, *, first: bool = False) -> None:
    """Put ``body`` between the ``<!-- name:start/end -->`` marks of ``path``, keeping the
    other benchmarks' sections; a new section goes last (``first``: first)."""
    start_mark, end_mark = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    current = path.read_text() if path.exists() else ""
    block = f"{start_mark}\n{body.rstrip()}\n{end_mark}"
    start, end = current.find(start_mark), current.find(end_mark)
    if 0 <= start < end:
        updated = current[:start] + block + current[end + len(end_mark) :]
    elif first:
        updated = block + ("\n\n" + current.lstrip("\n") if current.strip() else "\n")
    else:
        updated = current.rstrip("\n") + ("\n\n" if current.strip() else "") + block + "\n"
    path.write_text(updated)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the bench database ---------------------------------------------------------------------------
def generator_version() -> str:
    """A fingerprint of the generator's source: data made by another version is reloaded."""
    source = Path(synthetic.__file__).read_bytes()
    return "national_stations/" + hashlib.sha256(source).hexdigest()[:12]


@dataclass
class BenchDatabase:
    """The bench's database on its own cluster, with the synthetic stations loaded."""

    cluster: EmbeddedCluster
    name: str
    url: str
    engine: Engine
    stations: int
    seed: int
    loaded_now: bool
    load_seconds: float | None = None
    load_report: str | None = None
    was_running: bool = False

    def stop_cluster(self) -> None:
        """Stop the bench PostgreSQL if this run started it and no other session uses it."""
        self.engine.dispose()
        if self.was_running:
            log.info("leaving the bench PostgreSQL running (it was running before)")
            return
        with contextlib.closing(self.cluster._connect("postgres")) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            others = cur.fetchone()[0]
        if others:
            log.info("leaving the bench PostgreSQL running: %d other sessions use it", others)
            return
        self.cluster.down()

    @property
    def psycopg2_dsn(self) -> dict[str, object]:
        """Connection keywords for psycopg2 on the same database."""
        url = self.engine.url
        return {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "dbname": url.database,
        }

    @property
    def postmaster_pid(self) -> int:
        pid_file = self.cluster.data_dir / "postmaster.pid"
        return int(pid_file.read_text().splitlines()[0])


def _dataset_matches(engine: Engine, n: int, seed: int) -> bool:
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('bench_dataset') IS NOT NULL")).scalar()
        if not exists:
            return False
        marker = conn.execute(text("SELECT generator, n, seed FROM bench_dataset")).first()
        count = conn.execute(text("SELECT count(*) FROM stations")).scalar()
    return marker is not None and tuple(marker) == (generator_version(), n, seed) and count == n


def prepare_database(
    n: int, seed: int, *, state_dir: Path = STATE_DIR, name: str = "bench_nearest"
) -> BenchDatabase:
    """Start the bench cluster and return a migrated database holding ``n`` synthetic stations.

    The stations are generated and loaded through :func:`locator.io.load_file` only when the
    database does not already hold the same set (same ``n``, ``seed`` and generator version,
    recorded in table ``bench_dataset``); otherwise the database is dropped and made anew.
    """
    cluster = EmbeddedCluster(state_dir)
    was_running = cluster.is_running()
    cluster.up()
    url = cluster.create_database(name)
    engine = make_engine(url)
    migrate(engine)
    if _dataset_matches(engine, n, seed):
        log.info("bench database %s already holds %d stations (seed %d)", name, n, seed)
        return BenchDatabase(
            cluster, name, url, engine, n, seed, loaded_now=False, was_running=was_running
        )
    engine.dispose()
    cluster.drop_database(name)
    url = cluster.create_database(name)
    engine = make_engine(url)
    migrate(engine)
    started = time.perf_counter()
    log.info("generating %d synthetic stations (seed %d)", n, seed)
    path = synthetic.write_geojson(
        state_dir / f"stations-{n}-{seed}.geojson.gz", synthetic.national_stations(n, seed=seed)
    )
    log.info("loading %s through locator.io.load_file", path.name)
    with session_scope(engine) as session:
        report = load_file(session, "stations", path)
        session.execute(
            text(
                "CREATE TABLE bench_dataset "
                "(generator text, n int, seed int, loaded_at timestamptz)"
            )
        )
        session.execute(
            text("INSERT INTO bench_dataset VALUES (:g, :n, :s, now())"),
            {"g": generator_version(), "n": n, "s": seed},
        )
    path.unlink()
    seconds = time.perf_counter() - started
    log.info("loaded in %.1f s: %s", seconds, report)
    return BenchDatabase(
        cluster, name, url, engine, n, seed, True, seconds, str(report), was_running
    )


def _unit_random(salt: str) -> str:
    """A reproducible uniform [0, 1) per capacity row, from a hash of its key."""
    return f"((hashtext(c.station_id::text || c.unit || '{salt}') & 2147483647) / 2147483648.0)"


def set_live_occupancy(db: BenchDatabase, *, fresh_share: float = 0.6) -> dict[str, int]:
    """Give the capacity rows a realistic live state, relative to now.

    ``fresh_share`` of the rows were reported within the last 10 minutes (about one in eight
    of those full), 20 % one to six hours ago (stale for seats and chargers), the rest never.
    Then VACUUM ANALYZE. Returns the number of rows per state.
    """
    pick, when, level = _unit_random("state"), _unit_random("when"), _unit_random("level")
    stale_share = fresh_share + 0.2
    with db.engine.begin() as conn:
        conn.execute(
            text(
                f"""
                UPDATE station_capacity c SET
                    reported_at = CASE
                        WHEN {pick} < :fresh THEN now() - {when} * interval '10 minutes'
                        WHEN {pick} < :stale THEN now() - interval '1 hour'
                                                  - {when} * interval '5 hours'
                        END,
                    occupied = CASE
                        WHEN {pick} < :stale THEN LEAST(c.maximum,
                                                        floor({level} * 1.15 * (c.maximum + 1)))
                        ELSE 0 END
                """
            ),
            {"fresh": fresh_share, "stale": stale_share},
        )
        rows = conn.execute(
            text(
                "SELECT CASE WHEN reported_at IS NULL THEN 'never' "
                "WHEN reported_at > now() - interval '10 minutes' THEN 'fresh' ELSE 'old' END, "
                "count(*) FROM station_capacity GROUP BY 1"
            )
        ).all()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return {str(state): int(count) for state, count in rows}


# -- statistics -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """Latency figures in milliseconds."""

    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of_seconds(cls, values: Sequence[float]) -> Summary:
        """Summary of durations given in seconds."""
        return cls.of_ms([v * 1000.0 for v in values])

    @classmethod
    def of_ms(cls, values: Sequence[float]) -> Summary:
        """Summary of durations given in milliseconds."""
        if not len(values):
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        array = np.asarray(values, dtype=float)
        p50, p90, p99 = np.percentile(array, [50, 90, 99])
        return cls(len(array), p50, p90, p99, float(array.mean()), float(array.max()))


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table; '–' when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# -- CPU accounting -------------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(root_pid: int) -> dict[int, float]:
    """CPU seconds used so far by ``root_pid`` and each of its descendants, by pid."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)], cpu[int(entry.name)] = stat
    keep, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in keep]
        keep.update(children)
        frontier.extend(children)
    return {pid: cpu[pid] for pid in keep if pid in cpu}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two :func:`tree_cpu_seconds` snapshots (new processes count
    from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass(frozen=True)
class MachineTimes:
    """CPU seconds of the whole machine so far, all cores (from /proc/stat)."""

    busy: float
    steal: float
    at: float

    @classmethod
    def now(cls) -> MachineTimes:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        busy = (user + nice + system + irq + softirq) / CLOCK_TICKS
        return cls(busy, steal / CLOCK_TICKS, time.monotonic())

    def cores_since(self, earlier: MachineTimes) -> tuple[float, float]:
        """Cores busy and cores stolen by the hypervisor on average since ``earlier``."""
        seconds = max(self.at - earlier.at, 1e-9)
        return (self.busy - earlier.busy) / seconds, (self.steal - earlier.steal) / seconds


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used so far (all cores)."""
    return MachineTimes.now().busy


def machine_facts() -> dict[str, str]:
    """Cores, memory, load and versions, for the report."""
    meminfo = dict(
        line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line
    )
    memory_gib = int(meminfo["MemTotal"].split()[0]) / 1024 / 1024
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
        "memory": f"{memory_gib:.1f} GiB",
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "python": sys.version.split()[0],
    }


# -- the service in a subprocess ------------------------------------------------------------------
@dataclass
class Server:
    """A running uvicorn serving the real app."""

    port: int
    process: subprocess.Popen[bytes]
    workers: int
    loop: str
    http: str
    log_path: Path
    nodelay_fix: bool = False

    @property
    def label(self) -> str:
        socket = " (TCP socket, as `locator serve`)" if self.nodelay_fix else ""
        return f"W={self.workers} {self.loop}+{self.http}{socket}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _wait_ready(server: Server, timeout_s: float) -> None:
    """Wait until every worker has logged its startup and /readyz answers 200."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"uvicorn exited with {server.process.returncode}: "
                f"{server.log_path.read_text(errors='replace')[-2000:]}"
            )
        started = server.log_path.read_text(errors="replace").count("Application startup complete")
        if started >= server.workers:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(server.base_url + "/readyz", timeout=2.0).status_code == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not become ready within {timeout_s:.0f} s")
        time.sleep(0.2)


@contextlib.contextmanager
def uvicorn_server(
    database_url: str,
    *,
    workers: int = 1,
    loop: str = "asyncio",
    http: str = "h11",
    nodelay_fix: bool = False,
    log_dir: Path = STATE_DIR,
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Start ``uvicorn --factory api.main:create_app`` on a free loopback port; stop it after.

    ``loop``/``http`` are passed explicitly so that the figures do not depend on whether
    uvloop or httptools happen to be installed (the project's dependencies give asyncio + h11).
    ``"auto"`` leaves both to uvicorn. With ``nodelay_fix`` uvicorn runs through
    ``bench/uvicorn_nodelay.py``. ``env`` adds settings of the service (``LOCATOR_…``).
    """
    port = free_port()
    log_path = log_dir / f"uvicorn-{port}.log"
    launcher = (
        [str(Path(__file__).with_name("uvicorn_nodelay.py"))]
        if nodelay_fix
        else [
            "-m",
            "uvicorn",
        ]
    )
    command = [
        sys.executable,
        *launcher,
        "--factory",
        "api.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *(() if loop == "auto" else ("--loop", loop, "--http", http)),
        "--log-level",
        "info",
        "--no-access-log",
    ]
    environment = {
        **os.environ,
        "LOCATOR_DATABASE_URL": database_url,
        "LOCATOR_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, process, workers, loop, http, log_path, nodelay_fix)
    try:
        _wait_ready(server, timeout_s)
        yield server
    finally:
        _stop(process)
        log_path.unlink(missing_ok=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server started here: SIGTERM, then SIGKILL to its own process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# -- HTTP load generators -------------------------------------------------------------------------
@dataclass
class LoadResult:
    """What a load run measured."""

    clients: int
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    client_cpu_s: float = 0.0

    @property
    def answers(self) -> int:
        return len(self.latencies_s)

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.seconds else 0.0

    @property
    def summary(self) -> Summary:
        return Summary.of_seconds(self.latencies_s)


async def _raw_client(
    port: int,
    paths: Sequence[str],
    start: int,
    step: int,
    stop_at: float,
    budget: list[int],
    result: LoadResult,
) -> None:
    """One keep-alive HTTP/1.1 connection sending GETs one after the other (minimal parsing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = start
    try:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            path = paths[index % len(paths)]
            index += step
            began = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if head[9:12] == b"200":
                result.latencies_s.append(time.perf_counter() - began)
            else:
                result.errors += 1
    finally:
        writer.close()


async def _httpx_client(
    client: object,
    paths: Sequence[str],
    start: int,
    step: int,
    stop_at: float,
    budget: list[int],
    result: LoadResult,
) -> None:
    index = start
    while time.perf_counter() < stop_at and budget[0] > 0:
        budget[0] -= 1
        path = paths[index % len(paths)]
        index += step
        began = time.perf_counter()
        response = await client.get(path)  # type: ignore[attr-defined]
        if response.status_code == 200:
            result.latencies_s.append(time.perf_counter() - began)
        else:
            result.errors += 1


async def _run_load(
    server: Server,
    paths: Sequence[str],
    clients: int,
    duration_s: float,
    max_requests: int,
    kind: str,
) -> LoadResult:
    import httpx

    result = LoadResult(clients, 0.0)
    budget = [max_requests]
    cpu_before = time.process_time()
    began = time.perf_counter()
    stop_at = began + duration_s
    if kind == "raw":
        await asyncio.gather(
            *(
                _raw_client(server.port, paths, i, clients, stop_at, budget, result)
                for i in range(clients)
            )
        )
    else:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client:
            await asyncio.gather(
                *(
                    _httpx_client(client, paths, i, clients, stop_at, budget, result)
                    for i in range(clients)
                )
            )
    result.seconds = time.perf_counter() - began
    result.client_cpu_s = time.process_time() - cpu_before
    return result


def run_load(
    server: Server,
    paths: Sequence[str],
    *,
    clients: int,
    duration_s: float,
    max_requests: int = 1_000_000,
    kind: str = "raw",
) -> LoadResult:
    """``clients`` concurrent keep-alive connections, each sending the next path as soon as
    its previous answer is in, for ``duration_s`` or ``max_requests`` requests in all.

    ``kind`` is ``raw`` (a minimal asyncio HTTP/1.1 client, so that the load generator takes
    little of the two cores) or ``httpx`` (``httpx.AsyncClient`` with a pool of ``clients``).
    """
    if kind not in ("raw", "httpx"):
        raise ValueError(f"kind {kind!r} must be raw or httpx")
    return asyncio.run(_run_load(server, paths, clients, duration_s, max_requests, kind))


def run_sequential_httpx(
    server: Server, paths: Sequence[str], *, cap_s: float = float("inf")
) -> LoadResult:
    """One ``httpx.Client`` asking each path in turn, waiting for each answer, for at most
    ``cap_s`` seconds."""
    import httpx

    result = LoadResult(1, 0.0)
    cpu_before = time.process_time()
    began = time.perf_counter()
    stop_at = began + cap_s
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for path in paths:
            if time.perf_counter() > stop_at:
                break
            started = time.perf_counter()
            response = client.get(path)
            if response.status_code == 200:
                result.latencies_s.append(time.perf_counter() - started)
            else:
                result.errors += 1
    result.seconds = time.perf_counter() - began
    result.client_cpu_s = time.process_time() - cpu_before
    return result
