"""``locator plan``: siting plans from the command line (registered by :mod:`locator.cli`).

``locator plan --new 30 --radius 1000 --district 昌平区`` solves and stores a plan and writes its
files; ``plan show ID``, ``plan compare A B`` and ``plan rerun ID`` work on stored plans.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from locator.errors import ConfigError

if TYPE_CHECKING:  # the solver stack (numpy, scipy, HiGHS) loads only when a plan is made
    from locator.plans import PlanRequest, PlanView

plan_app = typer.Typer(
    help="Siting plans: which candidate sites cover the most workers not yet covered.",
    invoke_without_command=True,
)
console = Console()
DEFAULT_OUT = Path("plans")


def _quotas(values: list[str] | None) -> dict[str, int] | None:
    if not values:
        return None
    quotas: dict[str, int] = {}
    for value in values:
        district, sep, limit = value.partition("=")
        if not sep or not limit.strip().isdigit():
            raise ConfigError(f"--quota {value!r} must look like DISTRICT=N, e.g. 昌平区=10")
        quotas[district.strip()] = int(limit)
    return quotas


def _engine():  # the store, started on demand like every other command
    from locator.cli import _open_store

    return _open_store()


@plan_app.callback()
def plan(
    ctx: typer.Context,
    new: Annotated[int, typer.Option("--new", help="New sites to place (required included).")] = 30,
    radius: Annotated[float, typer.Option("--radius", help="Catchment radius in metres.")] = 1000.0,
    district: Annotated[
        str | None, typer.Option(help="Only this district (code or name, e.g. 昌平区).")
    ] = None,
    demand: Annotated[
        str, typer.Option(help="homes (worker homes) or grid (grid cells by population).")
    ] = "homes",
    required: Annotated[
        list[str] | None, typer.Option("--required", help="Candidate code that must be built.")
    ] = None,
    forbidden: Annotated[
        list[str] | None, typer.Option("--forbidden", help="Candidate code that may not be used.")
    ] = None,
    capacitated: Annotated[
        bool, typer.Option(help="A site covers at most its capacity's worth of workers.")
    ] = False,
    quota: Annotated[
        list[str] | None, typer.Option("--quota", help="DISTRICT=N: at most N new sites there.")
    ] = None,
    solver: Annotated[str, typer.Option(help="exact (HiGHS, proved) or fast.")] = "exact",
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for HiGHS.")] = 60.0,
    name: Annotated[str | None, typer.Option(help="A name for the plan.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the plan's files.")] = DEFAULT_OUT,
) -> None:
    """Solve and store a siting plan, print its ranked sites, write CSV/GeoJSON/PNG/HTML."""
    if ctx.invoked_subcommand is not None:
        return
    from locator.plans import PlanRequest

    request = PlanRequest(
        new_sites=new,
        radius_m=radius,
        demand=demand,
        district=district,
        required=tuple(required or ()),
        forbidden=tuple(forbidden or ()),
        capacitated=capacitated,
        quotas=_quotas(quota),
        solver=solver,
        time_limit_s=time_limit,
        name=name,
    ).validate()
    view = run_plan(request, out=out)
    print_plan(view)
    print_files(view, out)


def run_plan(request: PlanRequest, *, out: Path, created_by: str = "cli") -> PlanView:
    """Solve ``request`` with a progress display, store it, and write its files."""
    from locator.db import session_scope
    from locator.plans import create_plan

    engine = _engine()
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    )
    with progress:
        task = progress.add_task("reading stations, demand and candidates", total=None)

        def stage(text: str) -> None:
            progress.update(task, description=text)

        with session_scope(engine) as session:
            view = create_plan(session, request, created_by=created_by, progress=stage)
        stage("writing files")
        write_files(view, out)
    return view


def write_files(view: PlanView, out: Path) -> dict[str, Path]:
    """The plan's CSV, GeoJSON, curve and summary, plus its map (one self-contained HTML)."""
    import geopandas as gpd
    from shapely.geometry import Point

    from locator.plans import export_plan
    from maps.offline import save_html
    from maps.siting import siting_map

    paths = export_plan(view, out)
    frame = gpd.GeoDataFrame(
        view.sites,
        geometry=[Point(s["lon"], s["lat"]) for s in view.sites],
        crs=4326,
    )
    title = (
        f"Plan {view.id}: {len(view.sites)} proposed stations, "
        f"{view.request.radius_m:g} m catchments (synthetic sample data)"
    )
    fmap = siting_map(frame, radius_m=view.request.radius_m, title=title)
    paths["map"] = out / f"plan-{view.id}-map.html"
    save_html(fmap, paths["map"])  # self-contained: opens with no network
    return paths


def print_plan(view: PlanView) -> None:
    """The ranked sites and the plan's figures, as a table."""
    from locator.plans import count_text

    r = view.request
    where = f" in {r.district}" if r.district else ""
    table = Table(
        title=f"Plan {view.id}: {r.new_sites} new sites within {r.radius_m:g} m{where} "
        f"({r.demand}, {r.solver}{', capacitated' if r.capacitated else ''})"
    )
    for column in ("rank", "site", "name", "district", "adds", "running total", "share"):
        table.add_column(column, justify="left" if column in ("site", "name") else "right")
    total = view.demand_total or 1.0
    for s in view.sites:
        table.add_row(
            str(s["rank"]),
            s["code"] + (" (required)" if s["required"] else ""),
            s["name"] or "",
            s["district_code"] or "",
            count_text(s["workers_added"]),
            count_text(s["running_total"]),
            "hidden" if s["running_total"] is None else f"{s['running_total'] / total:.1%}",
        )
    console.print(table)
    if view.privacy and (view.privacy["sites_suppressed"] or view.privacy["objective_suppressed"]):
        console.print(
            f"hidden: figures of fewer than {view.privacy['k']} workers, and those that would "
            "let one be worked out from the others (worker homes are personal data)",
            highlight=False,
        )
    sizes = view.results.get("sizes", {})
    gap = "–" if view.gap is None else f"{view.gap:.4%}"
    bound = "–" if view.bound is None else f"{view.bound:,.0f}"
    console.print(
        f"{view.status}: {count_text(view.objective)} more workers covered "
        f"({view.covered_before:,.0f} → {count_text(view.covered_after)} of "
        f"{view.demand_total:,.0f}); "
        f"bound {bound}, gap {gap}; reduced to {sizes.get('demand_merged', 0):,} demand × "
        f"{sizes.get('candidates_kept', 0):,} candidates; data {view.data_version}",
        highlight=False,
    )
    if len(view.sites) < r.new_sites:
        console.print(
            f"only {len(view.sites)} sites add workers; more would cover nobody new",
            highlight=False,
        )


def print_files(view: PlanView, out: Path) -> None:
    stem = f"plan-{view.id}"
    names = sorted(p.name for p in out.glob(f"{stem}*"))
    console.print(f"files in {out}/: {', '.join(names)}", highlight=False)


@plan_app.command("show")
def show(
    plan_id: Annotated[int, typer.Argument(help="The plan's id.")],
    out: Annotated[Path | None, typer.Option(help="Also write its files here.")] = None,
) -> None:
    """A stored plan: its inputs, figures and ranked sites."""
    from locator.db import session_scope
    from locator.plans import get_plan

    with session_scope(_engine()) as session:
        view = get_plan(session, plan_id)
    print_plan(view)
    if out is not None:
        write_files(view, out)
        print_files(view, out)


@plan_app.command("compare")
def compare(
    a: Annotated[int, typer.Argument(help="The first plan's id.")],
    b: Annotated[int, typer.Argument(help="The second plan's id.")],
) -> None:
    """Sites added and removed from plan A to plan B, and the covered workers of each."""
    from locator.db import session_scope
    from locator.plans import compare_plans, count_text

    with session_scope(_engine()) as session:
        diff = compare_plans(session, a, b)
    console.print(
        f"plan {a}: {count_text(diff.covered_a)} workers covered; plan {b}: "
        f"{count_text(diff.covered_b)} ({count_text(diff.covered_difference, '+,.0f')})",
        highlight=False,
    )
    console.print(f"added in {b}: {', '.join(diff.added) or '–'}", highlight=False)
    console.print(f"removed in {b}: {', '.join(diff.removed) or '–'}", highlight=False)
    console.print(f"kept: {len(diff.kept)} sites", highlight=False)
    if not diff.same_data:
        console.print("note: the plans saw different data (stations, demand or candidates)")


@plan_app.command("rerun")
def rerun(
    plan_id: Annotated[int, typer.Argument(help="The plan to solve again.")],
    out: Annotated[Path, typer.Option(help="Folder for the new plan's files.")] = DEFAULT_OUT,
) -> None:
    """Solve a stored plan's inputs again (a new plan) and say whether the answer is the same."""
    from locator.db import session_scope
    from locator.plans import rerun_plan

    with session_scope(_engine()) as session:
        old, new = rerun_plan(session, plan_id, created_by="cli")
    write_files(new, out)
    print_plan(new)
    same = [s["code"] for s in old.sites] == [s["code"] for s in new.sites]
    data = "same data" if old.data_version == new.data_version else "the data has changed"
    console.print(
        f"plan {new.id} re-runs plan {old.id} ({data}): "
        + ("the same sites in the same order" if same else "a different answer"),
        highlight=False,
    )
    print_files(new, out)


def demo_plan(out: Path | None = None) -> None:
    """The demo's siting plan: 30 new stations for Changping at 1,000 m, written next to the
    demo's coverage map (``maps/output/plans``)."""
    from locator.config import project_root
    from locator.plans import PlanRequest, count_text

    out = out or project_root() / "maps" / "output" / "plans"
    request = PlanRequest(new_sites=30, radius_m=1000.0, district="昌平区", time_limit_s=60.0)
    view = run_plan(request, out=out, created_by="demo")
    console.print(
        f"\nSiting plan {view.id} for Changping (昌平区): 30 new stations within 1,000 m cover "
        f"{count_text(view.objective)} more workers ({view.status}); ranked sites, coverage curve, "
        f"map and GeoJSON/CSV in {out.resolve()}/ (`locator plan show {view.id}`)",
        highlight=False,
    )
