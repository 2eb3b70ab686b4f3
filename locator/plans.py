"""Siting plans from the store: inputs read from PostGIS, solved, and kept as records.

A plan reads existing stations, demand (worker homes, or grid cells weighted by population) and
candidate sites, builds the exact coverage within a radius on WGS-84, solves the maximal
covering problem (:mod:`locator.siting`) and stores inputs, a fingerprint of the data it saw and
the answer, so that it can be shown, compared and re-run to the same answer.

Coverage pairs: a KD-tree over unit-sphere points finds everything within the radius plus
``SPHERE_SLACK``, then the geodesic distance of those few pairs decides, so ``<= radius`` is
exact on the WGS-84 ellipsoid.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.spatial import cKDTree
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.crs import geodesic_distance_m
from locator.errors import ConfigError, NotFoundError
from locator.siting import SOLVERS, MaximalCovering, SitingResult
from locator.sphere import SPHERE_SLACK, chord_for_metres, unit_xyz

log = logging.getLogger(__name__)

DEMAND_SOURCES: tuple[str, ...] = ("homes", "grid")
MAX_RADIUS_M = 50_000.0
MAX_NEW_SITES = 1_000
MAX_TIME_LIMIT_S = 3_600.0
LonLat = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PlanRequest:
    """What a plan asks for; stored whole with the plan so that it can be re-run.

    ``district`` limits demand and candidates to one district (code, Chinese or English name).
    ``quotas`` maps district (code or name) to the most new sites allowed there.
    """

    new_sites: int
    radius_m: float
    demand: str = "homes"
    district: str | None = None
    required: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    capacitated: bool = False
    quotas: Mapping[str, int] | None = None
    solver: str = "exact"
    time_limit_s: float = 60.0
    seed: int = 0
    name: str | None = None

    def validate(self) -> PlanRequest:
        """Check every field once, at the boundary; the message names the field and value."""
        if isinstance(self.new_sites, bool) or not isinstance(self.new_sites, int):
            raise ConfigError(f"new_sites must be a whole number, got {self.new_sites!r}")
        if not 0 <= self.new_sites <= MAX_NEW_SITES:
            raise ConfigError(f"new_sites must be 0 to {MAX_NEW_SITES}, got {self.new_sites!r}")
        radius = self.radius_m
        if isinstance(radius, bool) or not isinstance(radius, int | float):
            raise ConfigError(f"radius_m must be a number of metres, got {radius!r}")
        if not (0 < radius <= MAX_RADIUS_M):
            raise ConfigError(f"radius_m must be > 0 and <= {MAX_RADIUS_M:g}, got {radius!r}")
        if self.demand not in DEMAND_SOURCES:
            raise ConfigError(f"demand {self.demand!r} must be one of {', '.join(DEMAND_SOURCES)}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver {self.solver!r} must be one of {', '.join(SOLVERS)}")
        limit = self.time_limit_s
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise ConfigError(f"time_limit_s must be a number of seconds, got {limit!r}")
        if not (0 < limit <= MAX_TIME_LIMIT_S):
            raise ConfigError(
                f"time_limit_s must be > 0 and <= {MAX_TIME_LIMIT_S:g}, got {limit!r}"
            )
        for name in ("required", "forbidden"):
            for code in getattr(self, name):
                if not isinstance(code, str) or not code.strip():
                    raise ConfigError(f"{name}: candidate codes must be text, got {code!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["required"] = list(self.required)
        data["forbidden"] = list(self.forbidden)
        data["quotas"] = None if self.quotas is None else dict(sorted(self.quotas.items()))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanRequest:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["required"] = tuple(known.get("required") or ())
        known["forbidden"] = tuple(known.get("forbidden") or ())
        return cls(**known).validate()


@dataclass
class SitingData:
    """What a plan reads from the store, as arrays."""

    demand_lonlat: LonLat
    demand_weights: npt.NDArray[np.float64]
    stations_lonlat: LonLat
    candidates: list[dict[str, Any]]
    district_code: str | None
    district_codes: dict[str, str] = field(default_factory=dict)  # names and codes → code

    @property
    def candidate_lonlat(self) -> LonLat:
        return np.array([[c["lon"], c["lat"]] for c in self.candidates], dtype=np.float64).reshape(
            -1, 2
        )

    def fingerprint(self) -> str:
        """A short hash of every coordinate, weight and candidate attribute the plan used."""
        digest = hashlib.sha256()
        for array in (self.demand_lonlat, self.demand_weights, self.stations_lonlat):
            digest.update(np.ascontiguousarray(np.round(array, 7)).tobytes())
        digest.update(
            json.dumps(
                [
                    [c["code"], c["lon"], c["lat"], c["capacity"], c["district"]]
                    for c in self.candidates
                ],
                ensure_ascii=False,
            ).encode()
        )
        return digest.hexdigest()[:16]


@dataclass
class PlanView:
    """A stored plan: its inputs, answer and ranked sites."""

    id: int
    request: PlanRequest
    data_version: str
    status: str
    objective: float | None
    """None when hidden: a plan of worker homes adding fewer than k workers in all."""
    bound: float | None
    gap: float | None
    covered_before: float
    demand_total: float
    results: dict[str, Any]
    sites: list[dict[str, Any]]
    created_by: str | None
    created_at: dt.datetime
    privacy: dict[str, Any] | None = None
    """What :func:`protect_plan` hid (None: the figures as solved)."""

    @property
    def covered_after(self) -> float | None:
        return None if self.objective is None else self.covered_before + self.objective

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "inputs": self.request.to_dict(),
            "data_version": self.data_version,
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "covered_before": self.covered_before,
            "covered_after": self.covered_after,
            "demand_total": self.demand_total,
            "sizes": self.results.get("sizes", {}),
            "timings": self.results.get("timings", {}),
            "curve_beyond": self.results.get("curve_beyond", []),
            "sites": self.sites,
            "privacy": self.privacy,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class PlanComparison:
    """How plan ``b`` differs from plan ``a``."""

    a: int
    b: int
    added: list[str]
    removed: list[str]
    kept: list[str]
    covered_a: float | None
    covered_b: float | None
    same_data: bool

    @property
    def covered_difference(self) -> float | None:
        if self.covered_a is None or self.covered_b is None:
            return None
        return self.covered_b - self.covered_a


# ------------------------------------------------------------------------------------------
def coverage_pairs(
    demand_lonlat: npt.ArrayLike, sites_lonlat: npt.ArrayLike, radius_m: float | npt.ArrayLike
) -> sp.csr_matrix:
    """Demand × site 0/1 matrix: 1 where the geodesic distance is ``<= radius_m``.

    ``radius_m`` is one number or one per demand point.
    """
    demand = np.asarray(demand_lonlat, dtype=np.float64).reshape(-1, 2)
    sites = np.asarray(sites_lonlat, dtype=np.float64).reshape(-1, 2)
    radius = np.broadcast_to(np.asarray(radius_m, dtype=np.float64), (demand.shape[0],))
    shape = (demand.shape[0], sites.shape[0])
    if demand.shape[0] == 0 or sites.shape[0] == 0:
        return sp.csr_matrix(shape)
    site_tree = cKDTree(unit_xyz(sites[:, 0], sites[:, 1]))
    demand_tree = cKDTree(unit_xyz(demand[:, 0], demand[:, 1]))
    reach = float(chord_for_metres(float(radius.max()) * (1 + SPHERE_SLACK)))
    near = demand_tree.sparse_distance_matrix(site_tree, reach, output_type="coo_matrix")
    rows, cols = near.row, near.col
    metres = geodesic_distance_m(demand[rows, 0], demand[rows, 1], sites[cols, 0], sites[cols, 1])
    keep = metres <= radius[rows]
    return sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=shape, dtype=np.float64
    )


def covered_by_stations(
    demand_lonlat: npt.ArrayLike, stations_lonlat: npt.ArrayLike, radius_m: float
) -> npt.NDArray[np.bool_]:
    """Which demand points have an existing station within ``radius_m`` (geodesic, ``<=``).

    The coverage engine's nearest distances, measured exactly near the radius.
    """
    from locator.coverage import nearest_station_distances

    demand = np.asarray(demand_lonlat, dtype=np.float64).reshape(-1, 2)
    stations = np.asarray(stations_lonlat, dtype=np.float64).reshape(-1, 2)
    if demand.shape[0] == 0 or stations.shape[0] == 0:
        return np.zeros(demand.shape[0], dtype=bool)
    distances = nearest_station_distances(demand, stations, exact_at_m=(float(radius_m),))
    return np.asarray(distances) <= radius_m


def resolve_district(session: Session, value: str) -> str:
    """The code of the district named ``value`` (its code, Chinese or English name)."""
    code = session.execute(
        text(
            "SELECT code FROM areas WHERE level = 'district' "
            "AND (code = :v OR name_zh = :v OR lower(name_en) = lower(:v)) ORDER BY code LIMIT 1"
        ),
        {"v": value.strip()},
    ).scalar_one_or_none()
    if code is None:
        known = session.execute(
            text("SELECT name_zh FROM areas WHERE level = 'district' ORDER BY code LIMIT 6")
        ).scalars()
        raise NotFoundError(
            f"district {value!r} is not a loaded district code or name "
            f"(for example: {', '.join(known)})"
        )
    return str(code)


def load_siting_data(session: Session, request: PlanRequest) -> SitingData:
    """Stations, demand and candidates for ``request``, read in a stable order."""
    district = resolve_district(session, request.district) if request.district else None
    where_area = (
        "AND ST_Intersects(x.geom, (SELECT geom FROM areas WHERE level = 'district' "
        "AND code = :district))"
        if district
        else ""
    )
    if request.demand == "homes":
        demand_sql = (
            "SELECT ST_X(x.geom) AS lon, ST_Y(x.geom) AS lat, x.workers AS weight "
            f"FROM worker_homes x WHERE true {where_area} ORDER BY x.code"
        )
    else:
        demand_sql = (
            "SELECT ST_X(p) AS lon, ST_Y(p) AS lat, x.population AS weight FROM ("
            "SELECT ST_PointOnSurface(geom) AS p, geom, code, population FROM areas "
            "WHERE level = 'grid' AND coalesce(population, 0) > 0) x "
            f"WHERE true {where_area} ORDER BY x.code"
        )
    params = {"district": district}
    demand = session.execute(text(demand_sql), params).all()
    stations = session.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE status <> 'closed' ORDER BY code")
    ).all()
    candidates = session.execute(
        text(
            "SELECT x.code, x.name, ST_X(x.geom) AS lon, ST_Y(x.geom) AS lat, x.capacity, "
            "x.district_code AS district, x.site_type "
            f"FROM candidate_sites x WHERE true {where_area} ORDER BY x.code"
        ),
        params,
    ).all()
    names = session.execute(
        text("SELECT code, name_zh, name_en FROM areas WHERE level = 'district'")
    ).all()
    lookup: dict[str, str] = {}
    for code, name_zh, name_en in names:
        for key in (code, name_zh, name_en):
            if key:
                lookup[str(key)] = str(code)
    return SitingData(
        demand_lonlat=np.array([[r.lon, r.lat] for r in demand], dtype=np.float64).reshape(-1, 2),
        demand_weights=np.array([float(r.weight) for r in demand], dtype=np.float64),
        stations_lonlat=np.array([tuple(r) for r in stations], dtype=np.float64).reshape(-1, 2),
        candidates=[dict(r._mapping) for r in candidates],
        district_code=district,
        district_codes=lookup,
    )


def build_problem(data: SitingData, radius_m: float) -> MaximalCovering:
    """The coverage problem of ``data`` within ``radius_m`` metres."""
    capacities = [
        np.nan if c["capacity"] is None else float(c["capacity"]) for c in data.candidates
    ]
    return MaximalCovering(
        coverage_pairs(data.demand_lonlat, data.candidate_lonlat, radius_m),
        data.demand_weights,
        already_covered=covered_by_stations(data.demand_lonlat, data.stations_lonlat, radius_m),
        candidate_codes=[str(c["code"]) for c in data.candidates],
        capacities=np.asarray(capacities, dtype=np.float64),
        candidate_districts=[c["district"] for c in data.candidates],
    )


def _quotas_by_code(data: SitingData, quotas: Mapping[str, int] | None) -> dict[str, int] | None:
    if not quotas:
        return None
    out: dict[str, int] = {}
    for name, limit in quotas.items():
        code = data.district_codes.get(str(name).strip())
        if code is None:
            raise ConfigError(f"quotas: {name!r} is not a loaded district code or name")
        out[code] = limit
    return out


def solve_request(
    session: Session, request: PlanRequest, *, progress: Callable[[str], None] | None = None
) -> tuple[SitingData, MaximalCovering, SitingResult]:
    """Read, build and solve ``request`` (nothing is stored); ``progress`` hears each stage."""
    say = progress or (lambda _: None)
    request.validate()
    data = load_siting_data(session, request)
    if not data.candidates:
        where = f" in district {request.district!r}" if request.district else ""
        raise NotFoundError(f"no candidate sites{where}: load some with `locator load candidates`")
    say(f"coverage of {len(data.demand_weights):,} demand points by {len(data.candidates):,} sites")
    problem = build_problem(data, request.radius_m)
    say(f"solving ({request.solver}, at most {request.time_limit_s:g} s)")
    result = problem.solve(
        request.new_sites,
        required=request.required,
        forbidden=request.forbidden,
        capacitated=request.capacitated,
        quotas=_quotas_by_code(data, request.quotas),
        solver=request.solver,
        time_limit_s=request.time_limit_s,
        seed=request.seed,
    )
    return data, problem, result


def create_plan(
    session: Session,
    request: PlanRequest,
    *,
    created_by: str | None = None,
    key_id: int | None = None,
    curve_beyond: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> PlanView:
    """Solve ``request`` and store it as a plan (the caller commits).

    ``curve_beyond`` more sites (default: as many as the plan's) are chosen greedily after the
    plan's own, only to draw where further stations stop paying.
    """
    data, problem, result = solve_request(session, request, progress=progress)
    beyond = problem.greedy_extension(
        result.codes,
        extra_sites=request.new_sites if curve_beyond is None else curve_beyond,
        forbidden=request.forbidden,
    )
    by_code = {str(c["code"]): c for c in data.candidates}
    results = result.to_dict()
    results["curve_beyond"] = beyond
    plan_id = session.execute(
        text(
            "INSERT INTO plans (name, radius_m, demand_source, district_code, new_sites, "
            "capacitated, solver, time_limit_s, seed, data_version, inputs, status, objective, "
            "bound, gap, covered_before, demand_total, results, created_by, created_by_key_id) "
            "VALUES (:name, :radius_m, :demand, :district, :new_sites, :capacitated, :solver, "
            ":time_limit_s, :seed, :version, CAST(:inputs AS jsonb), :status, :objective, "
            ":bound, :gap, :before, :total, CAST(:results AS jsonb), :created_by, :key_id) "
            "RETURNING id"
        ),
        {
            "name": request.name,
            "radius_m": float(request.radius_m),
            "demand": request.demand,
            "district": data.district_code,
            "new_sites": request.new_sites,
            "capacitated": request.capacitated,
            "solver": request.solver,
            "time_limit_s": float(request.time_limit_s),
            "seed": request.seed,
            "version": data.fingerprint(),
            "inputs": json.dumps(request.to_dict(), ensure_ascii=False),
            "status": result.status,
            "objective": result.objective,
            "bound": result.bound,
            "gap": result.gap,
            "before": result.covered_before,
            "total": result.demand_total,
            "results": json.dumps(results, ensure_ascii=False),
            "created_by": created_by,
            "key_id": key_id,
        },
    ).scalar_one()
    for site in result.sites:
        candidate = by_code[site.code]
        session.execute(
            text(
                "INSERT INTO plan_sites (plan_id, rank, candidate_code, name, district_code, "
                "capacity, required, workers_added, running_total, geom) VALUES (:plan, :rank, "
                ":code, :name, :district, :capacity, :required, :added, :total, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            ),
            {
                "plan": plan_id,
                "rank": site.rank,
                "code": site.code,
                "name": candidate["name"],
                "district": candidate["district"],
                "capacity": candidate["capacity"],
                "required": site.required,
                "added": site.added,
                "total": site.running_total,
                "lon": candidate["lon"],
                "lat": candidate["lat"],
            },
        )
    session.flush()
    log.info(
        "plan %s: %d sites, %.0f workers newly covered (%s)",
        plan_id,
        len(result.sites),
        result.objective,
        result.status,
    )
    return get_plan(session, int(plan_id))


def visible_figures(
    adds: Sequence[float], k: int, plan_sites: int
) -> tuple[list[bool], list[bool], bool]:
    """Which figures of a plan of worker homes may be shown, so that no count of fewer than
    ``k`` workers can be read from them, alone or by subtracting one from another.

    ``adds`` are the workers each site adds, in rank order: the plan's ``plan_sites`` sites,
    then the sites beyond them drawn on the coverage curve. Running totals are the workers
    covered before (shown) plus the adds so far, so two shown totals tell the sum of the
    adds between them. Hence:

    - an add of more than none and fewer than ``k`` workers is hidden;
    - a running total is shown only when the hidden adds since the last shown total sum to
      none or to ``k`` or more;
    - the plan's last total is known anyway (covered before + objective): when the hidden
      adds before it fall short of ``k``, one more add is hidden (any shown add is ``k`` or
      more), or the group is joined to the one before; a plan adding fewer than ``k`` workers
      in all hides its objective too.

    Returns whether each add is shown, whether each running total is shown, and whether the
    objective is.
    """
    show_add = [not 0 < a < k for a in adds]
    show_total = [False] * len(adds)
    objective_shown = True
    hidden = 0.0  # hidden adds since the last shown total
    for i, added in enumerate(adds):
        if not show_add[i]:
            hidden += added
        if hidden == 0 or hidden >= k:
            show_total[i], hidden = True, 0.0
        elif i == plan_sites - 1:
            if _widen_group(adds, show_add, show_total, i, hidden, k):
                show_total[i], hidden = True, 0.0
            else:
                objective_shown = False
    return show_add, show_total, objective_shown


def _widen_group(
    adds: Sequence[float],
    show_add: list[bool],
    show_total: list[bool],
    end: int,
    hidden: float,
    k: int,
) -> bool:
    """Hide figures back from ``end`` until the hidden adds of its group reach ``k``: the
    nearest shown add of the group, else the group joined to the one before (its total
    hidden). False when even all adds up to ``end`` together fall short."""

    start = max((m for m in range(end) if show_total[m]), default=-1)
    for j in range(end, -1, -1):  # the group is (start, end]: its hidden adds are counted
        if j < end and show_total[j]:
            show_total[j] = False  # add j joins the group: the total after it goes
        if j <= start and not show_add[j]:
            hidden += adds[j]  # hidden before, in the group before
        if show_add[j] and adds[j] > 0:
            show_add[j] = False
            hidden += adds[j]
        if hidden >= k:
            return True
    return False


def count_text(value: float | None, spec: str = ",.0f") -> str:
    """A plan figure for people (``spec``: thousands separated by default), or "hidden" where
    privacy hid it."""
    return "hidden" if value is None or value != value else format(value, spec)  # NaN: hidden


def protect_plan(view: PlanView, k: int) -> PlanView:
    """``view`` with the figures :func:`visible_figures` hides set to None (plans of worker
    homes only: grid demand is census population, not personal)."""
    if view.request.demand != "homes":
        return view
    beyond = list(view.results.get("curve_beyond", []))
    adds = [float(s["workers_added"]) for s in view.sites]
    adds += [float(b["added"]) for b in beyond]
    show_add, show_total, objective_shown = visible_figures(adds, k, len(view.sites))
    sites = [
        {
            **site,
            "workers_added": site["workers_added"] if show_add[i] else None,
            "running_total": site["running_total"] if show_total[i] else None,
        }
        for i, site in enumerate(view.sites)
    ]
    offset = len(view.sites)
    beyond = [
        {
            **b,
            "added": b["added"] if show_add[offset + i] else None,
            "running_total": b["running_total"] if show_total[offset + i] else None,
        }
        for i, b in enumerate(beyond)
    ]
    suppressed = sum(not shown for shown in show_add[:offset])
    return replace(
        view,
        sites=sites,
        results={**view.results, "curve_beyond": beyond},
        objective=view.objective if objective_shown else None,
        privacy={
            "k": k,
            "sites_suppressed": suppressed,
            "objective_suppressed": not objective_shown,
        },
    )


def get_plan(session: Session, plan_id: int, *, privacy_k: int | None = None) -> PlanView:
    """The stored plan ``plan_id`` with its ranked sites, as it may be shown: figures of
    fewer than ``privacy_k`` workers (the setting by default) hidden, see
    :func:`protect_plan`."""
    row = session.execute(
        text(
            "SELECT id, inputs, data_version, status, objective, bound, gap, covered_before, "
            "demand_total, results, created_by, created_at FROM plans WHERE id = :id"
        ),
        {"id": plan_id},
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"plan {plan_id!r} does not exist")
    sites = session.execute(
        text(
            "SELECT rank, candidate_code AS code, name, district_code, capacity, required, "
            "workers_added, running_total, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM plan_sites WHERE plan_id = :id ORDER BY rank"
        ),
        {"id": plan_id},
    ).all()
    if privacy_k is None:
        from locator.config import Settings

        privacy_k = Settings().privacy_k
    view = PlanView(
        id=row.id,
        request=PlanRequest.from_dict(row.inputs),
        data_version=row.data_version,
        status=row.status,
        objective=row.objective,
        bound=row.bound,
        gap=row.gap,
        covered_before=row.covered_before,
        demand_total=row.demand_total,
        results=row.results,
        sites=[dict(s._mapping) for s in sites],
        created_by=row.created_by,
        created_at=row.created_at,
    )
    return protect_plan(view, privacy_k)


def rerun_plan(
    session: Session, plan_id: int, *, created_by: str | None = None
) -> tuple[PlanView, PlanView]:
    """Solve plan ``plan_id``'s inputs again and store the answer as a new plan."""
    old = get_plan(session, plan_id)
    new = create_plan(session, old.request, created_by=created_by)
    return old, new


def compare_plans(session: Session, a: int, b: int) -> PlanComparison:
    """Sites added and removed from plan ``a`` to plan ``b``, and covered workers of each."""
    first, second = get_plan(session, a), get_plan(session, b)
    codes_a = [s["code"] for s in first.sites]
    codes_b = [s["code"] for s in second.sites]
    return PlanComparison(
        a=a,
        b=b,
        added=[c for c in codes_b if c not in codes_a],
        removed=[c for c in codes_a if c not in codes_b],
        kept=[c for c in codes_b if c in codes_a],
        covered_a=first.covered_after,
        covered_b=second.covered_after,
        same_data=first.data_version == second.data_version,
    )


def plan_features(plan: PlanView) -> dict[str, Any]:
    """The plan's sites as a GeoJSON FeatureCollection (WGS-84), in rank order."""
    features = [
        {
            "type": "Feature",
            "id": f"{plan.id}-{s['rank']}",
            "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
            "properties": {
                "plan": plan.id,
                "rank": s["rank"],
                "code": s["code"],
                "name": s["name"],
                "district_code": s["district_code"],
                "capacity": s["capacity"],
                "required": s["required"],
                "workers_added": s["workers_added"],
                "running_total": s["running_total"],
                "radius_m": plan.request.radius_m,
            },
        }
        for s in plan.sites
    ]
    return {"type": "FeatureCollection", "features": features}


CSV_FIELDS = (
    "rank",
    "code",
    "name",
    "district_code",
    "capacity",
    "required",
    "workers_added",
    "running_total",
    "lon",
    "lat",
)


def export_plan(plan: PlanView, out_dir: Path) -> dict[str, Path]:
    """Write the plan's sites (CSV, GeoJSON), its coverage curve (PNG) and summary (JSON)."""
    from locator.charts import coverage_curve_chart

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"plan-{plan.id}"
    paths = {
        "csv": out_dir / f"{stem}-sites.csv",
        "geojson": out_dir / f"{stem}-sites.geojson",
        "curve": out_dir / f"{stem}-curve.png",
        "summary": out_dir / f"{stem}.json",
    }
    with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(plan.sites)
    paths["geojson"].write_text(
        json.dumps(plan_features(plan), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    paths["summary"].write_text(
        json.dumps(plan.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    coverage_curve_chart(
        covered_before=plan.covered_before,
        running_totals=[s["running_total"] for s in plan.sites],
        adds=[s["workers_added"] for s in plan.sites],
        beyond=[x["running_total"] for x in plan.results.get("curve_beyond", [])],
        adds_beyond=[x["added"] for x in plan.results.get("curve_beyond", [])],
        demand_total=plan.demand_total,
        path=paths["curve"],
        title=f"Plan {plan.id}: workers covered within {plan.request.radius_m:g} m",
    )
    return paths
