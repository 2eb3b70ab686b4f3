"""The embedded PostgreSQL + PostGIS cluster the project starts when no database URL is given.

The cluster lives in a folder of the project's own (``<state_dir>/pgdata``), listens on a free
port of 127.0.0.1 (remembered across restarts) and on a unix socket in ``<state_dir>/run``, and
requires a password that only the project's state file holds. PostgreSQL refuses to run as root,
so when this process is root, the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from locator.errors import DatabaseError, MissingBinariesError

log = logging.getLogger(__name__)

SUPERUSER = "locator"
DATABASE = "locator"
MIN_PG_MAJOR = 15
SERVER_USER = "postgres"
INSTALL_HINT = (
    "install them with: sudo apt-get install postgresql-15 postgresql-15-postgis-3 "
    "(or newer versions of both), or run scripts/setup.sh"
)
_UNIX_SOCKET_PATH_MAX = 100


@dataclass(frozen=True)
class ClusterStatus:
    """What ``locator db status`` reports."""

    data_dir: Path
    initialized: bool
    running: bool
    port: int | None
    pg_version: str | None


def find_bin_dir(configured: Path | None = None) -> Path:
    """Find a PostgreSQL bin folder (>= 15) whose installation also has PostGIS.

    Parameters
    ----------
    configured : Path, optional
        A folder given by the ``LOCATOR_PG_BIN_DIR`` setting; it is checked, not searched.

    Raises
    ------
    MissingBinariesError
        When no PostgreSQL with PostGIS is installed, naming the packages to install.
    """
    candidates = [configured] if configured else _installed_bin_dirs()
    problems = []
    for bin_dir in candidates:
        missing = [p for p in ("initdb", "pg_ctl", "postgres") if not (bin_dir / p).exists()]
        if missing:
            problems.append(f"{bin_dir} lacks {', '.join(missing)}")
            continue
        share = _share_dir(bin_dir)
        if not (share / "extension" / "postgis.control").exists():
            problems.append(f"PostgreSQL in {bin_dir} has no PostGIS extension ({share})")
            continue
        return bin_dir
    found = "; ".join(problems) if problems else "no PostgreSQL server binaries found"
    raise MissingBinariesError(
        f"PostgreSQL {MIN_PG_MAJOR}+ with PostGIS 3 is needed for the embedded database "
        f"({found}); {INSTALL_HINT}. Or set LOCATOR_DATABASE_URL to an existing PostGIS."
    )


def _installed_bin_dirs() -> list[Path]:
    root = Path("/usr/lib/postgresql")
    versions = []
    if root.is_dir():
        for child in root.iterdir():
            if child.name.isdigit() and int(child.name) >= MIN_PG_MAJOR:
                versions.append((int(child.name), child / "bin"))
    found = [path for _, path in sorted(versions, reverse=True)]
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    return found


def _share_dir(bin_dir: Path) -> Path:
    pg_config = bin_dir / "pg_config"
    if pg_config.exists():
        out = subprocess.run([pg_config, "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0:
            return Path(out.stdout.strip())
    return Path("/usr/share/postgresql") / bin_dir.parent.name


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class EmbeddedCluster:
    """A private PostgreSQL cluster owned by the project.

    Parameters
    ----------
    state_dir : Path
        Folder for the cluster's data (``pgdata``), socket and log (``run``) and state file.
    bin_dir : Path, optional
        PostgreSQL bin folder; found automatically when not given.
    start_timeout_s : float
        How long ``up`` waits for the server to accept connections.
    """

    def __init__(
        self, state_dir: Path, *, bin_dir: Path | None = None, start_timeout_s: float = 60.0
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.data_dir = self.state_dir / "pgdata"
        self.run_dir = self.state_dir / "run"
        self.state_file = self.state_dir / "cluster.json"
        self._bin_dir = bin_dir
        self.start_timeout_s = start_timeout_s

    # -- facts -------------------------------------------------------------------------------
    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None or not (self._bin_dir / "pg_ctl").exists():
            self._bin_dir = find_bin_dir(self._bin_dir)
        return self._bin_dir

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.state_file.exists()

    def _state(self) -> dict[str, object]:
        return json.loads(self.state_file.read_text())

    def _save_state(self, state: dict[str, object]) -> None:
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)

    @property
    def port(self) -> int | None:
        if not self.state_file.exists():
            return None
        return int(self._state()["port"])  # type: ignore[call-overload]

    def url(self, database: str = DATABASE) -> str:
        """SQLAlchemy URL of ``database`` on this cluster (the cluster must be initialised)."""
        if not self.initialized:
            raise DatabaseError(
                f"the embedded database in {self.data_dir} is not set up yet; run `locator db up`"
            )
        state = self._state()
        return (
            f"postgresql+psycopg2://{SUPERUSER}:{state['password']}"
            f"@127.0.0.1:{state['port']}/{database}"
        )

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = self._pg_ctl("status", check=False)
        return result.returncode == 0

    def status(self) -> ClusterStatus:
        version_file = self.data_dir / "PG_VERSION"
        return ClusterStatus(
            data_dir=self.data_dir,
            initialized=self.initialized,
            running=self.is_running(),
            port=self.port,
            pg_version=version_file.read_text().strip() if version_file.exists() else None,
        )

    # -- actions -----------------------------------------------------------------------------
    def up(self) -> str:
        """Initialise the cluster if needed, start it if stopped, wait until it answers.

        Idempotent: a running cluster is left as it is. Returns the database URL.
        """
        with self._lock():
            if not self.initialized:
                self._init()
            if not self.is_running():
                self._start()
            self._wait_until_ready()
            self._ensure_database()
        return self.url()

    def down(self) -> bool:
        """Stop the project's own server (fast shutdown). Returns whether it was running."""
        with self._lock():
            if not self.is_running():
                return False
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(int(self.start_timeout_s)))
            log.info("stopped the embedded PostgreSQL in %s", self.data_dir)
            return True

    def destroy(self) -> None:
        """Stop the server and delete all its data and state."""
        self.down()
        with self._lock():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.state_file.unlink(missing_ok=True)

    def create_database(self, name: str) -> str:
        """Create database ``name`` with PostGIS on this running cluster; return its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise DatabaseError(f"database name {name!r} must be lower-case letters, digits, _")
        with contextlib.closing(self._connect("postgres")) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
        with contextlib.closing(self._connect(name)) as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` from this running cluster, ending its sessions."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or name in {DATABASE, "postgres"}:
            raise DatabaseError(f"database {name!r} may not be dropped")
        with contextlib.closing(self._connect("postgres")) as conn, conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _server_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise DatabaseError(
                f"running as root, the embedded PostgreSQL must run as the {SERVER_USER!r} "
                f"system user, which does not exist; {INSTALL_HINT}"
            ) from None
        return SERVER_USER

    def _run(
        self, args: list[str | Path], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        user = self._server_user()
        result = subprocess.run(
            [str(a) for a in args],
            capture_output=True,
            text=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            cwd="/",
        )
        if check and result.returncode != 0:
            raise DatabaseError(
                f"{Path(str(args[0])).name} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([self.bin_dir / "pg_ctl", "-D", self.data_dir, *args], check=check)

    def _prepare_dir(self, path: Path, mode: int = 0o700) -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        user = self._server_user()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _make_reachable(self) -> None:
        """Let the server's system user traverse every folder above the state folder."""
        if self._server_user() is None:
            return
        for parent in [self.state_dir, *self.state_dir.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
                log.info("allowed %s to pass through %s (o+x)", SERVER_USER, parent)

    def _init(self) -> None:
        bin_dir = self.bin_dir
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self._make_reachable()
        self._prepare_dir(self.data_dir)
        self._prepare_dir(self.run_dir, 0o755)
        password = secrets.token_urlsafe(24)
        pwfile = self.run_dir / "initdb.pw"
        pwfile.write_text(password + "\n")
        user = self._server_user()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        log.info("initialising the embedded PostgreSQL cluster in %s", self.data_dir)
        try:
            self._run(
                [
                    bin_dir / "initdb",
                    "-D",
                    self.data_dir,
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_config()
        self._save_state({"port": free_port(), "password": password, "bin_dir": str(bin_dir)})

    def _write_config(self) -> None:
        socket_dir = str(self.run_dir) if len(str(self.run_dir)) < _UNIX_SOCKET_PATH_MAX else ""
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{socket_dir}'",
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "work_mem": "'16MB'",
            "maintenance_work_mem": "'256MB'",
            "synchronous_commit": "on",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        conf = self.data_dir / "postgresql.auto.conf"
        lines = [f"{key} = {value}" for key, value in settings.items()]
        text = "# written by the locator's embedded cluster\n" + "\n".join(lines) + "\n"
        conf.write_text(text)
        user = self._server_user()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(conf, entry.pw_uid, entry.pw_gid)

    def _start(self) -> None:
        state = self._state()
        port = int(state["port"])  # type: ignore[call-overload]
        if not _port_is_free(port):
            port = free_port()
            log.info("port %s is taken; the embedded PostgreSQL moves to %s", state["port"], port)
            self._save_state({**state, "port": port})
        self._prepare_dir(self.run_dir, 0o755)
        log.info("starting the embedded PostgreSQL on 127.0.0.1:%s", port)
        result = self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(int(self.start_timeout_s)),
            "-l",
            str(self.run_dir / "postgres.log"),
            "-o",
            f"-p {port}",
            check=False,
        )
        if result.returncode != 0:
            tail = self._log_tail()
            raise DatabaseError(
                f"the embedded PostgreSQL in {self.data_dir} did not start: "
                f"{result.stderr.strip() or result.stdout.strip()}\n{tail}"
            )

    def _log_tail(self, lines: int = 15) -> str:
        path = self.run_dir / "postgres.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _connect(self, database: str):
        import psycopg2

        state = self._state()
        conn = psycopg2.connect(
            host="127.0.0.1",
            port=int(state["port"]),  # type: ignore[call-overload]
            user=SUPERUSER,
            password=state["password"],
            dbname=database,
            connect_timeout=5,
        )
        conn.autocommit = True
        return conn

    def _wait_until_ready(self) -> None:
        import psycopg2

        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                self._connect("postgres").close()
                return
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseError(
                        f"the embedded PostgreSQL did not accept connections within "
                        f"{self.start_timeout_s:.0f} s: {exc}"
                    ) from None
                time.sleep(0.2)

    def _ensure_database(self) -> None:
        self.create_database(DATABASE)
