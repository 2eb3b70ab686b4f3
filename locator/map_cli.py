"""``locator map``: maps as HTML files (registered by :mod:`locator.cli`).

``locator map coverage`` computes coverage with the options of ``locator coverage`` and writes
the coverage map; ``--offline`` writes one self-contained file that opens with no network at
all. Folium and the map builders load only here, when a map is made (the core never imports
them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from locator.config import Settings
    from locator.coverage import CoverageOptions

map_app = typer.Typer(help="Maps as HTML files to open or send around.", no_args_is_help=True)
console = Console()
DEFAULT_DIR = Path("maps") / "output"
STAGES = {"reading": (0.0, 0.2), "measuring": (0.2, 0.85), "aggregating": (0.85, 0.95)}


# The options that choose what a coverage report counts, shared by `locator coverage` and
# `locator map coverage`.
RadiusOpt = Annotated[
    list[float] | None, typer.Option(help="Radius in metres (repeat); default 500 and 1000.")
]
KindOpt = Annotated[list[str] | None, typer.Option(help="Count only this kind (repeat).")]
ServiceOpt = Annotated[
    list[str] | None, typer.Option(help="Count only stations offering it (repeat: all of).")
]
StarsOpt = Annotated[int | None, typer.Option(help="Count only this many stars or more.")]
OpenAtOpt = Annotated[
    str | None, typer.Option(help="Count only stations open then (ISO time with offset).")
]
HourOpt = Annotated[
    int | None, typer.Option(help="Count only stations open then (0 = Monday 00:00).")
]
HolidayOpt = Annotated[bool, typer.Option(help="Count only stations open on a public holiday.")]
PrivacyOpt = Annotated[
    int | None, typer.Option(help="Suppress areas with fewer workers (LOCATOR_PRIVACY_K).")
]
GapOpt = Annotated[int, typer.Option(help="Uncovered workers that make a grid cell a gap.")]
CatchmentOpt = Annotated[
    float | None, typer.Option(help="2SFCA catchment in metres; default the largest radius.")
]


def coverage_options(settings: Settings, **inputs: Any) -> CoverageOptions:
    """The coverage options of a map, read as ``locator coverage`` reads them."""
    from locator import coverage

    privacy_k = inputs.pop("privacy_k", None)
    k = privacy_k if privacy_k is not None else settings.privacy_k
    return coverage.coverage_options(privacy_k=k, **inputs)


def write_coverage_map(
    engine: Engine,
    settings: Settings,
    options: CoverageOptions,
    out: Path,
    *,
    offline: bool,
    show_radius: float | None = None,
    level: str | None = None,
    heat: bool = False,
) -> Path:
    """Compute coverage with ``options`` and write its map to ``out``, with a progress bar."""
    from sqlalchemy.orm import Session

    from locator.coverage import compute_coverage
    from locator.sample import holds_synthetic_stations
    from maps.coverage import coverage_map
    from maps.offline import save_html

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    )
    with progress:
        task = progress.add_task("coverage", total=1.0)

        def advance(stage: str, fraction: float) -> None:
            start, stop = STAGES.get(stage, (0.0, 0.95))
            progress.update(task, description=stage, completed=start + (stop - start) * fraction)

        report = compute_coverage(
            engine, options, progress=advance, stale_after_min=settings.stale_after()
        )
        progress.update(task, description="drawing the map", completed=0.95)
        with Session(engine) as session:
            synthetic = holds_synthetic_stations(session)
        fmap = coverage_map(
            report,
            radius_m=show_radius,
            level=level,
            tile_url=settings.tile_url,
            offline=offline,
            synthetic=synthetic,
            heat=heat,
        )
        path = save_html(fmap, out)
        progress.update(task, description="written", completed=1.0)
    return path


@map_app.command("coverage")
def map_coverage(
    radius: RadiusOpt = None,
    kind: KindOpt = None,
    service: ServiceOpt = None,
    min_stars: StarsOpt = None,
    open_at: OpenAtOpt = None,
    hour_of_week: HourOpt = None,
    holiday: HolidayOpt = False,
    privacy_k: PrivacyOpt = None,
    gap_threshold: GapOpt = 50,
    catchment: CatchmentOpt = None,
    show_radius: Annotated[
        float | None,
        typer.Option(help="Radius whose shares and circles are drawn; default the smallest."),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(help="Area level shown first: district, subdistrict or grid."),
    ] = None,
    heat: Annotated[
        bool, typer.Option(help="Show the heat of uncovered workers when the map opens.")
    ] = False,
    offline: Annotated[
        bool,
        typer.Option(help="One self-contained file: no tiles, opens with no network at all."),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="HTML file to write; default maps/output/coverage[-offline].html."),
    ] = None,
) -> None:
    """The coverage map: stations, catchments, shares by area, uncovered workers, gaps."""
    from locator.cli import _open_store, settings

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
        privacy_k=privacy_k,
        gap_threshold=gap_threshold,
        catchment=catchment,
    )
    target = out or DEFAULT_DIR / ("coverage-offline.html" if offline else "coverage.html")
    path = write_coverage_map(
        _open_store(),
        s,
        options,
        target,
        offline=offline,
        show_radius=show_radius,
        level=level,
        heat=heat,
    )
    size_mb = path.stat().st_size / 1e6
    console.print(
        f"coverage map ({options.describe()}): {path.resolve()} ({size_mb:.1f} MB)\n"
        f"open it: {path.resolve().as_uri()}",
        highlight=False,
        soft_wrap=True,
    )


def demo_coverage_map() -> Path:
    """Write the offline coverage map of the store (the Beijing sample) for ``locator demo``;
    print and return its path."""
    from locator.cli import _open_store, settings
    from locator.config import project_root

    s = settings()
    target = project_root() / DEFAULT_DIR / "beijing-coverage.html"
    console.print("\nDrawing the coverage map of the sample (500 m and 1,000 m, all hours)…")
    path = write_coverage_map(_open_store(), s, coverage_options(s), target, offline=True)
    console.print(
        f"coverage map: {path} ({path.stat().st_size / 1e6:.1f} MB, opens with no network)",
        highlight=False,
        soft_wrap=True,
    )
    return path
