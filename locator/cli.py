"""The ``locator`` command line: the one composition root (it may import ``api`` lazily)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from locator.config import Settings
from locator.errors import LocatorError
from locator.map_cli import (
    CatchmentOpt,
    GapOpt,
    HolidayOpt,
    HourOpt,
    KindOpt,
    OpenAtOpt,
    PrivacyOpt,
    RadiusOpt,
    ServiceOpt,
    StarsOpt,
    demo_coverage_map,
    map_app,
)
from locator.plan_cli import plan_app

app = typer.Typer(
    help="Warm-station locator: stations, capacity, coverage for outdoor workers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The database: embedded PostGIS (default) or LOCATOR_DATABASE_URL.", no_args_is_help=True
)
load_app = typer.Typer(
    help="Load files into the store (validated whole, upserted by code).", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys for keepers, analysts and admins.", no_args_is_help=True)
report_app = typer.Typer(help="Reports from the event log.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(db_app, name="db")
app.add_typer(load_app, name="load")
app.add_typer(keys_app, name="keys")
app.add_typer(plan_app, name="plan")
app.add_typer(map_app, name="map")

console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, soft_wrap=True)

CrsOption = Annotated[
    str | None,
    typer.Option(
        "--crs",
        help="Coordinates of the file: wgs84, gcj02, bd09 or an EPSG code. "
        "Defaults to the file's own (GeoJSON: wgs84).",
    ),
]
LayerOption = Annotated[str | None, typer.Option(help="Layer of a GeoPackage.")]
FileArg = Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile or CSV (lon/lat).")]


def settings() -> Settings:
    return Settings()


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    level = logging.DEBUG if verbose else getattr(logging, settings().log_level.upper(), 20)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main() -> None:
    """Entry point: run the app, turning the locator's own errors into clear messages."""
    try:
        app()
    except LocatorError as exc:
        err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        sys.exit(1)


# -- db ------------------------------------------------------------------------------------------
def _cluster():
    from locator.db import embedded_cluster

    s = settings()
    if s.database_url:
        raise LocatorError(
            "LOCATOR_DATABASE_URL is set, so the embedded database is not used; "
            "unset it to manage the project's own PostGIS"
        )
    return embedded_cluster(s)


def _open_store():
    from locator.db import open_store

    return open_store(settings())


@db_app.command("up")
def db_up() -> None:
    """Start the database (initialising it the first time) and apply migrations."""
    engine = _open_store()
    console.print(f"database ready: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("down")
def db_down() -> None:
    """Stop the project's own database server (its data stays)."""
    was_running = _cluster().down()
    console.print("stopped" if was_running else "not running")


@db_app.command("status")
def db_status() -> None:
    """Say where the database is and whether it runs."""
    s = settings()
    if s.database_url:
        from sqlalchemy.engine import make_url

        from locator.db import check_connection, current_revision, make_engine

        engine = make_engine(s.database_url)
        check_connection(engine)
        console.print(f"external database {make_url(s.database_url).render_as_string()}")
        console.print(f"schema revision: {current_revision(engine)}")
        return
    status = _cluster().status()
    console.print(f"embedded PostgreSQL {status.pg_version or '?'} in {status.data_dir}")
    console.print(
        f"initialised: {status.initialized}; running: {status.running}; port: {status.port}"
    )
    if not status.running:
        raise typer.Exit(3)


@db_app.command("url")
def db_url(
    show_password: Annotated[bool, typer.Option(help="Print the password too.")] = False,
) -> None:
    """Print the database URL (starting the embedded database if needed)."""
    from sqlalchemy.engine import make_url

    from locator.db import resolve_url

    url = make_url(resolve_url(settings()))
    console.print(url.render_as_string(hide_password=not show_password), highlight=False)


@db_app.command("reset")
def db_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete all data of the embedded database and start it again, empty and migrated."""
    cluster = _cluster()
    if not yes:
        typer.confirm(f"Delete every record in {cluster.data_dir}?", abort=True)
    cluster.destroy()
    _open_store()
    console.print("database reset: empty and migrated")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations."""
    from locator.db import current_revision

    console.print(f"schema at revision {current_revision(_open_store())}")


# -- load ----------------------------------------------------------------------------------------
def _load(
    kind: str, path: Path, *, crs: str | None, level: str | None = None, layer: str | None = None
) -> None:
    from locator.db import session_scope
    from locator.io import load_file

    engine = _open_store()
    with console.status(f"loading {path} …"), session_scope(engine) as session:
        report = load_file(session, kind, path, crs=crs, level=level, layer=layer)
    console.print(str(report), highlight=False)


@load_app.command("stations")
def load_stations(path: FileArg, crs: CrsOption = None, layer: LayerOption = None) -> None:
    """Load stations (upserted by code; seats/beds/chargers set the capacity maxima)."""
    _load("stations", path, crs=crs, layer=layer)


@load_app.command("districts")
def load_districts(
    path: FileArg,
    crs: CrsOption = None,
    layer: LayerOption = None,
    level: Annotated[
        str, typer.Option(help="district, subdistrict or grid, for files without a level column.")
    ] = "district",
) -> None:
    """Load districts, sub-districts or grid cells (areas)."""
    _load("areas", path, crs=crs, level=level, layer=layer)


@load_app.command("homes")
def load_homes(path: FileArg, crs: CrsOption = None, layer: LayerOption = None) -> None:
    """Load worker homes (private: never served one by one)."""
    _load("homes", path, crs=crs, layer=layer)


@load_app.command("candidates")
def load_candidates(path: FileArg, crs: CrsOption = None, layer: LayerOption = None) -> None:
    """Load candidate sites for new stations."""
    _load("candidates", path, crs=crs, layer=layer)


@load_app.command("sample")
def load_sample_command() -> None:
    """Load the whole Beijing sample (real districts; synthetic stations, homes, candidates)."""
    _load_sample()
    _print_summary()


def _load_sample() -> None:
    from locator.db import session_scope
    from locator.sample import SAMPLE_FILES, load_sample

    s = settings()
    engine = _open_store()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} files"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress, session_scope(engine) as session:
        task = progress.add_task("loading the Beijing sample", total=len(SAMPLE_FILES))

        def advance(sample_file) -> None:
            progress.update(task, description=f"loading {sample_file.name}")
            progress.advance(task, 0)

        reports = load_sample(session, s.sample_dir, on_file=advance)
        progress.update(task, completed=len(SAMPLE_FILES), description="sample loaded")
    for report in reports:
        console.print(str(report), highlight=False)


@app.command("summary")
def summary() -> None:
    """Print what the store holds, per district."""
    _print_summary()


def _print_summary() -> None:
    from locator.db import session_scope
    from locator.sample import district_summary, table_counts

    with session_scope(_open_store()) as session:
        rows = district_summary(session)
        counts = table_counts(session)
    table = Table(
        title="Stations and workers by district (stations, homes and candidates are "
        "synthetic in the sample)"
    )
    for column in (
        "district",
        "population",
        "stations",
        "active",
        "seats",
        "beds",
        "workers",
        "candidates",
    ):
        table.add_column(column, justify="left" if column == "district" else "right")
    for row in rows:
        table.add_row(
            f"{row['code']} {row['name_zh']} {row['name_en'] or ''}",
            *(
                f"{row[c]:,}"
                for c in (
                    "population",
                    "stations",
                    "active",
                    "seats",
                    "beds",
                    "workers",
                    "candidates",
                )
            ),
        )
    if rows:
        table.add_row(
            "all",
            *(
                f"{sum(int(r[c]) for r in rows):,}"
                for c in (
                    "population",
                    "stations",
                    "active",
                    "seats",
                    "beds",
                    "workers",
                    "candidates",
                )
            ),
            style="bold",
        )
    console.print(table)
    console.print("records: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


# -- keys ----------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who holds the key.")],
    role: Annotated[str, typer.Option(help="admin, analyst or keeper.")] = "keeper",
    station: Annotated[
        list[str] | None, typer.Option(help="Station code a keeper may write (repeat).")
    ] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from locator import keys
    from locator.db import session_scope

    with session_scope(_open_store()) as session:
        secret, info = keys.create_key(session, name, role, stations=tuple(station or ()))
    console.print(f"created {info.role} key {info.prefix} for {info.name!r}", highlight=False)
    console.print("key (shown only now; keep it secret):", highlight=False)
    print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (without secrets)."""
    from locator import keys
    from locator.db import session_scope

    with session_scope(_open_store()) as session:
        found = keys.list_keys(session)
    table = Table(title="API keys")
    for column in ("id", "name", "role", "stations", "created", "revoked"):
        table.add_column(column)
    for key in found:
        table.add_row(
            key.prefix,
            key.name,
            key.role,
            ", ".join(key.stations) or "-",
            f"{key.created_at:%Y-%m-%d %H:%M}" if key.created_at else "-",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's id (its prefix).")]) -> None:
    """Revoke a key; it stops working at once."""
    import datetime as dt

    from locator import keys
    from locator.db import session_scope

    with session_scope(_open_store()) as session:
        keys.revoke_key(session, prefix, now=dt.datetime.now(dt.UTC))
    console.print(f"revoked {prefix}")


# -- reports -------------------------------------------------------------------------------------
@report_app.command("utilization")
def report_utilization(
    days: Annotated[float, typer.Option(help="The window: this many days up to now.")] = 28.0,
    until: Annotated[str | None, typer.Option(help="End of the window (ISO); default now.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the CSV and PNG.")] = Path("reports"),
) -> None:
    """Use per station and unit (CSV), hour-of-week chart (PNG), and idle stations (CSV)."""
    import csv
    import datetime as dt

    from locator.charts import utilization_chart
    from locator.db import session_scope
    from locator.errors import ConfigError
    from locator.usage import idle_stations, utilization

    try:
        end = dt.datetime.fromisoformat(until) if until else dt.datetime.now(dt.UTC)
    except ValueError:
        raise ConfigError(
            f"until {until!r} must be an ISO time such as 2026-11-21T00:00+08:00"
        ) from None
    if end.tzinfo is None:
        raise ConfigError(f"until {until!r} must carry a time zone")
    start = end - dt.timedelta(days=days)
    with console.status("reading the event log …"), session_scope(_open_store()) as session:
        rows = utilization(session, since=start, until=end)
        idle = idle_stations(session, now=end, days=min(days, 7.0))
    out.mkdir(parents=True, exist_ok=True)
    table_path = out / "utilization.csv"
    with open(table_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "station",
                "unit",
                "maximum",
                "events",
                "observed_h",
                "mean_occupied",
                "mean_rate",
                "peak",
                "share_full",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r.code,
                    r.unit,
                    r.maximum,
                    r.events,
                    f"{r.observed_h:.2f}",
                    _fmt(r.mean_occupied),
                    _fmt(r.mean_rate),
                    r.peak,
                    _fmt(r.share_full),
                ]
            )
    idle_path = out / "idle_stations.csv"
    with open(idle_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["station", "name", "posted_open_hours", "last_activity"])
        for flag in idle:
            writer.writerow(
                [
                    flag["code"],
                    flag["name_zh"],
                    flag["posted_open_hours"],
                    flag["last_activity"] or "",
                ]
            )
    chart = utilization_chart(
        rows, out / "utilization.png", title=f"Station use {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    )
    console.print(
        f"{len(rows)} station units -> {table_path}\nchart -> {chart}\n"
        f"{len(idle)} stations posted open without activity -> {idle_path}",
        highlight=False,
    )


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


# -- nearest -------------------------------------------------------------------------------------
@app.command("nearest")
def nearest(
    lon: Annotated[float, typer.Option(help="Your longitude.")],
    lat: Annotated[float, typer.Option(help="Your latitude.")],
    k: Annotated[int, typer.Option(help="How many stations.")] = 5,
    service: Annotated[list[str] | None, typer.Option(help="Needed service (repeat).")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Group served (repeat).")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Station kind (repeat).")] = None,
    min_stars: Annotated[int | None, typer.Option(help="Lowest star rating.")] = None,
    max_distance: Annotated[float | None, typer.Option(help="Farthest, in metres.")] = None,
    open_filter: Annotated[str, typer.Option("--open", help="any, now or on_arrival.")] = "any",
    at: Annotated[str | None, typer.Option(help="ISO time with offset; default now.")] = None,
    mode: Annotated[str, typer.Option(help="walk or ebike (for arrival times).")] = "ebike",
    unit: Annotated[str | None, typer.Option(help="seat, bed or charger you need.")] = None,
    free: Annotated[int, typer.Option(help="Free places of --unit needed.")] = 1,
    crs: Annotated[str, typer.Option(help="wgs84, gcj02 or bd09 for --lon/--lat.")] = "wgs84",
) -> None:
    """Print the nearest stations that match, best first."""
    import datetime as dt

    from locator.db import session_scope
    from locator.errors import ConfigError
    from locator.nearest import NearestQuery, find_nearest

    s = settings()
    try:
        when = dt.datetime.fromisoformat(at) if at else None
    except ValueError:
        raise ConfigError(f"at {at!r} must be an ISO time such as 2026-11-21T22:40+08:00") from None
    query = NearestQuery.in_crs(
        lon,
        lat,
        crs,
        k=k,
        services=tuple(service or ()),
        groups=tuple(group or ()),
        kinds=tuple(kind or ()),
        min_stars=min_stars,
        max_distance_m=max_distance,
        open=open_filter,
        at=when,
        mode=mode,
        unit=unit,
        free=free,
    )
    with session_scope(_open_store()) as session:
        found = find_nearest(
            session, query, speed_kmh=s.speed_kmh(), stale_after_min=s.stale_after()
        )
    table = Table(title=f"Nearest stations to ({lon}, {lat})")
    for column in (
        "#",
        "code",
        "name",
        "distance",
        "ETA",
        "hours",
        "free seat/bed/charger",
        "stars",
    ):
        table.add_column(column)
    for rank, station in enumerate(found, start=1):
        free_text = "/".join(
            "-"
            if u not in station.capacity
            else ("?" if station.capacity[u].free is None else str(station.capacity[u].free))
            for u in ("seat", "bed", "charger")
        )
        change = station.hours.next_change
        hours = station.hours.state + (f" until {change:%a %H:%M}" if change else "")
        table.add_row(
            str(rank),
            station.code,
            station.record["name_zh"],
            f"{station.distance_m:,.0f} m",
            f"{station.eta_min:.0f} min",
            hours,
            free_text,
            str(station.record["stars"] or "-"),
        )
    console.print(table)
    if not found:
        console.print("no station matches; loosen the filters")


# -- coverage ------------------------------------------------------------------------------------
@app.command("coverage")
def coverage(
    radius: RadiusOpt = None,
    kind: KindOpt = None,
    service: ServiceOpt = None,
    min_stars: StarsOpt = None,
    open_at: OpenAtOpt = None,
    hour_of_week: HourOpt = None,
    holiday: HolidayOpt = False,
    level: Annotated[
        list[str] | None, typer.Option(help="district, subdistrict or grid (repeat); default all.")
    ] = None,
    privacy_k: PrivacyOpt = None,
    gap_threshold: GapOpt = 50,
    catchment: CatchmentOpt = None,
    chunk_size: Annotated[int, typer.Option(help="Homes per chunk (bounds memory).")] = 250_000,
    dask: Annotated[
        str | None, typer.Option(help="Compute on Dask: 'local' or tcp://scheduler:port.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for CSV, GeoJSON and GeoPackage.")] = Path(
        "coverage"
    ),
) -> None:
    """Coverage of worker homes by district, sub-district and grid cell; gaps; exports."""
    from locator.coverage import compute_coverage, export_report, radius_label
    from locator.map_cli import coverage_options

    s = settings()
    options = coverage_options(
        s,
        radius=radius,
        kind=kind,
        service=service,
        min_stars=min_stars,
        open_at=open_at,
        hour_of_week=hour_of_week,
        holiday=holiday,
        levels=level,
        privacy_k=privacy_k,
        gap_threshold=gap_threshold,
        catchment=catchment,
        chunk_size=chunk_size,
    )
    engine = _open_store()
    stages = {"reading": (0.0, 0.2), "measuring": (0.2, 0.9), "aggregating": (0.9, 1.0)}
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    )
    with progress:
        task = progress.add_task("coverage", total=1.0)

        def advance(stage: str, fraction: float) -> None:
            start, stop = stages.get(stage, (0.0, 1.0))
            progress.update(task, description=stage, completed=start + (stop - start) * fraction)

        report = compute_coverage(
            engine, options, progress=advance, dask=dask, stale_after_min=s.stale_after()
        )
        progress.update(task, description="writing", completed=1.0)
        written = export_report(report, out)
    labels = [radius_label(r) for r in options.radii_m]
    table = Table(title=f"Coverage: {options.describe()} (data of {report.data_date:%Y-%m-%d})")
    for column in ("area", "workers", *(f"≤ {r} m" for r in labels), "stations", "mean", "p90"):
        table.add_column(column, justify="left" if column == "area" else "right")
    table.add_column("2SFCA", justify="right")
    first = options.levels[0]
    for record in report.areas[first].itertuples():
        if record.suppressed:
            table.add_row(
                f"{record.code} {record.name_zh}", "suppressed", *[""] * (len(labels) + 4)
            )
            continue
        table.add_row(
            f"{record.code} {record.name_zh} {record.name_en or ''}",
            f"{record.workers:,}",
            *(f"{getattr(record, f'share_{r}'):.1%}" for r in labels),
            f"{record.stations:,}",
            _metres(record.mean_m),
            _metres(record.p90_m),
            "–" if _missing(record.access_2sfca) else f"{record.access_2sfca:.3f}",
        )
    t = report.totals
    table.add_row(
        "all",
        "suppressed" if t["workers"] is None else f"{t['workers']:,}",
        *("" if t[f"share_{r}"] is None else f"{t[f'share_{r}']:.1%}" for r in labels),
        f"{t['stations']:,}",
        _metres(t["mean_m"]),
        _metres(t["p90_m"]),
        "–" if t["access_2sfca"] is None else f"{t['access_2sfca']:.3f}",
    )
    console.print(table)
    console.print(
        f"{len(report.gap_cells)} gap cells (≥ {max(options.gap_threshold, options.privacy_k)} "
        f"uncovered workers at {options.gap_radius_m:,.0f} m) in {len(report.gaps)} gap areas; "
        f"{len(written)} files written to {out}/"
    )
    for note in report.notes:
        console.print(f"note: {note}")


def _missing(value: object) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _metres(value: object) -> str:
    return "–" if _missing(value) else f"{float(value):,.0f} m"  # type: ignore[arg-type]


# -- serve ---------------------------------------------------------------------------------------
def _pid_file() -> Path:
    return settings().state_dir / "serve.pid"


def _stop_background() -> bool:
    pid_file = _pid_file()
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def _wait_ready(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise LocatorError(
        f"the service did not answer {url}/readyz within {timeout_s:.0f} s; "
        f"see {settings().state_dir / 'serve.log'}"
    )


def _port_in_use(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (LOCATOR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (LOCATOR_PORT).")] = None,
    background: Annotated[
        bool, typer.Option("--background", help="Run detached; logs go to <state_dir>/serve.log.")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop a background service.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes (LOCATOR_WORKERS; one per core)."),
    ] = None,
) -> None:
    """Run the web service (API, OpenAPI docs at /docs)."""
    s = settings()
    host, port, workers = host or s.host, port or s.port, workers or s.workers
    if stop:
        console.print("stopped" if _stop_background() else "no background service")
        return
    if background:
        _stop_background()  # a fresh start: the previous background service of this project
    if _port_in_use(host, port):
        raise LocatorError(
            f"port {port} on {host} is already in use; stop what runs there or "
            "choose another with --port / LOCATOR_PORT"
        )
    _open_store()  # start and migrate the database before the first request
    if background:
        url = _start_background(s, host, port, workers)
        console.print(f"service running in the background: {url} (stop: locator serve --stop)")
        return
    from api import server

    server.run(s, host, port, workers)


def _start_background(s: Settings, host: str, port: int, workers: int) -> str:
    s.state_dir.mkdir(parents=True, exist_ok=True)
    log_path = s.state_dir / "serve.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "locator.cli", "serve"),
                *("--host", host, "--port", str(port), "--workers", str(workers)),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _pid_file().write_text(f"{process.pid}\n")
    url = f"http://{host}:{port}"
    _wait_ready(url)
    return url


@app.command("demo")
def demo(
    foreground: Annotated[bool, typer.Option(help="Keep the service in this terminal.")] = False,
) -> None:
    """Everything for a first look: database up, Beijing sample loaded, summary, service up."""
    s = settings()
    _load_sample()
    _print_summary()
    coverage_map = demo_coverage_map()
    if foreground:
        serve(host=None, port=None, background=False, stop=False)
        return
    serve(host=None, port=None, background=True, stop=False)
    url = f"http://{s.host}:{s.port}"
    console.print(
        f"\nCourier page (phone, 中文/English): {url}/\n"
        f"API docs: {url}/docs\n"
        f"Nearest open stations with a microwave: "
        f"{url}/v1/nearest?lon=116.3975&lat=39.9087&service=microwave&open=now\n"
        f"Live station status feed: {url}/v1/gbfs/station_status.json\n"
        f"Coverage map (a file to open or send): {coverage_map.as_uri()}\n"
        f"Coverage map, live (any options, e.g. at 22:00 on a Monday): "
        f"{url}/v1/maps/coverage.html?hour_of_week=22",
        highlight=False,
    )
    from locator.plan_cli import demo_plan

    demo_plan()


if __name__ == "__main__":
    main()
