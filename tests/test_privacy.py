"""Complementary suppression: no figure of a report, set against the figures of its parts,
gives back the workers of an area that has fewer than k of them.

Known answers on hand-made layouts (two districts of two sub-districts of four 0.01° grid
cells each, one home per cell), what the API, the exports, the map and the gaps show of the
hidden areas, and properties on random layouts: through the whole report against the store,
and many more through :func:`locator.coverage.suppression_pattern` alone.
"""

from __future__ import annotations

import base64
import csv
import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from locator.coverage import (
    COMPLEMENTARY,
    FEWER_THAN_K,
    CoverageReport,
    export_report,
    suppression_pattern,
)
from maps import layers
from maps.coverage import coverage_map
from tests.test_coverage import Place, insert_area, insert_home, insert_station, report_of
from tests.test_coverage import square_wkt as square

X0, Y0, STEP = 116.30, 39.90, 0.01
LEVELS = ("district", "subdistrict", "grid")
WORKER_COLUMNS = ("workers", "covered_500", "covered_1000", "share_500", "share_1000")
WORKER_COLUMNS += ("places_per_1000", "mean_m", "p90_m", "access_2sfca")


def x_of(column: float) -> float:
    return round(X0 + column * STEP, 2)


def y_of(row: float) -> float:
    return round(Y0 + row * STEP, 2)


def centre(column: int, row: int = 0) -> tuple[float, float]:
    return (x_of(column) + STEP / 2, y_of(row) + STEP / 2)


@dataclass(frozen=True)
class Layout:
    """Districts of sub-districts of grid cells, side by side in one band of rows: a
    district or sub-district is the columns of its cells. ``cells`` maps a cell code to its
    (column, row, parent sub-district); ``workers`` per cell code (one home each)."""

    districts: dict[str, tuple[int, int]]  # code: (first column, end column)
    subdistricts: dict[str, tuple[int, int, str]]  # code: (first, end, district)
    cells: dict[str, tuple[int, int, str]]
    rows: int = 1


def standard_layout() -> Layout:
    """D1 = S11 + S12, D2 = S21 + S22; each sub-district two columns by two rows of cells,
    named ``<sub-district>-<a|b|c|d>`` (a, b the lower row)."""
    districts = {"D1": (0, 4), "D2": (4, 8)}
    subdistricts, cells = {}, {}
    for d, (start, _) in districts.items():
        for j in range(2):
            code = f"S{d[1]}{j + 1}"
            column = start + 2 * j
            subdistricts[code] = (column, column + 2, d)
            for n, (dc, row) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
                cells[f"{code}-{'abcd'[n]}"] = (column + dc, row, code)
    return Layout(districts, subdistricts, cells, rows=2)


def build(
    session: Session,
    layout: Layout,
    workers: Mapping[str, int],
    *,
    outside: int = 0,
    station: bool = True,
) -> None:
    """The layout's areas, a home per cell with ``workers[cell]`` (none for 0), a home of
    ``outside`` workers beyond every area, and one station in the first cell."""
    top = y_of(layout.rows)
    for code, (a, b) in layout.districts.items():
        insert_area(session, code, "district", square(x_of(a), Y0, x_of(b), top), None)
    for code, (a, b, parent) in layout.subdistricts.items():
        insert_area(session, code, "subdistrict", square(x_of(a), Y0, x_of(b), top), parent)
    for code, (column, row, parent) in layout.cells.items():
        wkt = square(x_of(column), y_of(row), x_of(column + 1), y_of(row + 1))
        insert_area(session, code, "grid", wkt, parent)
        if workers.get(code, 0):
            insert_home(session, f"h-{code}", centre(column, row), workers[code])
    if outside:
        insert_home(session, "h-outside", centre(-5, 0), outside)
    if station:
        place = Place("ST", centre(0, 0), "union_post", "24/7", seats=6, beds=0)
        insert_station(session, place, reported_at=None)


def reasons(report: CoverageReport, level: str) -> dict[str, str]:
    """The hidden areas of a level and why."""
    table = report.areas[level]
    hidden = table[table["suppressed"]]
    return dict(zip(hidden["code"], hidden["suppressed_reason"], strict=True))


def shown(report: CoverageReport, level: str) -> dict[str, int]:
    table = report.areas[level]
    visible = table[~table["suppressed"]]
    return {code: int(w) for code, w in zip(visible["code"], visible["workers"], strict=True)}


def assert_blank_where_suppressed(report: CoverageReport) -> None:
    for level, table in report.areas.items():
        assert (table["suppressed"] == table["suppressed_reason"].notna()).all(), level
        assert set(table["suppressed_reason"].dropna()) <= {FEWER_THAN_K, COMPLEMENTARY}
        hidden = table[table["suppressed"]]
        for column in WORKER_COLUMNS:
            assert hidden[column].isna().all(), (level, column)
        assert table.loc[~table["suppressed"], "workers"].notna().all(), level


def every_cell(value: int) -> dict[str, int]:
    return dict.fromkeys(standard_layout().cells, value)


# -- known answers --------------------------------------------------------------------------------
def test_a_parent_with_one_child_below_k_gets_a_second_child_hidden(session):
    # S11: a = 3 (< k), b = 20 and c = 20 (a tie: the code decides), d = 30
    workers = every_cell(40) | {"S11-a": 3, "S11-b": 20, "S11-c": 20, "S11-d": 30}
    build(session, standard_layout(), workers)
    report = report_of(session)
    assert reasons(report, "grid") == {"S11-a": FEWER_THAN_K, "S11-b": COMPLEMENTARY}
    assert reasons(report, "subdistrict") == {} and reasons(report, "district") == {}
    s11 = shown(report, "subdistrict")["S11"]
    assert s11 == 73
    left = s11 - sum(w for c, w in shown(report, "grid").items() if c.startswith("S11"))
    assert left == 23  # what S11 minus its shown cells gives: a and b together, not a
    assert report.totals["areas_grid_suppressed"] == 2
    assert report.totals["areas_grid_suppressed_complementary"] == 1
    assert "1 more area is suppressed" in " ".join(report.notes)
    assert_blank_where_suppressed(report)


def test_a_parent_whose_hidden_children_hold_k_hides_nothing_more(session):
    workers = every_cell(40) | {"S11-a": 4, "S11-b": 6, "S11-c": 30, "S11-d": 25}
    build(session, standard_layout(), workers)
    report = report_of(session)
    assert reasons(report, "grid") == {"S11-a": FEWER_THAN_K, "S11-b": FEWER_THAN_K}
    assert shown(report, "grid")["S11-c"] == 30
    assert report.totals["areas_grid_suppressed_complementary"] == 0
    assert len(report.notes) == 1  # only the rule itself
    # with k = 5 only a (4) is below k, and b (6), the smallest beside it, is hidden as well
    lower = report_of(session, privacy_k=5)
    assert reasons(lower, "grid") == {"S11-a": FEWER_THAN_K, "S11-b": COMPLEMENTARY}


def test_the_total_and_the_workers_outside_act_as_one_more_group(session):
    # 4 workers live outside every area: their figure is blank at every level, and each
    # level hides its smallest area, so that the total minus the shown areas gives 4 + that
    workers = every_cell(40) | {"S22-d": 35, "S21-a": 38}
    build(session, standard_layout(), workers, outside=4)
    report = report_of(session)
    totals = report.totals
    assert totals["workers"] == 4 + 14 * 40 + 35 + 38
    for level in LEVELS:
        assert totals[f"workers_outside_{level}"] is None, level
    assert reasons(report, "grid") == {"S22-d": COMPLEMENTARY}
    # D2 (313) is the smaller district; hidden, its sub-districts must not add up to it:
    # its smaller one (S22, 155) is hidden, and so is S22's smallest cell (S22-d, already)
    assert reasons(report, "district") == {"D2": COMPLEMENTARY}
    assert reasons(report, "subdistrict") == {"S22": COMPLEMENTARY}
    shown_total = sum(shown(report, "district").values())
    assert totals["workers"] - shown_total == 4 + 313
    assert "workers outside every district area are not shown (privacy)" in report.notes
    assert_blank_where_suppressed(report)


def test_workers_outside_between_1_and_k_are_blank_even_when_enough_is_hidden(session):
    workers = every_cell(40) | {"S11-a": 5, "S11-b": 7}
    build(session, standard_layout(), workers, outside=3)
    report = report_of(session)
    # among the cells 12 workers are hidden already: 3 more outside call for nothing more,
    # but their own figure is still blank
    assert report.totals["workers_outside_grid"] is None
    assert reasons(report, "grid") == {"S11-a": FEWER_THAN_K, "S11-b": FEWER_THAN_K}
    # among the districts nothing is: the smaller (D1, 252) is hidden, then its smaller
    # sub-district (S11, 92), whose hidden cells already hold 12
    assert reasons(report, "district") == {"D1": COMPLEMENTARY}
    assert reasons(report, "subdistrict") == {"S11": COMPLEMENTARY}
    # as many workers outside as k are shown
    assert report_of(session, privacy_k=3).totals["workers_outside_grid"] == 3


def test_a_hidden_sub_district_must_not_add_up_from_its_cells(session):
    """Cells under a sub-district under a district: S11 holds 6 workers (all its cells
    below k), so S12 is hidden beside it; S12's cells are all shown and would add up to
    S12, so its smallest cell is hidden too (no total calls for it: 16 workers of cells are
    hidden already), and D1 minus every shown figure under it leaves S11 and that cell."""
    workers = every_cell(40) | {"S11-a": 1, "S11-b": 2, "S11-c": 3, "S11-d": 0}
    workers |= {"S12-a": 20, "S12-b": 30, "S12-c": 40, "S12-d": 50}
    workers |= {"S21-a": 4, "S21-b": 6, "S21-c": 100, "S21-d": 100}
    build(session, standard_layout(), workers)
    report = report_of(session)
    assert reasons(report, "subdistrict") == {"S11": FEWER_THAN_K, "S12": COMPLEMENTARY}
    hidden_cells = {f"S11-{c}": FEWER_THAN_K for c in "abcd"} | {"S12-a": COMPLEMENTARY}
    hidden_cells |= {"S21-a": FEWER_THAN_K, "S21-b": FEWER_THAN_K}
    assert reasons(report, "grid") == hidden_cells
    d1 = shown(report, "district")["D1"]
    cells = shown(report, "grid")
    assert d1 - sum(w for c, w in cells.items() if c.startswith("S12")) == 6 + 20
    # the same areas are hidden whichever levels a report shows
    grid_only = report_of(session, levels=("grid",))
    assert reasons(grid_only, "grid") == hidden_cells
    assert_blank_where_suppressed(report)


def test_no_figure_of_a_hidden_area_reaches_api_exports_gaps_or_map(session, client, tmp_path):
    workers = every_cell(40) | {"S11-a": 3, "S11-b": 20, "S11-c": 20, "S11-d": 30}
    build(session, standard_layout(), workers, station=False)  # every worker uncovered
    report = report_of(session)
    assert reasons(report, "grid") == {"S11-a": FEWER_THAN_K, "S11-b": COMPLEMENTARY}
    # gaps: every shown cell has >= 10 uncovered workers, the hidden ones are left out
    hidden = {"S11-a", "S11-b"}
    assert set(report.gap_cells["code"]) == set(standard_layout().cells) - hidden
    assert sum(report.gaps["uncovered_workers"]) == report.totals["workers"] - 23
    assert len(report.heat) == 14 and sum(report.heat["workers"]) == report.totals["workers"] - 23
    # the API in JSON, GeoJSON and CSV, and the gap cells it lists
    body = client.get("/v1/coverage", params={"level": "grid"}).json()
    b = {a["code"]: a for a in body["areas"]}["S11-b"]
    assert b["suppressed"] is True and b["suppressed_reason"] == COMPLEMENTARY
    assert all(b[column] is None for column in WORKER_COLUMNS)
    geo = client.get("/v1/coverage", params={"level": "grid", "format": "geojson"}).json()
    props = {f["id"]: f["properties"] for f in geo["features"]}["S11-b"]
    assert props["workers"] is None and props["suppressed_reason"] == COMPLEMENTARY
    text = client.get("/v1/coverage", params={"level": "grid", "format": "csv"}).text
    rows = {r["code"]: r for r in csv.DictReader(text.splitlines())}
    assert rows["S11-b"]["workers"] == "" and rows["S11-b"]["covered_1000"] == ""
    gap_cells = client.get("/v1/gaps", params={"gap_threshold": 10, "cells": True}).json()
    assert hidden.isdisjoint(c["code"] for c in gap_cells["gaps"])
    # the exports: CSV, GeoJSON and GeoPackage
    export_report(report, tmp_path)
    with (tmp_path / "areas_grid.csv").open() as f:
        exported = {r["code"]: r for r in csv.DictReader(f)}
    assert exported["S11-b"]["workers"] == "" and exported["S11-b"]["mean_m"] == ""
    assert exported["S11-b"]["suppressed_reason"] == COMPLEMENTARY
    gpkg = tmp_path / "coverage.gpkg"
    for frame in (
        gpd.read_file(tmp_path / "areas_grid.geojson"),
        gpd.read_file(gpkg, layer="areas_grid"),
    ):
        row = frame.set_index("code").loc["S11-b"]
        assert pd.isna(row["workers"]) and pd.isna(row["share_500"])
        assert row["suppressed_reason"] == COMPLEMENTARY
    for frame in (
        gpd.read_file(tmp_path / "gap_cells.geojson"),
        gpd.read_file(gpkg, layer="gap_cells"),
    ):
        assert hidden.isdisjoint(frame["code"]) and len(frame) == 14
    # the map: hatched, with no worker figure, and saying why
    payload = next(
        child.payload
        for child in coverage_map(report)._children.values()
        if isinstance(child, layers.AreaLayer) and child.options["level"] == "grid"
    )
    features = json.loads(gzip.decompress(base64.b64decode(payload)))["features"]
    tip = {f["properties"]["area"].split()[-1]: f["properties"] for f in features}["S11-b"]
    assert tip["suppressed"] is True and tip["fill"] == layers.HATCH
    assert "20" not in tip["coverage"] and tip["distance"] == "—"
    assert tip["coverage"].endswith("it would give away an area of fewer than 10 workers")


# -- properties -----------------------------------------------------------------------------------
def random_layout(rng: np.random.Generator) -> tuple[Layout, dict[str, int], int]:
    """1-3 districts of 1-3 sub-districts of 1-4 cells in one row; homes of skewed sizes."""
    districts, subdistricts, cells = {}, {}, {}
    column = 0
    for d in range(int(rng.integers(1, 4))):
        start = column
        for s in range(int(rng.integers(1, 4))):
            code, first = f"S{d}{s}", column
            for c in range(int(rng.integers(1, 5))):
                cells[f"{code}-{c}"] = (column, 0, code)
                column += 1
            subdistricts[code] = (first, column, f"D{d}")
        districts[f"D{d}"] = (start, column)
    small = rng.random() < 0.5
    workers = {
        code: int(rng.integers(0, 12) if small or rng.random() < 0.4 else rng.integers(10, 60))
        for code in cells
    }
    outside = int(rng.choice([0, 0, rng.integers(1, 30)]))
    return Layout(districts, subdistricts, cells), workers, outside


def unknown_under(
    value: int | None,
    children: list[str],
    figures: Mapping[str, int | None],
    kids: Mapping[str, list[str]],
) -> tuple[int, int]:
    """What a shown figure minus the shown figures of its parts leaves unknown: once with its
    shown children only, once refining every hidden child by its own shown parts."""
    assert value is not None

    def known(code: str) -> int:
        figure = figures[code]
        if figure is not None:
            return figure
        return sum(known(c) for c in kids.get(code, []))

    once = value - sum(figures[c] or 0 for c in children)
    refined = value - sum(known(c) for c in children)
    return once, refined


def audit(
    figures: Mapping[str, int | None],
    parents: Mapping[str, str | None],
    levels: Mapping[str, str],
    totals: Mapping[str, int | None],
    k: int,
) -> None:
    """Every shown figure (areas, and the total per level with its outside figure) minus its
    shown parts leaves no worker or at least k."""
    kids: dict[str, list[str]] = {}
    for code, parent in parents.items():
        if parent is not None:
            kids.setdefault(parent, []).append(code)
    for code, children in kids.items():
        if figures[code] is not None:
            for left in unknown_under(figures[code], children, figures, kids):
                assert not (0 < left < k), (code, left, figures)
    total = totals["workers"]
    if total is None:
        assert all(figures[c] is None for c in figures)
        return
    for level in LEVELS:
        members = [c for c in figures if levels[c] == level]
        outside = totals[f"workers_outside_{level}"]
        for left in unknown_under(total - (outside or 0), members, figures, kids):
            assert not (0 < left < k), (level, left, figures)


@pytest.mark.parametrize("seed", range(8))
def test_random_layouts_leave_nothing_small_to_subtract(session, seed):
    rng = np.random.default_rng(seed)
    layout, workers, outside = random_layout(rng)
    k = int(rng.choice([5, 10]))
    build(session, layout, workers, outside=outside)
    report = report_of(session, privacy_k=k)
    assert_blank_where_suppressed(report)
    figures, parents, levels = {}, {}, {}
    for level, table in report.areas.items():
        columns = (table["code"], table["parent_code"], table["workers"])
        for code, parent, w in zip(*columns, strict=True):
            figures[code] = None if pd.isna(w) else int(w)
            parents[code], levels[code] = (None if pd.isna(parent) else parent), level
    expected = sum(workers.values()) + outside
    assert report.totals["workers"] == (expected if expected >= k else None)
    audit(figures, parents, levels, report.totals, k)


def test_many_random_hierarchies_leave_nothing_small_to_subtract():
    rng = np.random.default_rng(2026)
    complementary = 0
    for _ in range(400):
        layout, workers, outside = random_layout(rng)
        k = int(rng.integers(2, 12))
        grid = dict(workers)
        subs = dict.fromkeys(layout.subdistricts, 0)
        for cell, w in grid.items():
            subs[layout.cells[cell][2]] += w
        districts = dict.fromkeys(layout.districts, 0)
        for sub, w in subs.items():
            districts[layout.subdistricts[sub][2]] += w
        total = sum(grid.values()) + outside
        areas = {
            "district": pd.DataFrame({"code": list(districts), "parent_code": None}),
            "subdistrict": pd.DataFrame(
                {"code": list(subs), "parent_code": [v[2] for v in layout.subdistricts.values()]}
            ),
            "grid": pd.DataFrame(
                {"code": list(grid), "parent_code": [v[2] for v in layout.cells.values()]}
            ),
        }
        counts = {"district": list(districts.values()), "subdistrict": list(subs.values())}
        counts["grid"] = list(grid.values())
        pattern = suppression_pattern(areas, counts, dict.fromkeys(LEVELS, outside), total, k)
        figures: dict[str, int | None] = {}
        parents: dict[str, str | None] = {}
        levels: dict[str, str] = {}
        for level in LEVELS:
            table = areas[level]
            for code, parent, w, why in zip(
                table["code"],
                table["parent_code"],
                counts[level],
                pattern.reasons[level],
                strict=True,
            ):
                assert (why == FEWER_THAN_K) == (w < k)
                complementary += int(why == COMPLEMENTARY)
                figures[code] = None if why else w
                parents[code], levels[code] = parent, level
        totals: dict[str, int | None] = {"workers": total if total >= k else None}
        for level in LEVELS:
            hide = pattern.outside_hidden[level]
            assert hide or not (0 < outside < k)
            totals[f"workers_outside_{level}"] = None if hide else outside
        audit(figures, parents, levels, totals, k)
    assert complementary > 100  # the rule was at work


def test_plan_figures_never_let_fewer_than_k_workers_be_read():
    import itertools
    import random

    from locator.plans import visible_figures

    k = 10
    rng = random.Random(5)
    for _ in range(5000):
        plan_sites = rng.randint(0, 6)
        adds = [float(rng.choice((0, 1, 3, 5, 9, 10, 12, 40))) for _ in range(plan_sites + 4)]
        show_add, show_total, objective = visible_figures(adds, k, plan_sites)
        assert not any(shown and 0 < a < k for shown, a in zip(show_add, adds, strict=True))
        # totals shown (the count before the plan always is; the objective's when shown):
        # the hidden adds between two of them are none, or k or more together
        shown = [-1, *(i for i, s in enumerate(show_total) if s)]
        assert objective == (plan_sites == 0 or show_total[plan_sites - 1])
        for a, b in itertools.pairwise(shown):
            hidden = sum(adds[j] for j in range(a + 1, b + 1) if not show_add[j])
            assert hidden == 0 or hidden >= k, (adds, show_add, show_total)
        if not objective:
            assert 0 < sum(adds[:plan_sites]) < k
    assert visible_figures([100.0, 50.0, 3.0], k, 3) == (
        [True, False, False],
        [True, False, True],
        True,
    )
