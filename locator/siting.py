"""Where to put the next stations: the maximal covering location problem (MCLP).

Given weighted demand (workers at homes or grid cells), candidate sites and the demand each
candidate covers, choose ``new_sites`` candidates that cover the most demand not already covered
by existing stations. Options: required and forbidden candidates, capacities (a site covers at
most its places' worth of workers, demand may be split between sites), and per-district quotas
(at most so many new sites in a district).

Two solvers share one reduced model:

- ``fast``: lazy greedy (a priority queue of marginal gains, which only shrink) followed by a
  best-improvement swap search. Plain greedy alone reaches 95–99 % of the optimum; the swaps
  close most of the rest.
- ``exact`` (default): a mixed-integer model built as sparse arrays and handed straight to HiGHS
  (no modelling layer), warm-started with the fast answer, so the answer is proved optimal
  wherever the time limit allows and is never worse than the fast one.

Reductions that never change the optimum run first: demand no allowed candidate reaches and
demand existing stations cover is dropped; demand rows covered by exactly the same candidates are
merged (weights summed); candidates that cover nothing left are dropped; without capacities,
demand covered by required sites is counted once and dropped, and of candidates covering exactly
the same demand (same district) only the first is kept.

Everything here is framework-free numpy/scipy; nothing touches the database.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from locator.errors import ConfigError

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Solver = Literal["exact", "fast"]
SOLVERS: tuple[str, ...] = ("exact", "fast")
EPS = 1e-9
DEFAULT_GAP = 1e-6


@dataclass(frozen=True)
class RankedSite:
    """One proposed site: its rank, the workers it adds to those before it, the running total."""

    rank: int
    index: int
    code: str
    added: float
    running_total: float
    required: bool


@dataclass
class SitingResult:
    """The answer of one solve, with enough figures to judge it.

    ``objective`` counts demand newly covered by the chosen sites (beyond existing stations);
    ``bound`` is the best upper bound proved on it (``None`` for the fast solver), ``gap`` the
    relative distance between them.
    """

    sites: list[RankedSite]
    objective: float
    bound: float | None
    gap: float | None
    status: str
    solver: str
    covered_before: float
    demand_total: float
    fast_objective: float
    sizes: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def covered_after(self) -> float:
        """Demand covered by existing stations and the proposed sites together."""
        return self.covered_before + self.objective

    @property
    def codes(self) -> list[str]:
        return [s.code for s in self.sites]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (stored with plans)."""
        return {
            "sites": [
                {
                    "rank": s.rank,
                    "code": s.code,
                    "added": s.added,
                    "running_total": s.running_total,
                    "required": s.required,
                }
                for s in self.sites
            ],
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "status": self.status,
            "solver": self.solver,
            "covered_before": self.covered_before,
            "covered_after": self.covered_after,
            "demand_total": self.demand_total,
            "fast_objective": self.fast_objective,
            "sizes": dict(self.sizes),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass
class _Reduced:
    """The model left after the reductions, with maps back to the original indices."""

    coverage: sp.csr_matrix  # demand × candidate (0/1), merged rows, kept columns
    weights: Array
    columns: IntArray  # original candidate index of each kept column
    capacities: Array  # per kept column; inf = unlimited
    groups: IntArray  # district group of each kept column, -1 = none
    quota_left: IntArray  # per group: new sites still allowed
    sites_left: int  # new sites still to choose
    fixed: IntArray  # kept-column positions forced open (capacitated only)
    constant: float  # demand covered by required sites (uncapacitated only)


class MaximalCovering:
    """A maximal covering location problem over a demand × candidate coverage matrix.

    Parameters
    ----------
    coverage : scipy.sparse matrix or array, shape (demand, candidates)
        Nonzero where the candidate would cover the demand point.
    weights : array of shape (demand,)
        Workers at each demand point (non-negative).
    already_covered : bool array of shape (demand,), optional
        Demand that existing stations cover already; it counts as covered and is never a gain.
    candidate_codes : sequence of str, optional
        Names of the candidates (default: their index as text); required and forbidden
        candidates are given by these.
    capacities : array of shape (candidates,), optional
        Workers each candidate could serve; NaN or inf means unlimited. Used when solving
        with ``capacitated=True``.
    candidate_districts : sequence of str or None, optional
        District of each candidate, for quotas.
    """

    def __init__(
        self,
        coverage: sp.spmatrix | sp.sparray | npt.ArrayLike,
        weights: npt.ArrayLike,
        *,
        already_covered: npt.ArrayLike | None = None,
        candidate_codes: Sequence[str] | None = None,
        capacities: npt.ArrayLike | None = None,
        candidate_districts: Sequence[str | None] | None = None,
    ) -> None:
        matrix = sp.csr_matrix(coverage, dtype=np.float64)
        matrix.eliminate_zeros()
        matrix.data[:] = 1.0
        matrix.sort_indices()
        n_demand, n_cand = matrix.shape
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != (n_demand,):
            raise ConfigError(
                f"weights has {w.size} values; the coverage matrix has {n_demand} demand rows"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            bad = w[~np.isfinite(w) | (w < 0)][0]
            raise ConfigError(f"weights must be finite and >= 0, got {float(bad)!r}")
        if already_covered is None:
            covered = np.zeros(n_demand, dtype=bool)
        else:
            covered = np.asarray(already_covered, dtype=bool).reshape(-1)
            if covered.shape != (n_demand,):
                raise ConfigError(
                    f"already_covered has {covered.size} values; expected {n_demand} "
                    "(one per demand row)"
                )
        codes = (
            [str(i) for i in range(n_cand)] if candidate_codes is None else list(candidate_codes)
        )
        if len(codes) != n_cand:
            raise ConfigError(
                f"candidate_codes has {len(codes)} names; the coverage matrix has {n_cand} columns"
            )
        if len(set(codes)) != len(codes):
            dup = next(c for c in codes if codes.count(c) > 1)
            raise ConfigError(f"candidate_codes must be unique; {dup!r} appears twice")
        if capacities is None:
            caps = np.full(n_cand, np.inf)
        else:
            caps = np.asarray(capacities, dtype=np.float64).reshape(-1)
            if caps.shape != (n_cand,):
                raise ConfigError(f"capacities has {caps.size} values; expected {n_cand}")
            caps = np.where(np.isnan(caps), np.inf, caps)
            if np.any(caps < 0):
                raise ConfigError(f"capacities must be >= 0, got {float(caps[caps < 0][0])!r}")
        if candidate_districts is not None and len(candidate_districts) != n_cand:
            raise ConfigError(
                f"candidate_districts has {len(candidate_districts)} values; expected {n_cand}"
            )
        self.coverage = matrix
        self.weights = w
        self.already_covered = covered
        self.codes = codes
        self.capacities = caps
        self.districts = None if candidate_districts is None else list(candidate_districts)
        self._index = {c: i for i, c in enumerate(codes)}

    @classmethod
    def from_cost_matrix(
        cls,
        costs: sp.spmatrix | sp.sparray | npt.ArrayLike,
        weights: npt.ArrayLike,
        *,
        max_cost: float | npt.ArrayLike,
        **kwargs: Any,
    ) -> MaximalCovering:
        """A problem from a demand × candidate cost matrix (metres, minutes, any cost).

        A candidate covers a demand point when their cost is ``<= max_cost`` (a number, or one
        per demand row). Dense matrices: every entry counts, ``inf``/``nan`` meaning
        unreachable. Sparse matrices: only stored entries count (a stored 0 is a cost of 0),
        so a sparse matrix of pairs within reach is the memory-friendly way in.
        """
        limit = np.asarray(max_cost, dtype=np.float64)
        if limit.ndim == 0 and (not np.isfinite(limit) or limit < 0):
            raise ConfigError(f"max_cost must be a finite number >= 0, got {float(limit)!r}")
        if sp.issparse(costs):
            coo = sp.coo_matrix(costs)
            n_demand = coo.shape[0]
            row_limit = _row_limits(limit, n_demand)
            keep = np.isfinite(coo.data) & (coo.data <= row_limit[coo.row])
            matrix = sp.csr_matrix(
                (np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])), shape=coo.shape
            )
        else:
            dense = np.asarray(costs, dtype=np.float64)
            if dense.ndim != 2:
                raise ConfigError(f"costs must be a 2-D matrix, got shape {dense.shape!r}")
            row_limit = _row_limits(limit, dense.shape[0])
            with np.errstate(invalid="ignore"):
                within = np.isfinite(dense) & (dense <= row_limit[:, None])
            matrix = sp.csr_matrix(within.astype(np.float64))
        return cls(matrix, weights, **kwargs)

    # --------------------------------------------------------------------------------------
    def solve(
        self,
        new_sites: int,
        *,
        required: Iterable[str] = (),
        forbidden: Iterable[str] = (),
        capacitated: bool = False,
        quotas: Mapping[str, int] | None = None,
        solver: str = "exact",
        time_limit_s: float = 60.0,
        seed: int = 0,
        gap_tolerance: float = DEFAULT_GAP,
    ) -> SitingResult:
        """Choose up to ``new_sites`` candidates (required ones included) covering the most demand.

        Sites that would add no demand are not proposed, so fewer than ``new_sites`` may come
        back when the rest would add nothing. ``seed`` is handed to HiGHS (its runs are
        deterministic for a seed); the fast path uses no randomness.
        """
        if isinstance(new_sites, bool) or not isinstance(new_sites, int | np.integer):
            raise ConfigError(f"new_sites must be a whole number >= 0, got {new_sites!r}")
        if new_sites < 0:
            raise ConfigError(f"new_sites must be >= 0, got {new_sites!r}")
        if solver not in SOLVERS:
            raise ConfigError(f"solver {solver!r} must be one of {', '.join(SOLVERS)}")
        if not (time_limit_s > 0 and np.isfinite(time_limit_s)):
            raise ConfigError(f"time_limit_s must be a number > 0, got {time_limit_s!r}")
        req = self._indices("required", required)
        forb = self._indices("forbidden", forbidden)
        both = sorted(set(req) & set(forb))
        if both:
            raise ConfigError(f"candidate {self.codes[both[0]]!r} is both required and forbidden")
        if len(req) > new_sites:
            raise ConfigError(
                f"required names {len(req)} candidates but new_sites is {new_sites}; "
                "required sites count among the new ones"
            )
        groups, quota_of_group = self._quota_groups(quotas, req)

        timings: dict[str, float] = {}
        start = time.perf_counter()
        w = self.weights
        demand_total = float(w.sum())
        covered_before = float(w[self.already_covered].sum())
        reduced, sizes = self._reduce(
            new_sites, req, forb, capacitated=capacitated, groups=groups, quota=quota_of_group
        )
        timings["reduce_s"] = time.perf_counter() - start

        t0 = time.perf_counter()
        if capacitated:
            fast_cols, fast_assign = _capacitated_greedy(reduced)
            fast_value = _assignment_value(reduced, fast_cols)
        else:
            fast_cols = _swap_search(reduced, _lazy_greedy(reduced))
            fast_value = _covered_weight(reduced, fast_cols) + reduced.constant
            fast_assign = None
        timings["fast_s"] = time.perf_counter() - t0

        bound: float | None = None
        status = "heuristic"
        chosen_cols = fast_cols
        if solver == "exact":
            t0 = time.perf_counter()
            exact = _solve_exact(
                reduced,
                fast_cols,
                fast_assign,
                capacitated=capacitated,
                time_limit_s=time_limit_s,
                seed=seed,
                gap_tolerance=gap_tolerance,
            )
            timings["exact_s"] = time.perf_counter() - t0
            chosen_cols, bound, status = exact
        chosen = [int(reduced.columns[c]) for c in chosen_cols]
        sites = self._rank(chosen, req, capacitated=capacitated)
        objective = sites[-1].running_total - covered_before if sites else 0.0
        if bound is not None:
            bound = max(bound, objective)
        gap = None if bound is None else (bound - objective) / max(abs(bound), EPS)
        if gap is not None and gap <= gap_tolerance and status == "time_limit":
            status = "optimal"
        timings["total_s"] = time.perf_counter() - start
        return SitingResult(
            sites=sites,
            objective=objective,
            bound=bound,
            gap=None if gap is None else max(gap, 0.0),
            status=status,
            solver=solver,
            covered_before=covered_before,
            demand_total=demand_total,
            fast_objective=float(fast_value),
            sizes=sizes,
            timings=timings,
        )

    def covered_weight(self, codes: Iterable[str], *, capacitated: bool = False) -> float:
        """Demand newly covered by opening ``codes`` (with capacities: the best assignment)."""
        idx = self._indices("codes", codes)
        return self._value(idx, capacitated=capacitated)

    def greedy_extension(
        self, codes: Sequence[str], *, extra_sites: int, forbidden: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """What greedy would add beyond the sites ``codes``, site by site (no capacities).

        Feeds the dashed part of the coverage curve: where further stations stop paying.
        """
        taken = self._indices("codes", codes)
        blocked = set(self._indices("forbidden", forbidden)) | set(taken)
        open_rows = ~self.already_covered
        if taken:
            open_rows &= ~(np.asarray(self.coverage[:, taken].sum(axis=1)).ravel() > 0)
        base = float(self.weights[~open_rows].sum())
        allowed = np.asarray([j for j in range(len(self.codes)) if j not in blocked])
        if extra_sites <= 0 or allowed.size == 0:
            return []
        rows = np.flatnonzero(open_rows)
        model = _Reduced(
            coverage=self.coverage[rows][:, allowed].tocsr(),
            weights=self.weights[rows],
            columns=allowed.astype(np.int64),
            capacities=np.full(allowed.size, np.inf),
            groups=np.full(allowed.size, -1, dtype=np.int64),
            quota_left=np.zeros(0, dtype=np.int64),
            sites_left=int(extra_sites),
            fixed=np.zeros(0, dtype=np.int64),
            constant=0.0,
        )
        out: list[dict[str, Any]] = []
        total = base
        picked: list[int] = []
        for k in _lazy_greedy(model):
            before = _covered_weight(model, picked)
            picked.append(k)
            added = _covered_weight(model, picked) - before
            total += added
            out.append(
                {"code": self.codes[int(allowed[k])], "added": added, "running_total": total}
            )
        return out

    # --------------------------------------------------------------------------------------
    def _indices(self, name: str, codes: Iterable[str]) -> list[int]:
        out: list[int] = []
        for code in codes:
            index = self._index.get(str(code))
            if index is None:
                shown = ", ".join(self.codes[:5]) + (", …" if len(self.codes) > 5 else "")
                raise ConfigError(f"{name}: unknown candidate {code!r} (candidates: {shown})")
            if index not in out:
                out.append(index)
        return out

    def _quota_groups(
        self, quotas: Mapping[str, int] | None, req: list[int]
    ) -> tuple[IntArray, IntArray]:
        n_cand = len(self.codes)
        if not quotas:
            return np.full(n_cand, -1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if self.districts is None:
            raise ConfigError("quotas need candidate_districts (the district of each candidate)")
        names = sorted(quotas)
        limit = np.zeros(len(names), dtype=np.int64)
        for g, name in enumerate(names):
            value = quotas[name]
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ConfigError(f"quotas[{name!r}] must be a whole number >= 0, got {value!r}")
            limit[g] = value
        position = {n: g for g, n in enumerate(names)}
        groups = np.array([position.get(d, -1) if d else -1 for d in self.districts])
        for g, name in enumerate(names):
            promised = sum(1 for j in req if groups[j] == g)
            if promised > limit[g]:
                raise ConfigError(
                    f"quotas[{name!r}] is {int(limit[g])} but {promised} required candidates "
                    "lie in that district"
                )
        return groups.astype(np.int64), limit

    def _reduce(
        self,
        new_sites: int,
        req: list[int],
        forb: list[int],
        *,
        capacitated: bool,
        groups: IntArray,
        quota: IntArray,
    ) -> tuple[_Reduced, dict[str, int]]:
        n_demand, n_cand = self.coverage.shape
        sizes = {"demand_in": n_demand, "candidates_in": n_cand}
        allowed = np.ones(n_cand, dtype=bool)
        allowed[forb] = False
        matrix = self.coverage[:, np.flatnonzero(allowed)]
        cols = np.flatnonzero(allowed)
        reach = np.diff(matrix.indptr) > 0
        sizes["demand_reachable"] = int(reach.sum())
        rows = reach & ~self.already_covered & (self.weights > 0)
        sizes["demand_uncovered"] = int(rows.sum())
        constant = 0.0
        sites_left = new_sites
        quota_left = quota.copy()
        fixed_orig: list[int] = []
        if not capacitated and req:
            req_cols = np.searchsorted(cols, req)
            by_required = np.asarray(matrix[:, req_cols].sum(axis=1)).ravel() > 0
            constant = float(self.weights[rows & by_required].sum())
            rows &= ~by_required
            sites_left -= len(req)
            for j in req:
                if groups[j] >= 0:
                    quota_left[groups[j]] -= 1
            keep_col = np.ones(cols.size, dtype=bool)
            keep_col[req_cols] = False
            matrix, cols = matrix[:, keep_col], cols[keep_col]
        elif capacitated:
            fixed_orig = list(req)
        matrix = matrix[np.flatnonzero(rows)]
        weights = self.weights[rows]
        matrix, weights = _merge_rows(matrix.tocsr(), weights)
        sizes["demand_merged"] = matrix.shape[0]
        # Columns that cover nothing left add nothing (required ones stay when capacitated).
        useful = np.diff(matrix.tocsc().indptr) > 0
        if fixed_orig:
            useful |= np.isin(cols, fixed_orig)
        if not capacitated:
            useful &= _first_of_duplicates(matrix, groups[cols])
        matrix, cols = matrix[:, np.flatnonzero(useful)].tocsr(), cols[useful]
        sizes["candidates_kept"] = int(cols.size)
        sizes["coverage_nnz"] = int(matrix.nnz)
        fixed = np.searchsorted(cols, fixed_orig).astype(np.int64)
        return (
            _Reduced(
                coverage=matrix,
                weights=weights,
                columns=cols.astype(np.int64),
                capacities=self.capacities[cols],
                groups=groups[cols],
                quota_left=quota_left,
                sites_left=max(sites_left, 0),
                fixed=fixed,
                constant=constant,
            ),
            sizes,
        )

    def _value(self, idx: Sequence[int], *, capacitated: bool) -> float:
        """Demand newly covered by the candidates ``idx`` (beyond existing stations)."""
        if not idx:
            return 0.0
        open_rows = ~self.already_covered
        if not capacitated:
            hit = np.asarray(self.coverage[:, list(idx)].sum(axis=1)).ravel() > 0
            return float(self.weights[hit & open_rows].sum())
        sub = self.coverage[np.flatnonzero(open_rows)][:, list(idx)].tocsr()
        model = _Reduced(
            coverage=sub,
            weights=self.weights[open_rows],
            columns=np.asarray(idx, dtype=np.int64),
            capacities=self.capacities[list(idx)],
            groups=np.full(len(idx), -1, dtype=np.int64),
            quota_left=np.zeros(0, dtype=np.int64),
            sites_left=len(idx),
            fixed=np.arange(len(idx), dtype=np.int64),
            constant=0.0,
        )
        return _assignment_value(model, list(range(len(idx))))

    def _rank(self, chosen: list[int], req: list[int], *, capacitated: bool) -> list[RankedSite]:
        """Order the chosen sites: required first, then each next one adding the most.

        Without capacities the order is greedy on exact gains. With capacities it is greedy on
        the residual demand each site can still serve, and each prefix is then valued exactly
        (an assignment LP), so the running totals are exact. Sites (not required) that add
        nothing are left out.
        """
        pool = sorted(set(chosen) | set(req))
        total_before = float(self.weights[self.already_covered].sum())
        if not pool:
            return []
        open_rows = np.flatnonzero(~self.already_covered)
        sub = self.coverage[open_rows][:, pool].tocsr()
        weights = self.weights[open_rows]
        local = {j: k for k, j in enumerate(pool)}
        model = _Reduced(
            coverage=sub,
            weights=weights,
            columns=np.asarray(pool, dtype=np.int64),
            capacities=self.capacities[pool] if capacitated else np.full(len(pool), np.inf),
            groups=np.full(len(pool), -1, dtype=np.int64),
            quota_left=np.zeros(0, dtype=np.int64),
            sites_left=len(pool),
            fixed=np.asarray([local[j] for j in req], dtype=np.int64),
            constant=0.0,
        )
        if capacitated:
            order, _ = _capacitated_greedy(model)
            order += [k for k in range(len(pool)) if k not in order]
            values = [_assignment_value(model, order[: i + 1]) for i in range(len(order))]
        else:
            order = [local[j] for j in req]
            order += [k for k in _lazy_greedy(_with_fixed_covered(model)) if k not in order]
            values = [_covered_weight(model, order[: i + 1]) for i in range(len(order))]
        sites: list[RankedSite] = []
        previous = 0.0
        required = set(req)
        for k, value in zip(order, values, strict=True):
            j = pool[k]
            added = value - previous
            if j not in required and added <= EPS:
                continue
            previous = value
            sites.append(
                RankedSite(
                    rank=len(sites) + 1,
                    index=j,
                    code=self.codes[j],
                    added=added,
                    running_total=total_before + value,
                    required=j in required,
                )
            )
        return sites


def _with_fixed_covered(model: _Reduced) -> _Reduced:
    """The model with the demand its fixed sites cover removed, fixed sites closed off."""
    if model.fixed.size == 0:
        return model
    hit = np.asarray(model.coverage[:, model.fixed].sum(axis=1)).ravel() > 0
    weights = np.where(hit, 0.0, model.weights)
    return _Reduced(
        coverage=model.coverage,
        weights=weights,
        columns=model.columns,
        capacities=model.capacities,
        groups=model.groups,
        quota_left=model.quota_left,
        sites_left=model.coverage.shape[1],
        fixed=np.zeros(0, dtype=np.int64),
        constant=0.0,
    )


def _row_limits(limit: Array, n_rows: int) -> Array:
    if limit.ndim == 0:
        return np.full(n_rows, float(limit))
    if limit.shape != (n_rows,):
        raise ConfigError(
            f"max_cost has {limit.size} values; expected one number or {n_rows} (one per demand)"
        )
    if np.any(~np.isfinite(limit)) or np.any(limit < 0):
        raise ConfigError("max_cost must be finite numbers >= 0")
    return limit


def _row_keys(matrix: sp.csr_matrix) -> list[bytes]:
    """The column set of each CSR row as bytes (rows with the same set get the same key)."""
    indices = matrix.indices.astype(np.int32, copy=False)
    ptr = matrix.indptr
    return [indices[ptr[i] : ptr[i + 1]].tobytes() for i in range(matrix.shape[0])]


def _merge_rows(matrix: sp.csr_matrix, weights: Array) -> tuple[sp.csr_matrix, Array]:
    """Merge demand rows covered by the same candidates; weights add up. First row kept."""
    if matrix.shape[0] == 0:
        return matrix, weights
    matrix.sort_indices()
    first: dict[bytes, int] = {}
    group = np.empty(matrix.shape[0], dtype=np.int64)
    for i, key in enumerate(_row_keys(matrix)):
        group[i] = first.setdefault(key, len(first))
    representative = np.zeros(len(first), dtype=np.int64)
    representative[group[::-1]] = np.arange(matrix.shape[0])[::-1]
    merged = np.bincount(group, weights=weights, minlength=len(first)).astype(np.float64)
    return matrix[representative].tocsr(), merged


def _first_of_duplicates(matrix: sp.csr_matrix, groups: IntArray) -> BoolArray:
    """True for columns that are not a later copy (same rows, same district) of another one."""
    csc = matrix.T.tocsr()
    csc.sort_indices()
    seen: set[tuple[int, bytes]] = set()
    keep = np.ones(csc.shape[0], dtype=bool)
    for j, key in enumerate(_row_keys(csc)):
        if not key:
            continue
        tag = (int(groups[j]), key)
        if tag in seen:
            keep[j] = False
        seen.add(tag)
    return keep


def _covered_weight(model: _Reduced, cols: Sequence[int]) -> float:
    if not len(cols):
        return 0.0
    hit = np.asarray(model.coverage[:, list(cols)].sum(axis=1)).ravel() > 0
    return float(model.weights[hit].sum())


def _quota_ok(model: _Reduced, used: IntArray, j: int) -> bool:
    g = model.groups[j]
    return g < 0 or used[g] < model.quota_left[g]


def _lazy_greedy(model: _Reduced) -> list[int]:
    """Greedy by marginal gain with a lazy priority queue; ties go to the lower column."""
    csc = model.coverage.tocsc()
    w = model.weights
    covered = np.zeros(w.size, dtype=bool)
    used = np.zeros(model.quota_left.size, dtype=np.int64)
    gains = np.asarray(csc.T @ w).ravel()
    heap = [(-float(gains[j]), j) for j in range(csc.shape[1])]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and len(chosen) < model.sites_left:
        neg, j = heapq.heappop(heap)
        if not _quota_ok(model, used, j):
            continue
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        fresh = float(w[rows][~covered[rows]].sum())
        if fresh < -neg - EPS:
            heapq.heappush(heap, (-fresh, j))
            continue
        if fresh <= EPS:
            break
        chosen.append(j)
        covered[rows] = True
        if model.groups[j] >= 0:
            used[model.groups[j]] += 1
    return chosen


def _swap_search(model: _Reduced, start: list[int], max_rounds: int = 10_000) -> list[int]:
    """Best-improvement interchange: swap one chosen site for one unchosen while it pays.

    For all candidates c and chosen sites s at once: the gain of c after dropping s is the
    weight c covers that nobody covers, plus what only s covers within c's reach; the loss is
    what only s covers. Ties: the lowest (c, s). Then, if sites are still free, add the best.
    """
    a = model.coverage.tocsr()
    at = a.T.tocsr()
    w = model.weights
    n_cand = a.shape[1]
    chosen = list(start)
    used = np.zeros(model.quota_left.size, dtype=np.int64)
    for j in chosen:
        if model.groups[j] >= 0:
            used[model.groups[j]] += 1
    for _ in range(max_rounds):
        if not chosen:
            return chosen
        sel = np.asarray(chosen)
        sub = a[:, sel].tocsr()
        count = np.diff(sub.indptr)
        uncovered = w * (count == 0)
        base = at @ uncovered  # weight each candidate would add as it stands
        single = np.flatnonzero(count == 1)
        owner = sub.indices[sub.indptr[single]]  # position in sel of the only cover
        only = sp.csr_matrix((w[single], (single, owner)), shape=(a.shape[0], sel.size))
        loss = np.asarray(only.sum(axis=0)).ravel()
        bonus = (at @ only).toarray()
        delta = base[:, None] + bonus - loss[None, :]
        delta[sel, :] = -np.inf
        if model.quota_left.size:
            # A swap must keep quotas: c's district may not be full unless s leaves it.
            grouped = model.groups >= 0
            full = np.zeros(n_cand, dtype=bool)
            full[grouped] = used[model.groups[grouped]] >= model.quota_left[model.groups[grouped]]
            for pos, s in enumerate(sel):
                blocked = full & (model.groups != model.groups[s]) if model.groups[s] >= 0 else full
                delta[blocked, pos] = -np.inf
        best = float(delta.max()) if delta.size else -np.inf
        if best <= EPS:
            break
        flat = int(np.argmax(delta >= best - EPS))
        c, s = flat // sel.size, int(sel[flat % sel.size])
        chosen[chosen.index(s)] = c
        if model.groups[s] >= 0:
            used[model.groups[s]] -= 1
        if model.groups[c] >= 0:
            used[model.groups[c]] += 1
    return sorted(chosen)


def _capacitated_greedy(model: _Reduced) -> tuple[list[int], dict[int, Array]]:
    """Greedy for capacities: each next site takes the most residual demand it can serve.

    Demand is split: a site serves its rows in order until its capacity is used. Gains only
    shrink as demand is served, so the lazy queue stays valid. Returns the sites and, for each,
    the weight it serves per demand row (a feasible assignment for the warm start).
    """
    csc = model.coverage.tocsc()
    residual = model.weights.copy()
    caps = model.capacities
    used = np.zeros(model.quota_left.size, dtype=np.int64)
    chosen: list[int] = []
    assign: dict[int, Array] = {}

    def serve(j: int) -> None:
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        take = residual[rows].copy()
        cum = np.cumsum(take)
        over = cum > caps[j]
        if over.any():
            first = int(np.argmax(over))
            take[first] -= cum[first] - caps[j]
            take[first + 1 :] = 0.0
        residual[rows] -= take
        assign[j] = take
        if model.groups[j] >= 0:
            used[model.groups[j]] += 1
        chosen.append(j)

    for j in model.fixed:
        serve(int(j))
    gains = np.minimum(np.asarray(csc.T @ residual).ravel(), caps)
    heap = [(-float(gains[j]), j) for j in range(csc.shape[1]) if j not in chosen]
    heapq.heapify(heap)
    while heap and len(chosen) < model.sites_left:
        neg, j = heapq.heappop(heap)
        if not _quota_ok(model, used, j):
            continue
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        fresh = float(min(residual[rows].sum(), caps[j]))
        if fresh < -neg - EPS:
            heapq.heappush(heap, (-fresh, j))
            continue
        if fresh <= EPS:
            break
        serve(j)
    return chosen, assign


def _highs(time_limit_s: float | None, seed: int, gap_tolerance: float) -> Any:
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", int(seed))
    h.setOptionValue("mip_rel_gap", float(gap_tolerance))
    h.setOptionValue("mip_abs_gap", 1e-6)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    return h


def _add_cols(h: Any, cost: Array, lower: Array, upper: Array) -> None:
    n = cost.size
    h.addCols(
        n,
        cost,
        lower,
        upper,
        0,
        np.zeros(n, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.float64),
    )


def _add_rows(h: Any, rows: sp.csr_matrix, lower: Array, upper: Array) -> None:
    rows = rows.tocsr()
    rows.sort_indices()
    h.addRows(
        rows.shape[0],
        lower,
        upper,
        rows.nnz,
        rows.indptr[:-1].astype(np.int32),
        rows.indices.astype(np.int32),
        rows.data.astype(np.float64),
    )


def _assignment_value(model: _Reduced, open_cols: Sequence[int]) -> float:
    """Most demand the open sites can serve within their capacities (an LP: a max flow)."""
    if not len(open_cols):
        return model.constant
    import highspy

    sub = model.coverage[:, list(open_cols)].tocsr()
    caps = model.capacities[list(open_cols)]
    coo = sub.tocoo()
    if coo.nnz == 0:
        return model.constant
    w = model.weights
    n_edges = coo.nnz
    h = _highs(None, 0, DEFAULT_GAP)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    _add_cols(h, w[coo.row], np.zeros(n_edges), np.ones(n_edges))
    edge = np.arange(n_edges)
    demand_rows = sp.csr_matrix((np.ones(n_edges), (coo.row, edge)), shape=(sub.shape[0], n_edges))
    _add_rows(h, demand_rows, np.full(sub.shape[0], -np.inf), np.ones(sub.shape[0]))
    finite = np.flatnonzero(np.isfinite(caps))
    if finite.size:
        site_rows = sp.csr_matrix((w[coo.row], (coo.col, edge)), shape=(len(open_cols), n_edges))
        _add_rows(h, site_rows[finite], np.full(finite.size, -np.inf), caps[finite])
    h.run()
    return float(h.getInfo().objective_function_value) + model.constant


def _solve_exact(
    model: _Reduced,
    start_cols: list[int],
    start_assign: dict[int, Array] | None,
    *,
    capacitated: bool,
    time_limit_s: float,
    seed: int,
    gap_tolerance: float,
) -> tuple[list[int], float, str]:
    """The MIP on the reduced model, warm-started; returns columns, bound and status."""
    import highspy

    a = model.coverage
    n_rows, n_cand = a.shape
    if n_rows == 0 or (model.sites_left == 0 and model.fixed.size == 0) or n_cand == 0:
        value = (
            _assignment_value(model, start_cols)
            if capacitated
            else _covered_weight(model, start_cols) + model.constant
        )
        return start_cols, value, "optimal"
    w = model.weights
    h = _highs(time_limit_s, seed, gap_tolerance)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    y_lower = np.zeros(n_cand)
    y_lower[model.fixed] = 1.0
    # Columns: y (sites) first, then z (covered share per demand row) or x (assignments).
    if capacitated:
        coo = a.tocoo()
        n_x = coo.nnz
        _add_cols(
            h,
            np.concatenate([np.zeros(n_cand), w[coo.row]]),
            np.concatenate([y_lower, np.zeros(n_x)]),
            np.ones(n_cand + n_x),
        )
        edge = np.arange(n_x)
        one = np.ones(n_x)
        # sum_j x_ij <= 1
        demand_rows = sp.hstack(
            [sp.csr_matrix((n_rows, n_cand)), sp.csr_matrix((one, (coo.row, edge)), (n_rows, n_x))]
        )
        _add_rows(h, demand_rows.tocsr(), np.full(n_rows, -np.inf), np.ones(n_rows))
        # x_ij - y_j <= 0 (tightens the relaxation)
        link = sp.hstack(
            [sp.csr_matrix((-one, (edge, coo.col)), (n_x, n_cand)), sp.identity(n_x, format="csr")]
        )
        _add_rows(h, link.tocsr(), np.full(n_x, -np.inf), np.zeros(n_x))
        # sum_i w_i x_ij - cap_j y_j <= 0
        finite = np.flatnonzero(np.isfinite(model.capacities))
        if finite.size:
            cap_block = sp.csr_matrix(
                (-model.capacities[finite], (np.arange(finite.size), finite)),
                shape=(finite.size, n_cand),
            )
            flow = sp.csr_matrix((w[coo.row], (coo.col, edge)), shape=(n_cand, n_x))[finite]
            _add_rows(
                h,
                sp.hstack([cap_block, flow]).tocsr(),
                np.full(finite.size, -np.inf),
                np.zeros(finite.size),
            )
        n_other = n_x
    else:
        _add_cols(
            h,
            np.concatenate([np.zeros(n_cand), w]),
            np.concatenate([y_lower, np.zeros(n_rows)]),
            np.ones(n_cand + n_rows),
        )
        # z_i - sum_{j covers i} y_j <= 0
        rows = sp.hstack([-a, sp.identity(n_rows, format="csr")]).tocsr()
        _add_rows(h, rows, np.full(n_rows, -np.inf), np.zeros(n_rows))
        n_other = n_rows
    total = n_cand + n_other
    count = sp.csr_matrix((np.ones(n_cand), (np.zeros(n_cand), np.arange(n_cand))), (1, total))
    _add_rows(h, count, np.array([-np.inf]), np.array([float(model.sites_left)]))
    grouped = np.flatnonzero(model.groups >= 0)
    if grouped.size:
        quota_rows = sp.csr_matrix(
            (np.ones(grouped.size), (model.groups[grouped], grouped)),
            shape=(model.quota_left.size, total),
        )
        _add_rows(
            h,
            quota_rows,
            np.full(model.quota_left.size, -np.inf),
            model.quota_left.astype(np.float64),
        )
    h.changeColsIntegrality(
        n_cand,
        np.arange(n_cand, dtype=np.int32),
        np.full(n_cand, highspy.HighsVarType.kInteger, dtype=np.uint8),
    )
    start = np.zeros(total)
    start[list(start_cols)] = 1.0
    if capacitated:
        position = {
            (int(r), int(c)): e for e, (r, c) in enumerate(zip(coo.row, coo.col, strict=True))
        }
        csc = a.tocsc()
        csc.sort_indices()
        for j, take in (start_assign or {}).items():
            rows_j = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
            for r, t in zip(rows_j, take, strict=True):
                if t > 0:
                    start[n_cand + position[(int(r), j)]] = t / w[r]
    elif start_cols:
        start[n_cand:] = np.minimum(np.asarray(a[:, list(start_cols)].sum(axis=1)).ravel(), 1.0)
    solution = highspy.HighsSolution()
    solution.col_value = list(start)
    solution.value_valid = True
    h.setSolution(solution)
    h.run()
    model_status = h.getModelStatus()
    info = h.getInfo()
    if info.primal_solution_status == 0:
        log.warning("HiGHS found no solution in %s s; keeping the fast one", time_limit_s)
        bound = float(info.mip_dual_bound) + model.constant
        return start_cols, bound, "time_limit"
    values = np.asarray(h.getSolution().col_value[:n_cand])
    cols = [int(j) for j in np.flatnonzero(values > 0.5)]
    bound = float(info.mip_dual_bound) + model.constant
    status = "optimal" if model_status == highspy.HighsModelStatus.kOptimal else "time_limit"
    return cols, bound, status
