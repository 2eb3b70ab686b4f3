"""A hand-made coverage report for the map tests: two districts side by side (the east one
suppressed), four sub-districts, eight grid cells, six stations in each marker state and kind,
a few heat points and one gap area. Every figure is chosen by hand, so tests can name it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

from locator.coverage import CoverageOptions, CoverageReport

DATA_DATE = dt.datetime(2026, 11, 21, 11, 0, tzinfo=dt.UTC)  # 19:00 in Beijing
REPORTED = dt.datetime(2026, 11, 21, 10, 55, tzinfo=dt.UTC)  # 18:55 in Beijing
WEST, EAST, SOUTH, NORTH, MID = 116.30, 116.50, 39.90, 39.95, 116.40


def _areas(
    rows: list[dict[str, Any]], boxes: list[tuple[float, float, float, float]]
) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows)
    frame["share_500"] = frame["covered_500"] / frame["workers"]
    frame["share_1000"] = frame["covered_1000"] / frame["workers"]
    suppressed = frame["suppressed"]
    for column in (
        "workers",
        "covered_500",
        "covered_1000",
        "share_500",
        "share_1000",
        "mean_m",
        "p90_m",
        "access_2sfca",
        "places_per_1000",
    ):
        frame[column] = frame[column].astype(float).where(~suppressed)
    return gpd.GeoDataFrame(frame, geometry=[box(*b) for b in boxes], crs=4326)


def area_row(
    code: str,
    name: str,
    workers: int,
    c500: int,
    c1000: int,
    stations: int,
    *,
    parent: str | None = None,
) -> dict[str, Any]:
    return {
        "code": code,
        "name_zh": f"{name}区",
        "name_en": name,
        "parent_code": parent,
        "workers": workers,
        "covered_500": c500,
        "covered_1000": c1000,
        "stations": stations,
        "places_per_1000": 12.5,
        "mean_m": 420.0,
        "p90_m": 910.0,
        "access_2sfca": 0.0125,
        "suppressed": workers < 10,
    }


STATIONS: list[dict[str, Any]] = [
    # code, kind, open, seat (max, free), bed (max, free): one per marker state and kind.
    {
        "code": "T-FREE",
        "kind": "smart_24h",
        "open": True,
        "seat": (8, 3),
        "bed": (0, None),
        "lon": 116.32,
        "lat": 39.91,
        "stars": 5,
    },
    {
        "code": "T-FULL",
        "kind": "union_post",
        "open": True,
        "seat": (5, 0),
        "bed": (0, None),
        "lon": 116.36,
        "lat": 39.93,
        "stars": 3,
    },
    {
        "code": "T-STALE",
        "kind": "shop_front",
        "open": True,
        "seat": (6, None),
        "bed": (0, None),
        "lon": 116.38,
        "lat": 39.915,
        "stars": 0,
    },
    {
        "code": "T-CLOSED",
        "kind": "union_post",
        "open": False,
        "seat": (4, 4),
        "bed": (0, None),
        "lon": 116.42,
        "lat": 39.94,
        "stars": 2,
    },
    {
        "code": "T-APT",
        "kind": "apartment",
        "open": True,
        "seat": (2, 0),
        "bed": (21, 4),
        "lon": 116.45,
        "lat": 39.92,
        "stars": 4,
    },
    {
        "code": "T-MOBILE",
        "kind": "mobile",
        "open": None,
        "seat": (0, None),
        "bed": (0, None),
        "lon": 116.48,
        "lat": 39.905,
        "stars": 1,
    },
]


def stations_frame(stations: list[dict[str, Any]] = STATIONS) -> gpd.GeoDataFrame:
    rows = []
    for s in stations:
        row = {
            "code": s["code"],
            "name_zh": f"测试驿站<{s['code']}>",
            "name_en": f"Test & {s['code']}",
            "kind": s["kind"],
            "services": ["hot_water", "phone_charging", "beds"][: 2 + (s["kind"] == "apartment")],
            "groups": ["delivery_rider", "courier"],
            "opening_hours": "Mo-Fr 08:00-20:00",
            "stars": s["stars"] or None,
            "open": s["open"],
            "source": "synthetic Beijing sample",
            "charger_max": 0,
            "charger_free": None,
            "charger_reported_at": None,
        }
        for unit in ("seat", "bed"):
            maximum, free = s[unit]
            row[f"{unit}_max"], row[f"{unit}_free"] = maximum, free
            row[f"{unit}_reported_at"] = REPORTED if free is not None else None
        rows.append(row)
    points = [Point(s["lon"], s["lat"]) for s in stations]
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=points, crs=4326)


def hand_made_report(**options: Any) -> CoverageReport:
    """The hand-made report; ``options`` override :class:`CoverageOptions` fields."""
    districts = _areas(
        [area_row("D1", "West", 1000, 620, 900, 3), area_row("D2", "East", 7, 3, 5, 3)],
        [(WEST, SOUTH, MID, NORTH), (MID, SOUTH, EAST, NORTH)],
    )
    halves = [
        (WEST, SOUTH, 116.35, NORTH),
        (116.35, SOUTH, MID, NORTH),
        (MID, SOUTH, 116.45, NORTH),
        (116.45, SOUTH, EAST, NORTH),
    ]
    subdistricts = _areas(
        [
            area_row("S1", "Sw", 600, 500, 580, 1, parent="D1"),
            area_row("S2", "Se", 400, 120, 320, 2, parent="D1"),
            area_row("S3", "Nw", 4, 2, 3, 1, parent="D2"),
            area_row("S4", "Ne", 3, 1, 2, 2, parent="D2"),
        ],
        halves,
    )
    cells, boxes = [], []
    for i in range(8):
        x = WEST + i * 0.025
        workers = [300, 300, 200, 200, 3, 2, 1, 1][i]
        covered = [290, 210, 100, 20, 1, 1, 0, 0][i]
        cells.append(
            area_row(
                f"G{i}", f"Cell {i}", workers, covered, covered, 1, parent="D1" if i < 4 else "D2"
            )
        )
        boxes.append((x, SOUTH, x + 0.025, NORTH))
    grid = _areas(cells, boxes)
    gaps = gpd.GeoDataFrame(
        {"rank": [1], "uncovered_workers": [280], "cells": [2]},
        geometry=[box(116.35, SOUTH, MID, NORTH)],
        crs=4326,
    )
    heat = pd.DataFrame(
        {
            "lon": [116.36, 116.37, 116.38, 116.39],
            "lat": [39.92, 39.93, 39.92, 39.93],
            "workers": [90, 60, 100, 30],
        }
    )
    return CoverageReport(
        options=CoverageOptions(**options),
        data_date=DATA_DATE,
        totals={"workers": 1007, "covered_500": 623, "share_500": 623 / 1007},
        areas={"district": districts, "subdistrict": subdistricts, "grid": grid},
        gaps=gaps,
        gap_cells=grid.iloc[[1, 3]],
        heat=heat,
        stations=stations_frame(),
    )
