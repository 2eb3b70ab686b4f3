"""The MCLP core: known answers by hand and by brute force, reductions, determinism, errors,
the fast path against the exact solver, and a cross-check with spopt's MCLP."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from locator.errors import ConfigError
from locator.siting import MaximalCovering

# Three candidates on a line, five demand points; by hand:
#   A covers d0 (10), d1 (5)      B covers d1, d2 (7), d3 (4)      C covers d3, d4 (8)
COVER = np.array(
    [
        [1, 0, 0],
        [1, 1, 0],
        [0, 1, 0],
        [0, 1, 1],
        [0, 0, 1],
    ]
)
WEIGHTS = np.array([10.0, 5.0, 7.0, 4.0, 8.0])
CODES = ["A", "B", "C"]


def hand() -> MaximalCovering:
    return MaximalCovering(COVER, WEIGHTS, candidate_codes=CODES)


def brute_force(
    problem: MaximalCovering,
    new_sites: int,
    *,
    capacitated: bool = False,
    required: tuple[str, ...] = (),
    forbidden: tuple[str, ...] = (),
    quotas: dict[str, int] | None = None,
) -> float:
    """The best covered weight over every subset of at most ``new_sites`` candidates."""
    best = 0.0
    pool = [c for c in problem.codes if c not in forbidden]
    for k in range(new_sites + 1):
        for subset in itertools.combinations(pool, k):
            if not set(required) <= set(subset):
                continue
            if quotas and problem.districts is not None:
                counts: dict[str, int] = {}
                for code in subset:
                    d = problem.districts[problem.codes.index(code)]
                    counts[d or ""] = counts.get(d or "", 0) + 1
                if any(counts.get(d, 0) > q for d, q in quotas.items()):
                    continue
            best = max(best, problem.covered_weight(subset, capacitated=capacitated))
    return best


def random_problem(seed: int, n_demand: int = 40, n_cand: int = 12, **kwargs) -> MaximalCovering:
    rng = np.random.default_rng(seed)
    demand = rng.random((n_demand, 2))
    sites = rng.random((n_cand, 2))
    costs = np.linalg.norm(demand[:, None] - sites[None], axis=2)
    return MaximalCovering.from_cost_matrix(
        costs,
        rng.integers(1, 30, n_demand),
        max_cost=0.22,
        already_covered=rng.random(n_demand) < 0.15,
        capacities=rng.integers(15, 80, n_cand).astype(float),
        candidate_districts=[f"D{j % 3}" for j in range(n_cand)],
        **kwargs,
    )


@pytest.mark.parametrize("solver", ["exact", "fast"])
def test_hand_solved_instance(solver):
    one = hand().solve(1, solver=solver)
    assert one.codes == ["B"] and one.objective == pytest.approx(16.0)
    two = hand().solve(2, solver=solver)
    # A + C = 10 + 5 + 4 + 8 = 27 beats A + B (26) and B + C (24).
    assert sorted(two.codes) == ["A", "C"] and two.objective == pytest.approx(27.0)
    assert [s.code for s in two.sites] == ["A", "C"]  # A adds 15, then C adds 12
    assert [s.added for s in two.sites] == pytest.approx([15.0, 12.0])
    assert two.sites[-1].running_total == pytest.approx(27.0)
    three = hand().solve(3, solver=solver)
    assert three.objective == pytest.approx(34.0)


def test_plain_greedy_trap_is_escaped_by_the_swap_search():
    # Greedy takes B (16) first and then can reach only 16 + 10 = 26; the optimum is 27.
    fast = hand().solve(2, solver="fast")
    assert fast.objective == pytest.approx(27.0)


def test_existing_stations_count_as_covering():
    problem = MaximalCovering(
        COVER, WEIGHTS, candidate_codes=CODES, already_covered=[True, False, False, False, False]
    )
    result = problem.solve(1)
    assert result.covered_before == pytest.approx(10.0)
    assert result.codes == ["B"] and result.objective == pytest.approx(16.0)
    assert result.covered_after == pytest.approx(26.0)
    assert problem.solve(2).objective == pytest.approx(24.0)  # B + C: A's d0 is covered already


def test_required_and_forbidden():
    result = hand().solve(2, required=["B"])
    assert result.codes[0] == "B" and result.sites[0].required
    assert result.objective == pytest.approx(26.0)  # B + A (B + C gives 24)
    assert hand().solve(2, forbidden=["A"]).objective == pytest.approx(24.0)


def test_capacitated_by_hand():
    # A serves at most 6 of its 15 workers, C at most 20 (all 12), B at most 9 of 16.
    problem = MaximalCovering(COVER, WEIGHTS, candidate_codes=CODES, capacities=[6, 9, 20])
    assert problem.covered_weight(["A", "C"], capacitated=True) == pytest.approx(18.0)
    best = problem.solve(2, capacitated=True)
    # B + C: B serves 9 of d1/d2/d3, C serves d4 and d3 → 9 + 12 = 21 beats A + C = 18.
    assert sorted(best.codes) == ["B", "C"] and best.objective == pytest.approx(21.0)
    assert best.status == "optimal"
    assert problem.solve(3, capacitated=True).objective == pytest.approx(27.0)


def test_quotas_by_hand():
    problem = MaximalCovering(
        COVER, WEIGHTS, candidate_codes=CODES, candidate_districts=["east", "west", "east"]
    )
    result = problem.solve(2, quotas={"east": 1})
    assert result.objective == pytest.approx(26.0)  # A or C with B; A + C is over the quota
    assert "B" in result.codes


@pytest.mark.parametrize(
    ("seed", "capacitated"), [*((s, False) for s in range(6)), *((s, True) for s in range(3))]
)
def test_exact_matches_brute_force(seed, capacitated):
    # Brute force with capacities solves an assignment LP per subset: keep those smaller.
    problem = random_problem(seed, n_cand=9 if capacitated else 12)
    cases = [
        {},
        {"required": ("3",)},
        {"forbidden": ("0", "5")},
        {"quotas": {"D0": 1, "D1": 2}},
    ]
    for case in cases:
        result = problem.solve(4, capacitated=capacitated, **case)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(
            brute_force(problem, 4, capacitated=capacitated, **case)
        ), case
        assert result.sites[-1].running_total == pytest.approx(result.covered_after)


def test_reductions_do_not_change_the_optimum():
    base = random_problem(11, n_demand=60, n_cand=14)
    # Duplicate every demand row (merging must sum them) and a candidate column (a twin).
    cover = sp.vstack([base.coverage, base.coverage]).tocsr()
    cover = sp.hstack([cover, cover[:, [2]]]).tocsr()
    weights = np.concatenate([base.weights, base.weights])
    covered = np.concatenate([base.already_covered, base.already_covered])
    doubled = MaximalCovering(cover, weights, already_covered=covered)
    for k in (1, 3, 5):
        result = doubled.solve(k)
        assert result.objective == pytest.approx(2 * base.solve(k).objective)
        assert result.objective == pytest.approx(brute_force(doubled, k))
        assert result.sizes["demand_merged"] <= base.coverage.shape[0]
        assert result.sizes["candidates_kept"] <= base.coverage.shape[1]


def test_fast_path_reaches_99_percent_of_the_optimum():
    ratios = []
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        demand, sites = rng.random((3000, 2)), rng.random((300, 2))
        tree_costs = np.linalg.norm(demand[:, None] - sites[None], axis=2)
        problem = MaximalCovering.from_cost_matrix(
            tree_costs, rng.integers(1, 10, 3000), max_cost=0.06
        )
        exact = problem.solve(20, time_limit_s=60)
        fast = problem.solve(20, solver="fast")
        assert exact.status == "optimal"
        ratios.append(fast.objective / exact.objective)
    print("fast/exact ratios:", [round(r, 4) for r in ratios])
    assert min(ratios) >= 0.99


def test_same_inputs_same_answer():
    problem = random_problem(3, n_demand=200, n_cand=30)
    first = problem.solve(6).to_dict()
    again = problem.solve(6).to_dict()
    for result in (first, again):
        result.pop("timings")
    assert first == again
    assert problem.solve(6, solver="fast").codes == problem.solve(6, solver="fast").codes


def test_per_demand_radius_and_sparse_costs():
    costs = np.array([[1.0, 5.0], [3.0, 1.0], [2.0, np.inf]])
    per_row = MaximalCovering.from_cost_matrix(costs, [1, 2, 4], max_cost=[1.0, 1.0, 2.0])
    assert per_row.coverage.toarray().tolist() == [[1, 0], [0, 1], [1, 0]]
    sparse = MaximalCovering.from_cost_matrix(sp.csr_matrix(costs), [1, 2, 4], max_cost=2.0)
    assert sparse.solve(1).objective == pytest.approx(5.0)


def test_sites_that_add_nothing_are_not_proposed():
    result = hand().solve(5)
    assert len(result.sites) == 3 and result.objective == pytest.approx(34.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.solve(-1), "new_sites must be >= 0, got -1"),
        (lambda p: p.solve(1, solver="cbc"), "solver 'cbc' must be one of exact, fast"),
        (lambda p: p.solve(1, required=["Z"]), "required: unknown candidate 'Z'"),
        (lambda p: p.solve(2, required=["A"], forbidden=["A"]), "'A' is both required and"),
        (lambda p: p.solve(1, required=["A", "B"]), "required names 2 candidates but new_sites"),
        (lambda p: p.solve(1, quotas={"east": 1}), "quotas need candidate_districts"),
        (lambda p: p.solve(1, time_limit_s=0), "time_limit_s must be a number > 0, got 0"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        call(hand())


def test_bad_matrices_are_named():
    with pytest.raises(ConfigError, match="weights has 2 values; the coverage matrix has 5"):
        MaximalCovering(COVER, [1, 2])
    with pytest.raises(ConfigError, match=r"weights must be finite and >= 0, got -1\.0"):
        MaximalCovering(COVER, [1, 2, 3, 4, -1])
    with pytest.raises(ConfigError, match="max_cost has 2 values"):
        MaximalCovering.from_cost_matrix(np.ones((3, 2)), [1, 1, 1], max_cost=[1, 2])


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_same_covered_weight_as_spopt():
    import pulp
    from spopt.locate import MCLP

    for seed in range(3):
        rng = np.random.default_rng(200 + seed)
        demand, sites = rng.random((150, 2)), rng.random((25, 2))
        costs = np.linalg.norm(demand[:, None] - sites[None], axis=2)
        weights = rng.integers(1, 20, 150)
        ours = MaximalCovering.from_cost_matrix(costs, weights, max_cost=0.18).solve(5)
        theirs = MCLP.from_cost_matrix(costs, weights, service_radius=0.18, p_facilities=5)
        theirs = theirs.solve(pulp.HiGHS(msg=False))
        their_weight = float(weights[[bool(f) for f in _spopt_covered(theirs, 150)]].sum())
        assert ours.objective == pytest.approx(their_weight)


def _spopt_covered(model, n_demand: int) -> list[bool]:
    """Which demand points spopt's solution covers (from its facility-client lists)."""
    covered = [False] * n_demand
    for clients in model.fac2cli:
        for i in clients:
            covered[i] = True
    return covered
