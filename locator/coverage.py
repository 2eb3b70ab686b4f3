"""Coverage of outdoor workers by stations: who lives within reach, where the gaps are.

For every worker home (weighted by its ``workers``) the distance to the nearest counted station
is measured on the WGS-84 ellipsoid; a worker is covered at radius ``r`` when that distance is
``<= r``. Homes are then aggregated by district, sub-district and grid cell, and grid cells with
many uncovered workers become gaps. Nothing here ever returns a single home: every area with
fewer than ``privacy_k`` workers is suppressed in every table, layer and total.

Privacy: primary and complementary suppression
----------------------------------------------
An area with fewer than ``privacy_k`` (k) workers has its worker figures blanked
(``suppressed_reason`` ``"fewer_than_k"``). Since a parent's figures minus its shown children's
would give them back, further areas are hidden too (``"complementary"``), smallest first, until
the hidden members of every group (the areas sharing a ``parent_code``; per level, all its areas
and ``workers_outside_<level>`` under the total) hold no worker or at least k, and at least k
under a hidden parent; a ``workers_outside_<level>`` of 1 to k - 1 is blanked as well. The
pattern is computed over every level, whichever are reported (:func:`suppression_pattern`).

How distances stay exact and fast
---------------------------------
Candidates come from a KD-tree over unit-sphere coordinates (``locator.sphere``): chord order is
great-circle order, and great-circle metres differ from ellipsoidal metres by less than
``SPHERE_SLACK``. The two nearest stations are asked for; when the second could, within the
slack, be nearer on the ellipsoid than the first, every station within the slack is measured.
Candidates are measured on the ellipsoid by the straight line between their Earth-centred
(ECEF) WGS-84 positions, lengthened by the arc term ``c**3 / (24 R**2)`` (``R`` the Gaussian
radius of curvature): below :data:`SERIES_MAX_M` this differs from Karney's geodesic
(``pyproj.Geod.inv``) by well under a millimetre (pinned by a test), at a hundredth of its cost.
Every decision that a millimetre could change — a distance within :data:`BOUNDARY_M` of a
radius or of the 2SFCA catchment — and every distance beyond :data:`SERIES_MAX_M` is measured
with ``pyproj.Geod.inv`` itself, so the ``<=`` boundary is Karney-exact.

2SFCA access
------------
The two-step floating catchment score (Luo & Wang 2003), as PySAL's ``access`` computes it:
supply ``S_j`` of station ``j`` is its places to rest, **seats + beds** (chargers are not
places); the demand ``D_j`` is the workers whose home lies within the catchment (``<=``) of
``j``; a home's access is the sum of ``S_j / D_j`` over the stations within its catchment, in
places per worker. An area's score is the worker-weighted mean of its homes' access.

Scale
-----
Homes stream from the database with a binary ``COPY`` into compact arrays (20 bytes a home)
and are processed in chunks of ``chunk_size``; what is kept per home is its distance, its area
per level and its pairs within the catchment. With ``dask`` the chunks are partitions of a
dask-geopandas frame computed on a dask.distributed cluster; the per-home results come back in
the same order and go through the same aggregation, so the numbers are identical.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import io
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv
import shapely
from scipy.spatial import cKDTree
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from locator import vocab
from locator.errors import ConfigError
from locator.hours import SHANGHAI, evaluate
from locator.nearest import EARLIEST_AT, LATEST_AT, is_stale
from locator.sphere import SPHERE_SLACK, chord_for_metres, metres_for_chord, unit_xyz

log = logging.getLogger(__name__)
T = TypeVar("T")

WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563
WGS84_E2 = WGS84_F * (2 - WGS84_F)
DEFAULT_RADII_M = (500.0, 1000.0)
DEFAULT_PRIVACY_K = 10
DEFAULT_GAP_THRESHOLD = 50
DEFAULT_CHUNK_SIZE = 250_000
MAX_RADIUS_M = 50_000.0
MAX_CATCHMENT_M = 3_000.0
"""Largest 2SFCA catchment: the pairs within it grow with its square."""
SPATIAL_ORDER_SIDE = 256
"""Cells per side of the grid :func:`_spatial_order` sorts homes by (256**2 keys fit 16 bits)."""
PAIR_BLOCK = 50_000
"""Homes per block when listing catchment pairs (bounds their memory)."""
SERIES_MAX_M = 20_000.0
"""Below this the ECEF chord + arc term is used; beyond it ``pyproj.Geod.inv``."""
BOUNDARY_M = 0.01
"""Distances this close to a radius are measured again with ``pyproj.Geod.inv``."""
SUPPLY_UNITS = ("seat", "bed")
"""The units whose places are a station's supply in the 2SFCA score."""
REFERENCE_MONDAY = dt.date(2026, 11, 16)
"""An ordinary week (no holiday, no make-up day) on which ``hour_of_week`` is evaluated."""
REFERENCE_HOLIDAY = dt.date(2026, 10, 2)
"""A public holiday (National Day, a Friday) on which ``holiday`` is evaluated."""
AREA_COVERED_SHARE = 0.5
"""An area counts as covered at a radius when at least this share of its workers is."""
LEVELS = tuple(vocab.AREA_LEVELS)

Progress = Callable[[str, float], None]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]


# -- options --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverageOptions:
    """What a coverage report counts and how.

    Parameters
    ----------
    radii_m : tuple of float
        Radii in metres; a worker is covered at ``r`` when the nearest counted station lies at
        a geodesic distance ``<= r``.
    kinds : tuple of str
        Count only stations of these kinds (any of); empty: every kind.
    services : tuple of str
        Count only stations offering all of these services.
    min_stars : int, optional
        Count only stations with at least this many stars.
    open_at : datetime, optional
        Count only stations open at this (aware) time.
    hour_of_week : int, optional
        Count only stations open at this hour of an ordinary week (0 = Monday 00:00,
        Asia/Shanghai; evaluated in the week of :data:`REFERENCE_MONDAY`).
    holiday : bool
        Count only stations open on a public holiday (:data:`REFERENCE_HOLIDAY`), at the hour
        of day of ``hour_of_week``, or at noon.
    levels : tuple of str
        Area levels to report (codes of ``vocab.AREA_LEVELS``).
    privacy_k : int
        Areas with fewer workers than this are suppressed.
    gap_threshold : int
        A grid cell is a gap when its uncovered workers (at the largest radius) reach this.
    catchment_m : float, optional
        Catchment radius of the 2SFCA access score (at most :data:`MAX_CATCHMENT_M`); the
        largest radius (capped there) when not given.
    chunk_size : int
        Homes per chunk (bounds the working memory).
    """

    radii_m: tuple[float, ...] = DEFAULT_RADII_M
    kinds: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    min_stars: int | None = None
    open_at: dt.datetime | None = None
    hour_of_week: int | None = None
    holiday: bool = False
    levels: tuple[str, ...] = LEVELS
    privacy_k: int = DEFAULT_PRIVACY_K
    gap_threshold: int = DEFAULT_GAP_THRESHOLD
    catchment_m: float | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE

    def __post_init__(self) -> None:
        radii = tuple(float(r) for r in self.radii_m)
        if not radii:
            raise ConfigError("radii_m () must name at least one radius")
        for radius in radii:
            if not (0 < radius <= MAX_RADIUS_M) or not math.isfinite(radius):
                raise ConfigError(
                    f"radii_m {radius!r} must be a number of metres above 0 and at most "
                    f"{MAX_RADIUS_M:,.0f}"
                )
        object.__setattr__(self, "radii_m", tuple(sorted(set(radii))))
        for name, values, labels in (
            ("kinds", self.kinds, vocab.KINDS),
            ("services", self.services, vocab.SERVICES),
            ("levels", self.levels, vocab.AREA_LEVELS),
        ):
            unknown = vocab.unknown_terms(values, labels)
            if unknown:
                raise ConfigError(f"{name} {unknown!r} unknown; allowed: {', '.join(labels)}")
        if self.min_stars is not None and not (1 <= self.min_stars <= 5):
            raise ConfigError(f"min_stars {self.min_stars!r} must be between 1 and 5")
        if self.open_at is not None:
            if self.open_at.tzinfo is None:
                raise ConfigError(f"open_at {self.open_at.isoformat()!r} must carry a time zone")
            if not (EARLIEST_AT <= self.open_at <= LATEST_AT):
                raise ConfigError(
                    f"open_at {self.open_at.isoformat()!r} must lie between "
                    f"{EARLIEST_AT:%Y-%m-%d} and {LATEST_AT:%Y-%m-%d}"
                )
            if self.hour_of_week is not None or self.holiday:
                raise ConfigError(
                    "open_at cannot be combined with hour_of_week or holiday; give one time"
                )
        if self.hour_of_week is not None and not (0 <= self.hour_of_week <= 167):
            raise ConfigError(
                f"hour_of_week {self.hour_of_week!r} must be between 0 (Monday 00:00) and 167"
            )
        if not (1 <= self.privacy_k <= 1_000_000):
            raise ConfigError(f"privacy_k {self.privacy_k!r} must be between 1 and 1,000,000")
        if not (1 <= self.gap_threshold <= 10_000_000):
            raise ConfigError(f"gap_threshold {self.gap_threshold!r} must be at least 1")
        if self.catchment_m is not None and not (0 < self.catchment_m <= MAX_CATCHMENT_M):
            raise ConfigError(
                f"catchment_m {self.catchment_m!r} must be above 0 and at most "
                f"{MAX_CATCHMENT_M:,.0f} metres"
            )
        if not (1_000 <= self.chunk_size <= 50_000_000):
            raise ConfigError(f"chunk_size {self.chunk_size!r} must be between 1,000 and 50M")

    @property
    def catchment(self) -> float:
        """The 2SFCA catchment in metres."""
        if self.catchment_m is not None:
            return float(self.catchment_m)
        return min(self.radii_m[-1], MAX_CATCHMENT_M)

    @property
    def gap_radius_m(self) -> float:
        """Gaps and the heat layer count workers uncovered at the largest radius."""
        return self.radii_m[-1]

    def evaluation_time(self) -> dt.datetime | None:
        """The time at which stations must be open to count, or None when any time will do."""
        if self.open_at is not None:
            return self.open_at
        if self.holiday:
            hour = self.hour_of_week % 24 if self.hour_of_week is not None else 12
            return dt.datetime.combine(REFERENCE_HOLIDAY, dt.time(hour), tzinfo=SHANGHAI)
        if self.hour_of_week is not None:
            day = REFERENCE_MONDAY + dt.timedelta(days=self.hour_of_week // 24)
            return dt.datetime.combine(day, dt.time(self.hour_of_week % 24), tzinfo=SHANGHAI)
        return None

    def describe(self) -> str:
        """A one-line account of the options, for titles and logs."""
        parts = ["radius " + " / ".join(f"{r:,.0f} m" for r in self.radii_m)]
        if self.kinds:
            parts.append("kinds " + ", ".join(self.kinds))
        if self.services:
            parts.append("services " + ", ".join(self.services))
        if self.min_stars:
            parts.append(f"≥ {self.min_stars} stars")
        when = self.evaluation_time()
        if self.holiday and when is not None:
            parts.append(f"open on a public holiday at {when:%H:%M}")
        elif self.hour_of_week is not None and when is not None:
            parts.append(f"open {when:%A %H:%M}")
        elif when is not None:
            parts.append(f"open at {when.isoformat()}")
        return "; ".join(parts)


def coverage_options(
    *,
    privacy_k: int,
    radius: Sequence[float] | None = None,
    kind: Sequence[str] | None = None,
    service: Sequence[str] | None = None,
    min_stars: int | None = None,
    open_at: str | dt.datetime | None = None,
    hour_of_week: int | None = None,
    holiday: bool = False,
    levels: Sequence[str] | None = None,
    gap_threshold: int = DEFAULT_GAP_THRESHOLD,
    catchment: float | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CoverageOptions:
    """Options from what a user typed (the command line, the API): empty lists mean the
    defaults, ``open_at`` may be an ISO time; :class:`CoverageOptions` checks the rest."""
    if isinstance(open_at, str):
        try:
            open_at = dt.datetime.fromisoformat(open_at)
        except ValueError:
            raise ConfigError(
                f"open_at {open_at!r} must be an ISO time such as 2026-11-21T22:00+08:00"
            ) from None
    return CoverageOptions(
        radii_m=tuple(radius or DEFAULT_RADII_M),
        kinds=tuple(kind or ()),
        services=tuple(service or ()),
        min_stars=min_stars,
        open_at=open_at,
        hour_of_week=hour_of_week,
        holiday=holiday,
        levels=tuple(levels or LEVELS),
        privacy_k=privacy_k,
        gap_threshold=gap_threshold,
        catchment_m=catchment,
        chunk_size=chunk_size,
    )


@dataclass
class CoverageReport:
    """The answer of :func:`compute_coverage`; nothing in it shows a single home.

    ``areas`` holds one GeoDataFrame (EPSG:4326) per level with columns ``code``,
    ``name_zh``, ``name_en``, ``parent_code``, ``workers``, ``covered_<r>``, ``share_<r>``
    (``r`` in whole metres), ``stations``, ``places``, ``places_per_1000``, ``mean_m``,
    ``p90_m``, ``access_2sfca``, ``suppressed``, ``suppressed_reason``; suppressed areas have
    every worker figure None, and ``suppressed_reason`` says why: ``"fewer_than_k"``, or
    ``"complementary"`` (hidden so that such an area cannot be worked out by subtraction).
    ``gaps`` are merged gap polygons, ``gap_cells`` the grid cells they are made of,
    ``heat`` the uncovered workers per grid-cell centre, ``stations`` the counted stations.
    """

    options: CoverageOptions
    data_date: dt.datetime
    totals: dict[str, Any]
    areas: dict[str, gpd.GeoDataFrame]
    gaps: gpd.GeoDataFrame
    gap_cells: gpd.GeoDataFrame
    heat: pd.DataFrame
    stations: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)
    grid: gpd.GeoDataFrame | None = field(default=None, repr=False)
    """The grid-cell table the gaps come from (also when grid is not a reported level)."""


def radius_label(radius_m: float) -> str:
    """Column suffix of a radius: whole metres (``covered_500``)."""
    return str(round(radius_m))


# -- distances on the ellipsoid -------------------------------------------------------------------
def ecef(lon: npt.ArrayLike, lat: npt.ArrayLike) -> FloatArray:
    """(n, 3) Earth-centred coordinates in metres of WGS-84 (lon, lat) at height 0."""
    return _ecef_and_unit(lon, lat)[0]


def _ecef_and_unit(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """:func:`ecef` and ``locator.sphere.unit_xyz`` of the same points, from one set of sines
    and cosines (the same operations as each alone, so the same numbers)."""
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    sin_phi, cos_phi = np.sin(phi), np.cos(phi)
    cos_lam, sin_lam = np.cos(lam), np.sin(lam)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_phi * sin_phi)
    n_cos_phi = n * cos_phi
    xyz = np.column_stack(
        [n_cos_phi * cos_lam, n_cos_phi * sin_lam, n * (1.0 - WGS84_E2) * sin_phi]
    )
    unit = np.column_stack([cos_phi * cos_lam, cos_phi * sin_lam, sin_phi])
    return xyz, unit


def _series_m(p: FloatArray, q: FloatArray, lat_p: FloatArray, lat_q: FloatArray) -> FloatArray:
    """Ellipsoidal distance from ECEF chords: c + c**3 / (24 R**2), R Gaussian radius."""
    chord = np.sqrt(((p - q) ** 2).sum(axis=1))
    sin_phi = np.sin(np.radians((lat_p + lat_q) / 2.0))
    w2 = 1.0 - WGS84_E2 * sin_phi * sin_phi
    r2 = WGS84_A * WGS84_A * (1.0 - WGS84_E2) / (w2 * w2)  # M * N
    return np.asarray(chord + chord**3 / (24.0 * r2), dtype=np.float64)


def _geod_m(lon1: FloatArray, lat1: FloatArray, lon2: FloatArray, lat2: FloatArray) -> FloatArray:
    from pyproj import Geod

    if len(lon1) == 0:
        return np.empty(0)
    _, _, dist = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist, dtype=np.float64)


def _measure(
    lon1: FloatArray,
    lat1: FloatArray,
    xyz1: FloatArray,
    lon2: FloatArray,
    lat2: FloatArray,
    xyz2: FloatArray,
    thresholds: Sequence[float],
) -> FloatArray:
    """Geodesic metres of pairs: the series, redone with Geod where it could matter."""
    dist = _series_m(xyz1, xyz2, lat1, lat2)
    redo = dist > SERIES_MAX_M
    for threshold in thresholds:
        redo |= np.abs(dist - threshold) <= BOUNDARY_M
    if redo.any():
        dist[redo] = _geod_m(lon1[redo], lat1[redo], lon2[redo], lat2[redo])
    return dist


# -- the per-chunk work ---------------------------------------------------------------------------
@dataclass
class _Stations:
    """The counted stations as arrays, and a KD-tree over them built on first use."""

    lon: FloatArray
    lat: FloatArray
    supply: FloatArray

    def __len__(self) -> int:
        return len(self.lon)

    @cached_property
    def xyz(self) -> FloatArray:
        return ecef(self.lon, self.lat)

    @cached_property
    def tree(self) -> Any:
        return cKDTree(unit_xyz(self.lon, self.lat))

    def __getstate__(self) -> dict[str, Any]:
        # The tree is rebuilt where the work runs (a Dask worker) rather than shipped.
        return {k: self.__dict__[k] for k in ("lon", "lat", "supply")}


LATTICE_TABLE_MAX = 4_000_000
"""Most lattice cells for a direct lookup table (int32: 16 MB at most)."""
RASTER_MAX_CELLS = 2_000_000
RASTER_TARGET_CELLS = 120_000
"""Most lookup-raster cells per area level (see :class:`_Raster`)."""
RASTER_MIN_POINTS_PER_AREA = 50
"""Fewer points per area than this, and no raster built yet: an R-tree places them."""
_RASTERS: dict[str, _Raster] = {}
"""Rasters of the area sets seen lately, by a digest of their outlines (areas rarely change)."""


@dataclass(frozen=True)
class _Raster:
    """A sparse lookup raster over an area level, to place points without a polygon test.

    Only raster cells under some area's bounding box exist (so a national level with areas
    only where people live stays small). A cell wholly inside one area and touching no other
    says its area directly; a cell on a boundary lists the areas it touches, and only points
    falling there are tested against those outlines (prepared, ``intersects_xy``).
    """

    x0: float
    y0: float
    size: float
    width: int
    keys: npt.NDArray[np.int64]
    pure: IntArray
    indptr: npt.NDArray[np.int64]
    candidates: IntArray

    @classmethod
    def build(cls, geoms: npt.NDArray[np.object_]) -> _Raster:
        bounds = shapely.bounds(geoms)
        x0, y0 = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        widths = np.maximum(bounds[:, 2] - bounds[:, 0], 1e-9)
        heights = np.maximum(bounds[:, 3] - bounds[:, 1], 1e-9)
        typical = float(np.median(widths))
        # Fine enough that most cells lie inside one area (big areas get many cells), and
        # about RASTER_TARGET_CELLS cells in all.
        size = math.sqrt(float((widths * heights).sum()) / RASTER_TARGET_CELLS)
        size = min(max(size, typical / 20.0), typical / 3.0, 1e9)
        size = max(size, 1e-7)
        while True:
            c0 = np.floor((bounds[:, 0] - x0) / size).astype(np.int64)
            r0 = np.floor((bounds[:, 1] - y0) / size).astype(np.int64)
            c1 = np.floor((bounds[:, 2] - x0) / size).astype(np.int64)
            r1 = np.floor((bounds[:, 3] - y0) / size).astype(np.int64)
            counts = (c1 - c0 + 1) * (r1 - r0 + 1)
            if counts.sum() <= RASTER_MAX_CELLS:
                break
            size *= math.sqrt(counts.sum() / RASTER_MAX_CELLS) * 1.01
        width = int(c1.max()) + 1
        area_i = np.repeat(np.arange(len(geoms)), counts)
        offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        span = np.repeat(c1 - c0 + 1, counts)
        col = np.repeat(c0, counts) + offset % span
        row = np.repeat(r0, counts) + offset // span
        keys, cell_i = np.unique(row * width + col, return_inverse=True)
        key_col, key_row = keys % width, keys // width
        boxes = shapely.box(
            x0 + key_col * size, y0 + key_row * size, x0 + (key_col + 1) * size,
            y0 + (key_row + 1) * size,
        )  # fmt: skip
        touch = shapely.intersects(geoms[area_i], boxes[cell_i])
        cell_i, area_i = cell_i[touch], area_i[touch]
        touching = np.bincount(cell_i, minlength=len(keys))
        pure = np.full(len(keys), -1, dtype=np.int32)
        whole = touching[cell_i] == 1
        whole[whole] = shapely.contains_properly(geoms[area_i[whole]], boxes[cell_i[whole]])
        pure[cell_i[whole]] = area_i[whole]
        mixed = ~whole
        order = np.lexsort((area_i[mixed], cell_i[mixed]))
        mixed_cells, mixed_areas = cell_i[mixed][order], area_i[mixed][order]
        indptr = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(np.bincount(mixed_cells, minlength=len(keys)), out=indptr[1:])
        return cls(x0, y0, size, width, keys, pure, indptr, mixed_areas.astype(np.int32))

    def locate(self, geoms: npt.NDArray[np.object_], lon: FloatArray, lat: FloatArray) -> IntArray:
        out = np.full(len(lon), -1, dtype=np.int32)
        col = np.floor((lon - self.x0) / self.size)
        row = np.floor((lat - self.y0) / self.size)
        inside = (col >= 0) & (col < self.width) & (row >= 0)
        points = np.flatnonzero(inside)
        key = (row[points] * self.width + col[points]).astype(np.int64)
        cell = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        known = self.keys[cell] == key
        points, cell = points[known], cell[known]
        out[points] = self.pure[cell]
        todo = out[points] < 0
        points, cell = points[todo], cell[todo]
        counts = self.indptr[cell + 1] - self.indptr[cell]
        point_i = np.repeat(points, counts)
        starts = np.repeat(self.indptr[cell] - np.cumsum(counts) + counts, counts)
        area_i = self.candidates[starts + np.arange(len(point_i))]
        _first_hits(geoms, point_i, area_i, lon, lat, out)
        return out


def _first_hits(
    geoms: npt.NDArray[np.object_],
    point_i: IntArray,
    area_i: IntArray,
    lon: FloatArray,
    lat: FloatArray,
    out: IntArray,
) -> None:
    """Test candidate (point, area) pairs against the outlines; each point that lies in some
    candidate gets the first such area in ``out`` (on a shared edge the first area wins)."""
    with _PREPARED_LOCK:
        hit = shapely.intersects_xy(geoms[area_i], lon[point_i], lat[point_i])
    point_i, area_i = point_i[hit], area_i[hit]
    first = np.lexsort((area_i, point_i))
    point_i, area_i = point_i[first], area_i[first]
    keep = np.ones(len(point_i), dtype=bool)
    keep[1:] = point_i[1:] != point_i[:-1]
    out[point_i[keep]] = area_i[keep]


@dataclass(frozen=True)
class _Lattice:
    """Areas that are axis-aligned rectangles, each exactly one cell of the lattice their
    edges make (a grid in degrees): a point strictly inside a lattice cell lies in that
    cell's area or in none, found by two binary searches. Points on an edge are left to the
    outline test, so that on a shared edge the first area wins as everywhere else.

    Up to :data:`LATTICE_TABLE_MAX` lattice cells, a table says each cell's area directly
    (else a third binary search among the areas' cells finds it)."""

    xs: FloatArray
    ys: FloatArray
    keys: npt.NDArray[np.int64]
    areas: IntArray
    table: IntArray | None = None

    @classmethod
    def build(cls, geoms: npt.NDArray[np.object_]) -> _Lattice | None:
        if len(geoms) == 0:
            return None
        kind = shapely.get_type_id(geoms)
        polygon = (kind == shapely.GeometryType.POLYGON.value) | (
            (kind == shapely.GeometryType.MULTIPOLYGON.value)
            & (shapely.get_num_geometries(geoms) == 1)
        )
        # one polygon of five coordinates: one closed ring of four corners, no holes
        if not polygon.all() or (shapely.get_num_coordinates(geoms) != 5).any():
            return None
        bounds = shapely.bounds(geoms)
        if ((bounds[:, 2] <= bounds[:, 0]) | (bounds[:, 3] <= bounds[:, 1])).any():
            return None
        ring = shapely.get_coordinates(geoms).reshape(len(geoms), 5, 2)[:, :4]
        on_x = (ring[..., 0] == bounds[:, [0]]) | (ring[..., 0] == bounds[:, [2]])
        on_y = (ring[..., 1] == bounds[:, [1]]) | (ring[..., 1] == bounds[:, [3]])
        if not (on_x & on_y).all():
            return None  # a vertex off its bounding box's corners
        corner = (ring[..., 0] == bounds[:, [2]]).astype(np.int8) + 2 * (
            ring[..., 1] == bounds[:, [3]]
        ).astype(np.int8)
        step = corner ^ np.roll(corner, -1, axis=1)  # one coordinate changes along each side
        if (np.sort(corner, axis=1) != np.arange(4)).any() or not np.isin(step, (1, 2)).all():
            return None  # not an axis-aligned rectangle
        xs = np.unique(np.concatenate([bounds[:, 0], bounds[:, 2]]))
        ys = np.unique(np.concatenate([bounds[:, 1], bounds[:, 3]]))
        col, row = np.searchsorted(xs, bounds[:, 0]), np.searchsorted(ys, bounds[:, 1])
        if (xs[col + 1] != bounds[:, 2]).any() or (ys[row + 1] != bounds[:, 3]).any():
            return None  # a rectangle spans more than one lattice cell
        key = row.astype(np.int64) * len(xs) + col
        order = np.argsort(key, kind="stable")
        key = key[order]
        if (key[1:] == key[:-1]).any():
            return None  # two areas on one cell
        table = None
        if len(xs) * len(ys) <= LATTICE_TABLE_MAX:
            table = np.full(len(xs) * len(ys), -1, dtype=np.int32)
            table[key] = order
        return cls(xs, ys, key, order.astype(np.int32), table)

    def locate(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, npt.NDArray[np.intp]]:
        """Area per point (-1 for none) and the indices of the points on an edge, which
        still need the outline test."""
        out = np.full(len(lon), -1, dtype=np.int32)
        col = np.searchsorted(self.xs, lon, side="right") - 1
        row = np.searchsorted(self.ys, lat, side="right") - 1
        # on a lattice line (the outer ones too): possibly on an area's edge
        on_edge = (self.xs[np.maximum(col, 0)] == lon) | (self.ys[np.maximum(row, 0)] == lat)
        edge = np.flatnonzero(on_edge)
        inside = (col >= 0) & (col < len(self.xs) - 1) & (row >= 0) & (row < len(self.ys) - 1)
        at = np.flatnonzero(inside & ~on_edge)
        key = row[at].astype(np.int64) * len(self.xs) + col[at]
        if self.table is not None:
            out[at] = self.table[key]
            return out, edge
        found = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        hit = self.keys[found] == key
        out[at[hit]] = self.areas[found[hit]]
        return out, edge


# GEOS builds a prepared polygon's point locator lazily on its first query, without a lock: two
# threads (a Dask worker with several threads, the API's thread pool) querying the same
# outlines at once can crash the process. Queries of shared outlines take turns.
_PREPARED_LOCK = threading.Lock()


@dataclass
class _AreaLevel:
    """The areas of one level: their table and their outlines, prepared on first use."""

    level: str
    table: pd.DataFrame
    wkb: list[bytes]
    """Outlines as EWKB."""

    @cached_property
    def geoms(self) -> npt.NDArray[np.object_]:
        geoms = shapely.from_wkb(self.wkb)
        shapely.prepare(geoms)
        return geoms

    @cached_property
    def _digest(self) -> str:
        return hashlib.blake2b(b"".join(self.wkb), digest_size=16).hexdigest()

    @cached_property
    def raster(self) -> _Raster:
        digest = self._digest
        raster = _RASTERS.get(digest)
        if raster is None:
            raster = _Raster.build(self.geoms)
            if len(_RASTERS) >= 8:
                _RASTERS.pop(next(iter(_RASTERS)))
            _RASTERS[digest] = raster
        return raster

    @cached_property
    def lattice(self) -> _Lattice | None:
        return _Lattice.build(self.geoms)

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.geoms)

    def locate(self, lon: FloatArray, lat: FloatArray) -> IntArray:
        """Index of the area holding each point (on a shared edge: the first), -1 when none.

        A grid of rectangles in degrees is a lattice (two binary searches a point); other
        areas: many points go through the lookup raster (built once per set of outlines), a
        few points against many areas, while that raster is not built, through an R-tree of
        the areas' bounding boxes. The same answers every way.
        """
        if len(lon) == 0 or len(self.wkb) == 0:
            return np.full(len(lon), -1, dtype=np.int32)
        lookup = self._lookup(len(lon))
        if lookup == "lattice":
            assert self.lattice is not None
            x, y = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
            out, edge = self.lattice.locate(x, y)
            if len(edge):
                out[edge] = self.locate_by_tree(x[edge], y[edge])
            return out
        if lookup == "raster":
            return self.raster.locate(self.geoms, lon, lat)
        return self.locate_by_tree(lon, lat)

    def _lookup(self, points: int) -> str:
        if self.lattice is not None:
            return "lattice"
        raster_ready = "raster" in self.__dict__ or self._digest in _RASTERS
        if raster_ready or points >= RASTER_MIN_POINTS_PER_AREA * len(self.wkb):
            return "raster"
        return "tree"

    def outlines_ready(self) -> None:
        """Parse the outlines and look for a lattice now (every report needs both), while
        the homes are still being read."""
        if len(self.wkb):
            self.lattice  # noqa: B018  (parses the outlines first)

    def prepare(self, points: int) -> None:
        """Build what :meth:`locate` uses for blocks of ``points`` points (the outlines and
        their lookup) now, before threads share this level."""
        if len(self.wkb):
            getattr(self, self._lookup(points))

    def locate_by_tree(self, lon: FloatArray, lat: FloatArray) -> IntArray:
        """:meth:`locate` through the R-tree of the areas' bounding boxes."""
        out = np.full(len(lon), -1, dtype=np.int32)
        x, y = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        point_i, area_i = self.tree.query(shapely.points(x, y))
        _first_hits(self.geoms, point_i, area_i.astype(np.int32), x, y, out)
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {k: self.__dict__[k] for k in ("level", "table", "wkb")}


@dataclass
class _Context:
    """Everything a chunk needs: stations, areas, radii."""

    stations: _Stations
    levels: dict[str, _AreaLevel]
    radii_m: tuple[float, ...]
    catchment_m: float


@dataclass
class _ChunkResult:
    """Per-home results of one chunk; pairs are (home index in the chunk, station index)."""

    distance_m: FloatArray
    area: dict[str, IntArray]
    pair_home: IntArray
    pair_station: IntArray


def nearest_station_distances(
    points_lonlat: npt.ArrayLike,
    stations_lonlat: npt.ArrayLike,
    *,
    exact_at_m: Sequence[float] = (),
) -> FloatArray:
    """Geodesic distance in metres (WGS-84) from each point to its nearest station.

    Parameters
    ----------
    points_lonlat, stations_lonlat : array-like of shape (n, 2) and (m, 2)
        (lon, lat) in degrees.
    exact_at_m : sequence of float
        Radii that will be compared with ``<=``: distances within a centimetre of one are
        measured with Karney's geodesic, so the comparison is exact (every distance is
        within a millimetre of it anyway).

    Returns
    -------
    numpy.ndarray
        ``n`` distances; ``inf`` for every point when there is no station.
    """
    points = np.asarray(points_lonlat, dtype=np.float64).reshape(-1, 2)
    stations = np.asarray(stations_lonlat, dtype=np.float64).reshape(-1, 2)
    found = _Stations(stations[:, 0].copy(), stations[:, 1].copy(), np.zeros(len(stations)))
    return _nearest(
        found,
        points[:, 0].copy(),
        points[:, 1].copy(),
        ecef(points[:, 0], points[:, 1]),
        tuple(exact_at_m),
    )


def _nearest(
    stations: _Stations,
    lon: FloatArray,
    lat: FloatArray,
    xyz: FloatArray,
    thresholds: Sequence[float],
    unit: FloatArray | None = None,
) -> FloatArray:
    """Exact nearest-station distance per point (see the module docstring); ``unit`` is the
    points' ``unit_xyz`` when already known."""
    n = len(lon)
    if len(stations) == 0 or n == 0:
        return np.full(n, np.inf)
    k = min(2, len(stations))
    chord, index = stations.tree.query(unit_xyz(lon, lat) if unit is None else unit, k=k)
    chord, index = chord.reshape(n, k), index.reshape(n, k)
    first = index[:, 0]
    dist = _measure(
        lon, lat, xyz, stations.lon[first], stations.lat[first], stations.xyz[first], thresholds
    )
    if k == 1:
        return dist
    # Another station may be nearer on the ellipsoid when it is within the slack on the sphere.
    unsure = np.flatnonzero(metres_for_chord(chord[:, 1]) * (1.0 - SPHERE_SLACK) <= dist)
    if len(unsure):
        reach = chord_for_metres(dist[unsure] / (1.0 - SPHERE_SLACK))
        found = stations.tree.query_ball_point(unit_xyz(lon[unsure], lat[unsure]), reach)
        counts = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(unsure))
        homes = np.repeat(unsure, counts)
        near = np.fromiter((j for f in found for j in f), dtype=np.int64, count=counts.sum())
        measured = _measure(
            lon[homes],
            lat[homes],
            xyz[homes],
            stations.lon[near],
            stations.lat[near],
            stations.xyz[near],
            thresholds,
        )
        np.minimum.at(dist, homes, measured)
    return dist


def _catchment_pairs(
    stations: _Stations,
    lon: FloatArray,
    lat: FloatArray,
    xyz: FloatArray,
    catchment_m: float,
    nearest_m: FloatArray | None = None,
) -> tuple[IntArray, IntArray]:
    """(home, station) pairs with geodesic distance ``<= catchment_m``, by home.

    Pairs clearly inside or outside on the sphere (beyond the slack) are decided there; the
    rest are measured on the ellipsoid. With ``nearest_m`` (each home's nearest distance)
    only homes whose nearest station may lie within the catchment are searched: a margin of
    :data:`BOUNDARY_M` covers the series' error, so no pair is missed. Homes go in blocks
    of :data:`PAIR_BLOCK`.
    """
    if len(stations) == 0 or len(lon) == 0:
        return np.empty(0, np.int32), np.empty(0, np.int32)
    searched = None
    if nearest_m is not None:
        searched = np.flatnonzero(nearest_m <= catchment_m + BOUNDARY_M)
        lon, lat, xyz = lon[searched], lat[searched], xyz[searched]
    homes_parts, stations_parts = [np.empty(0, np.int32)], [np.empty(0, np.int32)]
    for start in range(0, len(lon), PAIR_BLOCK):
        block = slice(start, start + PAIR_BLOCK)
        homes, near = _pairs_of_block(stations, lon[block], lat[block], xyz[block], catchment_m)
        homes_parts.append(homes + start)
        stations_parts.append(near)
    homes, near = np.concatenate(homes_parts), np.concatenate(stations_parts)
    if searched is not None:
        homes = searched[homes].astype(np.int32)
    return homes, near


def _pairs_of_block(
    stations: _Stations, lon: FloatArray, lat: FloatArray, xyz: FloatArray, catchment_m: float
) -> tuple[IntArray, IntArray]:
    homes_tree = cKDTree(unit_xyz(lon, lat), balanced_tree=False, compact_nodes=False)
    bound = float(chord_for_metres(catchment_m * (1.0 + SPHERE_SLACK)))
    found = homes_tree.sparse_distance_matrix(stations.tree, bound, output_type="ndarray")
    homes, near = found["i"], found["j"]
    sure = found["v"] <= chord_for_metres(catchment_m * (1.0 - SPHERE_SLACK))
    unsure = np.flatnonzero(~sure)
    h, j = homes[unsure], near[unsure]
    measured = _measure(
        lon[h], lat[h], xyz[h], stations.lon[j], stations.lat[j], stations.xyz[j], (catchment_m,)
    )
    sure[unsure] = measured <= catchment_m
    homes, near = homes[sure], near[sure]
    order = np.lexsort((near, homes))
    return homes[order].astype(np.int32), near[order].astype(np.int32)


def _compute_chunk(
    context: _Context,
    lon: FloatArray,
    lat: FloatArray,
    known_areas: dict[str, IntArray] | None = None,
) -> _ChunkResult:
    """Distances, areas (unless already known) and catchment pairs of one chunk of homes."""
    xyz, unit = _ecef_and_unit(lon, lat)
    distance = _nearest(context.stations, lon, lat, xyz, context.radii_m, unit)
    known = known_areas or {}
    area = {
        name: known[name] if name in known else level.locate(lon, lat)
        for name, level in context.levels.items()
    }
    pair_home, pair_station = _catchment_pairs(
        context.stations, lon, lat, xyz, context.catchment_m, distance
    )
    return _ChunkResult(distance, area, pair_home, pair_station)


def _chunk_of_frame(context: _Context, frame: gpd.GeoDataFrame) -> _ChunkResult:
    """The chunk work on a dask-geopandas partition."""
    lon = np.asarray(frame.geometry.x, dtype=np.float64)
    lat = np.asarray(frame.geometry.y, dtype=np.float64)
    return _compute_chunk(context, lon, lat)


# -- reading the store ----------------------------------------------------------------------------
@contextmanager
def _connection(engine_or_session: Engine | Session | Connection) -> Iterator[Connection]:
    """A connection: the session's own (so its transaction is seen) or a new one."""
    if isinstance(engine_or_session, Session):
        yield engine_or_session.connection()
    elif isinstance(engine_or_session, Connection):
        yield engine_or_session
    elif isinstance(engine_or_session, Engine):
        with engine_or_session.connect() as conn:
            yield conn
    else:
        raise ConfigError(
            f"engine_or_session {type(engine_or_session).__name__!r} must be a SQLAlchemy "
            "Engine, Connection or Session"
        )


def _home_record(order: str) -> np.dtype[Any]:
    """One worker home's row of a binary COPY of ``id, geom, workers``: the COPY's own fields
    in network order, the point as PostGIS sends a geometry (EWKB with its SRID, in the byte
    order its first byte names)."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("len_id", ">i4"),
            ("id", ">i4"),
            ("len_geom", ">i4"),
            ("order", "u1"),
            ("type", f"{order}u4"),
            ("srid", f"{order}u4"),
            ("x", f"{order}f8"),
            ("y", f"{order}f8"),
            ("len_w", ">i4"),
            ("w", ">i4"),
        ]
    )


_EWKB_POINT_WITH_SRID = 0x20000001
_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)
_COPY_TRAILER = 2  # a field count of -1


class Homes(NamedTuple):
    """Every worker home as arrays (in the order the table gave them)."""

    lon: FloatArray
    lat: FloatArray
    workers: IntArray
    ids: IntArray


@contextmanager
def _raw_cursor(conn: Connection) -> Iterator[Any]:
    """A psycopg2 cursor on the connection's own DBAPI connection (its transaction), closed
    after: plain tuples and COPY, without SQLAlchemy's per-row objects."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


def _copy(conn: Connection, statement: str, stream: io.BytesIO) -> io.BytesIO:
    """Run a ``COPY … TO STDOUT`` into ``stream``, or a ``COPY … FROM STDIN`` from it, on the
    connection's own cursor (binary COPY skips the text encoding and decoding of every value,
    a bytea's hex most of all)."""
    with _raw_cursor(conn) as cursor:
        cursor.copy_expert(statement, stream)
    return stream


def read_homes(conn: Connection) -> Homes:
    """Every worker home, with a binary COPY of the stored points as they are.

    psycopg2 hands a COPY over one row at a time, so the rows go straight into an in-memory
    file (a C call each) and are decoded at once at the end. The points come as the
    geometry's own binary form (EWKB) and are decoded here: asking the database for
    ``ST_X``/``ST_Y`` costs it two function calls a home, most of its time.
    """
    raw = _copy(
        conn, "COPY (SELECT id, geom, workers FROM worker_homes) TO STDOUT WITH (FORMAT binary)",
        io.BytesIO(),
    )  # fmt: skip
    data = raw.getbuffer()
    size = max(len(data) - _COPY_HEADER - _COPY_TRAILER, 0)
    little = size == 0 or data[_COPY_HEADER + 14] == 1  # the first point's byte order
    record = _home_record("<" if little else ">")
    if size % record.itemsize:
        raise RuntimeError("unexpected COPY record size while reading worker homes")
    records = np.frombuffer(data, dtype=record, count=size // record.itemsize, offset=_COPY_HEADER)
    layout_ok = (
        (records["fields"] == 3)
        & (records["len_id"] == 4)
        & (records["len_geom"] == 25)
        & (records["order"] == int(little))
        & (records["type"] == _EWKB_POINT_WITH_SRID)
        & (records["len_w"] == 4)
    )
    if not layout_ok.all():
        raise RuntimeError("unexpected COPY record layout while reading worker homes")
    homes = Homes(
        records["x"].astype(np.float64),
        records["y"].astype(np.float64),
        records["w"].astype(np.int32),
        records["id"].astype(np.int32),
    )
    del records, data
    return homes


_STATIONS_SQL = """
SELECT s.code, s.name_zh, s.name_en, s.kind, s.services, s.groups, s.opening_hours, s.stars,
       s.district_code, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, s.updated_at,
       seat.maximum AS seat_max, seat.occupied AS seat_occupied, seat.held AS seat_held,
       seat.reported_at AS seat_at,
       bed.maximum AS bed_max, bed.occupied AS bed_occupied, bed.held AS bed_held,
       bed.reported_at AS bed_at,
       charger.maximum AS charger_max, charger.occupied AS charger_occupied,
       charger.held AS charger_held, charger.reported_at AS charger_at
FROM stations s
LEFT JOIN station_capacity seat ON seat.station_id = s.id AND seat.unit = 'seat'
LEFT JOIN station_capacity bed ON bed.station_id = s.id AND bed.unit = 'bed'
LEFT JOIN station_capacity charger ON charger.station_id = s.id AND charger.unit = 'charger'
WHERE s.status = 'active'
ORDER BY s.code
"""


def read_stations(
    conn: Connection, *, now: dt.datetime, stale_after_min: dict[str, float]
) -> gpd.GeoDataFrame:
    """Every active station with its sign and capacity per unit (free None when stale: the
    nearest query's rule, judged at ``now``)."""
    with _raw_cursor(conn) as cursor:
        cursor.execute(_STATIONS_SQL)
        # plain tuples: pandas probes every SQLAlchemy Row for namedtuple fields, slowly
        raw = pd.DataFrame.from_records(
            cursor.fetchall(), columns=[column[0] for column in cursor.description]
        )
    sign = ["code", "name_zh", "name_en", "kind", "services", "groups", "opening_hours"]
    frame = raw[[*sign, "stars", "district_code"]].copy()
    frame["stars"] = frame["stars"].astype("Int64")
    frame["open"] = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    frame["updated_at"] = raw["updated_at"]
    frame["lon"] = raw["lon"].astype(np.float64)
    frame["lat"] = raw["lat"].astype(np.float64)
    for unit in vocab.UNITS:
        has = raw[f"{unit}_max"].notna()
        maximum = raw[f"{unit}_max"].fillna(0).astype(np.int64)
        reported = pd.to_datetime(raw[f"{unit}_at"], utc=True)
        stale = is_stale(reported, now=now, limit_min=stale_after_min.get(unit, 30.0))
        free = maximum - raw[f"{unit}_occupied"].fillna(0) - raw[f"{unit}_held"].fillna(0)
        frame[f"{unit}_max"] = maximum
        frame[f"{unit}_free"] = free.astype("Int64").mask(stale | ~has)
        frame[f"{unit}_reported_at"] = reported
    frame["places"] = sum(frame[f"{unit}_max"] for unit in SUPPLY_UNITS)
    geometry = gpd.points_from_xy(frame["lon"], frame["lat"], crs="EPSG:4326")
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def select_stations(
    stations: gpd.GeoDataFrame, options: CoverageOptions, *, now: dt.datetime
) -> gpd.GeoDataFrame:
    """The stations ``options`` count, with ``open`` at the options' time (or ``now``): True,
    False, or None when the hours cannot be evaluated; with a time in the options only
    stations open then are kept (unknown hours do not count as open)."""
    keep = np.ones(len(stations), dtype=bool)
    if options.kinds:
        keep &= stations["kind"].isin(options.kinds).to_numpy()
    if options.services:
        needed = set(options.services)
        keep &= np.fromiter(
            (needed.issubset(s) for s in stations["services"]), dtype=bool, count=len(stations)
        )
    if options.min_stars is not None:
        keep &= (stations["stars"].fillna(0) >= options.min_stars).to_numpy(bool)
    chosen = stations[keep].copy()
    when = options.evaluation_time()
    at = when or now
    states = {
        hours: {"open": True, "closed": False}.get(evaluate(hours, at, next_change=False).state)
        for hours in chosen["opening_hours"].unique()
    }
    chosen["open"] = chosen["opening_hours"].map(states).astype("boolean")
    if when is not None:
        chosen = chosen[chosen["open"].fillna(False).to_numpy(bool)]
    return chosen.reset_index(drop=True)


_AREA_COLUMNS = ("level", "code", "name_zh", "name_en", "parent_code", "geom")


def read_areas(conn: Connection, levels: Sequence[str]) -> dict[str, _AreaLevel]:
    """The areas of ``levels`` with their outlines (EWKB), ordered by code (code points).

    A CSV ``COPY`` parsed by Arrow: tens of thousands of grid cells cost the database more
    to sort than to read, and a row of Python objects each (the outline as a long hex text)
    more than both. The outlines are decoded from hex in one piece.
    """
    with _raw_cursor(conn) as cursor:
        query = cursor.mogrify(
            f"SELECT {', '.join(_AREA_COLUMNS)} FROM areas WHERE level = ANY(%s)", (list(levels),)
        ).decode()
    copied = _copy(conn, f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", io.BytesIO())
    copied.seek(0)
    table = pa_csv.read_csv(
        copied,
        read_options=pa_csv.ReadOptions(column_names=list(_AREA_COLUMNS)),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(_AREA_COLUMNS, pa.string()),
            strings_can_be_null=True,  # NULL is an unquoted empty field, '' a quoted one
            quoted_strings_can_be_null=False,
        ),
    )
    order = pa_compute.sort_indices(table, [("level", "ascending"), ("code", "ascending")])
    hexes = table.column("geom").combine_chunks()
    if hexes.null_count:
        raise RuntimeError("an area without an outline")  # geom is NOT NULL in the schema
    ends = np.frombuffer(hexes.buffers()[1], np.int32)[hexes.offset : hexes.offset + len(hexes) + 1]
    raw = binascii.unhexlify(memoryview(hexes.buffers()[2])[ends[0] : ends[-1]])
    half = (ends - ends[0]) // 2
    starts, stops = half[:-1][order].tolist(), half[1:][order].tolist()
    wkb = [raw[start:stop] for start, stop in zip(starts, stops, strict=True)]
    sorted_table = table.drop_columns(["geom"]).take(order)
    frame = sorted_table.to_pandas()
    for name, column in zip(sorted_table.column_names, sorted_table.columns, strict=True):
        if len(column) and column.null_count == len(column):
            frame[name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    found: dict[str, _AreaLevel] = {}
    level_of = frame.pop("level").to_numpy(dtype=object)
    for level in levels:
        rows = np.flatnonzero(level_of == level)
        found[level] = _AreaLevel(
            level, frame.iloc[rows].reset_index(drop=True), [wkb[i] for i in rows]
        )
    return found


# -- the report -----------------------------------------------------------------------------------
@dataclass
class StoreSnapshot:
    """What a report reads from the store, option-free: reusable for other option sets.

    Homes are kept as compact arrays with the area each lies in per level (empty until a
    report has placed them, when the store held no places for these versions); stations as
    read (every active one, capacity judged at ``now``).
    """

    stations: gpd.GeoDataFrame
    levels: dict[str, _AreaLevel]
    lon: FloatArray
    lat: FloatArray
    workers: IntArray
    ids: IntArray
    home_areas: dict[str, IntArray]
    data_date: dt.datetime
    now: dt.datetime
    fingerprint: str = ""


_VERSIONS_SQL = (
    "SELECT coalesce(string_agg(name || ':' || version, '/' ORDER BY name), '') "
    "FROM store_versions WHERE name IN ('worker_homes', 'areas')"
)
_HOME_AREAS = "homes"


def read_snapshot(
    engine_or_session: Engine | Session | Connection,
    *,
    now: dt.datetime | None = None,
    stale_after_min: dict[str, float] | None = None,
    places: bool = True,
    reuse: StoreSnapshot | None = None,
) -> StoreSnapshot:
    """Read stations, areas and worker homes; with ``places`` the homes' places in their areas
    too, when the store keeps them for the versions read.

    The first report for new versions places every home while it measures and keeps the
    places in the store for the versions of the homes and areas they were computed from
    (every write to either table gives it a new version). With ``reuse`` (an earlier
    snapshot) homes, areas and the homes' places are taken from it while the versions are
    the same; the stations (signs, capacity, hours) are always read anew.
    """
    from locator.config import Settings

    now = now or dt.datetime.now(dt.UTC)
    stale_after_min = stale_after_min or Settings().stale_after()
    with _connection(engine_or_session) as conn:
        fingerprint = str(conn.execute(text(_VERSIONS_SQL)).scalar_one())
        if reuse is not None and reuse.fingerprint == fingerprint:
            stations = read_stations(conn, now=now, stale_after_min=stale_after_min)
            levels, home_areas = reuse.levels, reuse.home_areas if places else {}
            lon, lat, workers, ids = reuse.lon, reuse.lat, reuse.workers, reuse.ids
        else:
            homes_beside = _read_homes_beside(engine_or_session)
            stations = read_stations(conn, now=now, stale_after_min=stale_after_min)
            levels = read_areas(conn, LEVELS)
            for level in levels.values():  # every report needs them; GEOS runs beside the read
                level.outlines_ready()
            payload = _cached_payload(conn, fingerprint) if places else None
            homes = homes_beside.result() if homes_beside else read_homes(conn)
            lon, lat, workers, ids = homes
            if str(conn.execute(text(_VERSIONS_SQL)).scalar_one()) != fingerprint:
                fingerprint = ""  # written to meanwhile: neither reused nor cached
            home_areas = {}
            if payload is not None and fingerprint:
                home_areas = _home_areas_of(payload, ids, levels) or {}
    updated = stations["updated_at"].max() if len(stations) else None
    data_date = updated.to_pydatetime() if isinstance(updated, pd.Timestamp) else updated
    return StoreSnapshot(
        stations, levels, lon, lat, workers, ids, home_areas, data_date or now, now, fingerprint
    )


def _read_homes_beside(engine_or_session: Engine | Session | Connection) -> Future[Homes] | None:
    """With an engine, the homes are read on a connection of their own in a thread while
    the stations and areas are read (the database and the decoding overlap); a session's
    reads stay on its own connection, so that they see its transaction."""
    if not isinstance(engine_or_session, Engine):
        return None
    engine = engine_or_session

    def read() -> Homes:
        with engine.connect() as conn:
            return read_homes(conn)

    return _beside("homes", read)


def _beside(name: str, task: Callable[..., T], *args: Any) -> Future[T]:
    """``task(*args)`` in a thread of its own; the caller waits for the future (the thread
    ends with its one task)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    future = pool.submit(task, *args)
    pool.shutdown(wait=False)
    return future


def _cached_payload(conn: Connection, fingerprint: str) -> bytes | None:
    """The stored places of the homes for these versions, if any (a binary COPY: the
    payload's bytes as they are, not as hex text)."""
    if not fingerprint:
        return None
    with _raw_cursor(conn) as cursor:
        query = cursor.mogrify(
            "SELECT payload FROM home_area_cache WHERE name = %s AND versions = %s",
            (_HOME_AREAS, fingerprint),
        ).decode()
    copied = _copy(conn, f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", io.BytesIO())
    data = copied.getbuffer()
    at = _COPY_HEADER
    fields = int.from_bytes(data[at : at + 2], "big", signed=True)
    if fields != 1:
        return None  # the trailer's -1: no row
    size = int.from_bytes(data[at + 2 : at + 6], "big", signed=True)
    return None if size < 0 else bytes(data[at + 6 : at + 6 + size])


def _home_areas_of(
    payload: bytes, ids: IntArray, levels: dict[str, _AreaLevel]
) -> dict[str, IntArray] | None:
    """The stored places in the order of ``ids``; None if they do not fit these homes."""
    with np.load(io.BytesIO(payload)) as stored:
        cached_ids = stored["ids"]
        cached = {name: stored[name] for name in levels if name in stored.files}
    if len(cached) != len(levels) or len(cached_ids) != len(ids):
        return None
    if np.array_equal(cached_ids, ids):
        return cached
    order = np.argsort(cached_ids, kind="stable")
    at = np.minimum(np.searchsorted(cached_ids[order], ids), len(ids) - 1)
    if not np.array_equal(cached_ids[order][at], ids):
        return None
    return {name: index[order[at]] for name, index in cached.items()}


def _cache_home_areas(
    engine_or_session: Engine | Session | Connection,
    fingerprint: str,
    ids: IntArray,
    home_areas: dict[str, IntArray],
) -> None:
    """Keep the homes' areas for these versions; a store that refuses the write (a read-only
    role) only costs the next report the placing."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {"ids": ids, **home_areas}
    np.savez(buffer, **arrays)
    try:
        if isinstance(engine_or_session, Engine):
            with engine_or_session.begin() as writer:
                _store_payload(writer, fingerprint, buffer.getvalue())
            return
        with _connection(engine_or_session) as conn:
            if conn.get_isolation_level() == "AUTOCOMMIT":
                _store_payload(conn, fingerprint, buffer.getvalue())
            else:
                with conn.begin_nested():
                    _store_payload(conn, fingerprint, buffer.getvalue())
    except (SQLAlchemyError, psycopg2.Error) as exc:
        log.warning("coverage: the homes' areas were not cached: %s", exc)


def _store_payload(conn: Connection, fingerprint: str, payload: bytes) -> None:
    """Replace the stored places with ``payload`` by a binary COPY: the bytes as they are,
    where a bytea parameter goes as hex text, twice the size, encoded and decoded."""
    conn.execute(text("DELETE FROM home_area_cache WHERE name = :name"), {"name": _HOME_AREAS})
    stream = io.BytesIO()
    stream.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))  # signature, flags, no extension
    stream.write((3).to_bytes(2, "big"))
    for value in (_HOME_AREAS.encode(), fingerprint.encode(), payload):
        stream.write(len(value).to_bytes(4, "big"))
        stream.write(value)
    stream.write((-1).to_bytes(2, "big", signed=True))
    stream.seek(0)
    _copy(conn, "COPY home_area_cache (name, versions, payload) FROM STDIN WITH (FORMAT binary)",
          stream)  # fmt: skip


def with_gap_threshold(report: CoverageReport, gap_threshold: int) -> CoverageReport:
    """The same report with gaps, gap cells and heat layer for another gap threshold."""
    options = replace(report.options, gap_threshold=gap_threshold)
    grid = report.grid if report.grid is not None else report.areas["grid"]
    gap_cells, gaps, heat = _gaps(options, grid)
    return replace(report, options=options, gaps=gaps, gap_cells=gap_cells, heat=heat)


def compute_coverage(
    engine_or_session: Engine | Session | Connection | None,
    options: CoverageOptions,
    *,
    progress: Progress | None = None,
    dask: str | Any | None = None,
    now: dt.datetime | None = None,
    stale_after_min: dict[str, float] | None = None,
    snapshot: StoreSnapshot | None = None,
) -> CoverageReport:
    """Coverage of the worker homes in the store by the stations ``options`` count.

    Parameters
    ----------
    engine_or_session : Engine, Session or Connection, optional
        The store; a session's own transaction is read (tests roll it back). Not read when
        a ``snapshot`` is given; the homes' places found by this report are kept there when
        it did not hold them yet.
    options : CoverageOptions
        What counts and how.
    progress : callable, optional
        Called as ``progress(stage, fraction_done)``.
    dask : str or distributed.Client, optional
        ``"local"`` for a local cluster, ``"tcp://host:port"`` for a running scheduler, or a
        client: the chunks are computed there (same numbers).
    now : datetime, optional
        The clock for staleness and for the open state when the options name no time.
    stale_after_min : dict, optional
        Staleness limits per unit (``Settings.stale_after()``); the defaults when not given.
    snapshot : StoreSnapshot, optional
        What :func:`read_snapshot` read before, to answer several option sets from one read;
        it keeps the homes' places this report finds, for the next.
    """
    report = progress or (lambda stage, fraction: None)
    report("reading", 0.0)
    if snapshot is None:
        if engine_or_session is None:
            raise ConfigError("engine_or_session None: give a database or a snapshot")
        snapshot = read_snapshot(
            engine_or_session, now=now, stale_after_min=stale_after_min, places=dask is None
        )
    stations = select_stations(snapshot.stations, options, now=now or snapshot.now)
    report("reading", 1.0)
    lon, lat, workers = snapshot.lon, snapshot.lat, snapshot.workers
    log.info("coverage: %d homes, %d counted stations", len(lon), len(stations))
    context = _Context(
        _Stations(
            stations["lon"].to_numpy(np.float64),
            stations["lat"].to_numpy(np.float64),
            stations["places"].to_numpy(np.float64),
        ),
        snapshot.levels,
        options.radii_m,
        options.catchment,
    )
    if dask is not None:
        result = _combine(_run_dask(context, lon, lat, options.chunk_size, dask, report))
    else:
        result = _run_local(context, lon, lat, options.chunk_size, report, snapshot.home_areas)
    keeping = None
    if dask is None and not snapshot.home_areas:
        snapshot.home_areas = result.area
        keeping = _keep_places(engine_or_session, snapshot)
    report("aggregating", 0.0)
    built = _build_report(options, context, stations, workers, result)
    built.data_date = snapshot.data_date
    if keeping is not None:
        keeping.result()
    report("aggregating", 1.0)
    return built


def _keep_places(
    engine_or_session: Engine | Session | Connection | None, snapshot: StoreSnapshot
) -> Future[None] | None:
    """Keep the snapshot's places in the store for its versions (unless it was written to
    while read: then its fingerprint is blank). With an engine, on a connection of its own
    in a thread while the report is aggregated (the caller waits for it before it returns);
    a session's or connection's write goes on it now."""
    if engine_or_session is None or not snapshot.fingerprint:
        return None
    args = (engine_or_session, snapshot.fingerprint, snapshot.ids, snapshot.home_areas)
    if not isinstance(engine_or_session, Engine):
        _cache_home_areas(*args)
        return None
    return _beside("places", _cache_home_areas, *args)


def _chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, n)) for start in range(0, n, size)] or [(0, 0)]


def _spatial_order(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.intp]:
    """An order of the points that keeps near ones together: by cell of a 256 x 256 grid over
    their bounds (a 16-bit key, so numpy's stable sort is a radix sort), then as given.

    KD-tree searches of points in this order touch far fewer tree nodes one after another
    (the cache holds them), and a block of homes spans a region, not the whole country.
    """
    if len(lon) == 0:
        return np.arange(0)
    side = SPATIAL_ORDER_SIDE
    cols = _bucket(lon, side)
    rows = _bucket(lat, side)
    key = (rows * side + cols).astype(np.uint16)
    return np.argsort(key, kind="stable")


def _bucket(values: FloatArray, side: int) -> npt.NDArray[np.int64]:
    low, high = float(values.min()), float(values.max())
    scale = side / (high - low) if high > low else 0.0
    return np.minimum(((values - low) * scale).astype(np.int64), side - 1)


def _run_local(
    context: _Context,
    lon: FloatArray,
    lat: FloatArray,
    size: int,
    report: Progress,
    areas: dict[str, IntArray],
) -> _Combined:
    """The chunks on this machine's cores: two at a time on two cores (the KD-tree searches
    and numpy release the GIL). Homes go in :func:`_spatial_order`; the results come back
    combined, in the homes' own order."""
    report("measuring", 0.0)
    order = _spatial_order(lon, lat)
    bounds = _chunk_bounds(len(lon), size)
    context.stations.tree, context.stations.xyz  # built once, before the threads share them  # noqa: B018
    unplaced = [level for name, level in context.levels.items() if name not in areas]
    if unplaced:  # homes placed while measuring: each level's lookup built first, side by side
        block = bounds[0][1] - bounds[0][0]
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lookups") as pool:
            list(pool.map(lambda level: level.prepare(block), unplaced))

    def one(span: tuple[int, int]) -> _ChunkResult:
        homes = order[span[0] : span[1]]
        known = {name: index[homes] for name, index in areas.items()}
        return _compute_chunk(context, lon[homes], lat[homes], known)

    threads = max(1, min(os.cpu_count() or 1, len(bounds)))
    results = []
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="coverage") as pool:
        for done, result in enumerate(pool.map(one, bounds), start=1):
            results.append(result)
            report("measuring", done / len(bounds))
    return _in_home_order(_combine(results), order)


def _in_home_order(result: _Combined, order: npt.NDArray[np.intp]) -> _Combined:
    """Results of homes taken in ``order`` put back in the homes' own order. Each home's
    pairs stay together and by station, so sums over them add up in the same order."""
    distance = np.empty_like(result.distance_m)
    distance[order] = result.distance_m
    area = {}
    for name, index in result.area.items():
        area[name] = np.empty_like(index)
        area[name][order] = index
    return _Combined(distance, area, order[result.pair_home].astype(np.int32), result.pair_station)


@contextmanager
def dask_client(address: str | Any) -> Iterator[Any]:
    """A dask.distributed client: ``local`` starts a LocalCluster (closed after), a
    ``tcp://`` address connects to a running scheduler, a client is used as it is."""
    from distributed import Client, LocalCluster

    if isinstance(address, Client):
        yield address
        return
    if not isinstance(address, str):
        raise ConfigError(f"dask {address!r} must be 'local', a tcp:// address or a Client")
    if address == "local":
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            yield client
    elif address.startswith(("tcp://", "tls://", "inproc://")):
        with Client(address, timeout="20s") as client:
            yield client
    else:
        raise ConfigError(
            f"dask {address!r} must be 'local' or a scheduler address such as "
            "'tcp://127.0.0.1:8786'"
        )


def _run_dask(
    context: _Context,
    lon: FloatArray,
    lat: FloatArray,
    size: int,
    address: str | Any,
    report: Progress,
) -> list[_ChunkResult]:
    """The chunks as partitions of a dask-geopandas frame, computed on a dask cluster."""
    import dask
    import dask_geopandas

    homes = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    partitions = max(1, math.ceil(len(homes) / size))
    frame = dask_geopandas.from_geopandas(homes, npartitions=partitions, sort=False)
    with dask_client(address) as client:
        shared = client.scatter(context, broadcast=True)
        tasks = [dask.delayed(_chunk_of_frame)(shared, part) for part in frame.to_delayed()]
        report("measuring", 0.0)
        results = list(dask.compute(*tasks, scheduler=client.get))
        report("measuring", 1.0)
    return results


@dataclass
class _Combined:
    distance_m: FloatArray
    area: dict[str, IntArray]
    pair_home: IntArray
    pair_station: IntArray


def _combine(chunks: Sequence[_ChunkResult]) -> _Combined:
    """Chunk results in home order, with pair home indices made global."""
    offsets = np.cumsum([0] + [len(c.distance_m) for c in chunks])
    return _Combined(
        np.concatenate([c.distance_m for c in chunks]) if chunks else np.empty(0),
        {
            name: np.concatenate([c.area[name] for c in chunks])
            for name in (chunks[0].area if chunks else {})
        },
        np.concatenate([c.pair_home + offsets[i] for i, c in enumerate(chunks)]).astype(np.int32),
        np.concatenate([c.pair_station for c in chunks]).astype(np.int32),
    )


def _access_per_home(
    workers: IntArray, supply: FloatArray, pair_home: IntArray, pair_station: IntArray
) -> FloatArray:
    """2SFCA per home: sum over stations in reach of supply / workers in the station's reach."""
    demand = np.bincount(pair_station, weights=workers[pair_home], minlength=len(supply))
    ratio = np.divide(supply, demand, out=np.zeros(len(supply)), where=demand > 0)
    access = np.bincount(pair_home, weights=ratio[pair_station], minlength=len(workers))
    return np.asarray(access, dtype=np.float64)


class _DistanceOrder(NamedTuple):
    """The homes with a finite distance, nearest first, with their distances and workers in
    that order: sorted once, shared by every level's percentile. Tied homes may come in any
    order: the percentile (the smallest distance within which 90 % live) is the same."""

    homes: npt.NDArray[np.intp]
    distance: FloatArray
    workers: npt.NDArray[np.int64]

    @classmethod
    def of(cls, distance: FloatArray, workers: IntArray) -> _DistanceOrder:
        order = np.argsort(distance)  # not stable: a third of the time of a stable sort
        ordered = distance[order]
        count = int(np.count_nonzero(np.isfinite(ordered)))  # inf (no station) sorts last
        homes = order[:count]
        return cls(homes, ordered[:count], workers[homes].astype(np.int64))


def _weighted_p90(index: IntArray | None, n: int, by: _DistanceOrder) -> FloatArray:
    """Per group: the smallest distance within which at least 90 % of its workers live;
    ``index`` None: all homes in one group (already in distance order, nothing to sort).

    A stable sort of the homes in distance order by group keeps that order within each
    group; for up to 65,536 groups it is numpy's radix sort.
    """
    out = np.full(n, np.nan)
    if index is None:
        positions: npt.NDArray[np.intp] = np.arange(len(by.homes))
        idx: IntArray = np.zeros(len(by.homes), dtype=np.int32)
    else:
        idx = index[by.homes]
        inside = np.flatnonzero(idx >= 0)
        idx = idx[inside]
        small = n <= np.iinfo(np.uint16).max + 1
        order = np.argsort(idx.astype(np.uint16) if small else idx, kind="stable")
        positions, idx = inside[order], idx[order]
    if not len(idx):
        return out
    w = by.workers[positions]
    cum = np.cumsum(w)
    starts = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
    groups = idx[starts]
    totals = np.add.reduceat(w, starts)
    base = np.where(starts > 0, cum[starts - 1], 0)
    target = base + -(-9 * totals // 10)  # ceil(0.9 W) in integers
    out[groups] = by.distance[positions[np.searchsorted(cum, target, side="left")]]
    return out


def _per_area(slot: npt.NDArray[np.intp], n: int, weights: npt.ArrayLike) -> FloatArray:
    """Sums of ``weights`` by area, ``slot`` being the area index + 1 (0: in no area, left
    out). Each area adds its homes in the same order as over its homes alone."""
    return np.asarray(np.bincount(slot, weights=weights, minlength=n + 1)[1:], dtype=np.float64)


class _HomeWeights(NamedTuple):
    """Per-home figures that every level sums by area, computed once: workers, covered
    workers per radius, workers with a finite distance, workers times distance (0 where
    none) and workers times access. :meth:`by_area` gives the same figures per area."""

    workers: FloatArray
    covered: dict[float, FloatArray]
    finite: FloatArray
    distance: FloatArray
    access: FloatArray

    @classmethod
    def of(
        cls,
        workers: IntArray,
        distance: FloatArray,
        covered: dict[float, npt.NDArray[np.bool_]],
        access: FloatArray,
    ) -> _HomeWeights:
        w = workers.astype(np.float64)
        finite = np.isfinite(distance)
        return cls(
            w,
            {radius: w * flags for radius, flags in covered.items()},
            w if finite.all() else np.where(finite, w, 0.0),  # all finite: one array less
            w * np.where(finite, distance, 0.0),
            w * access,
        )

    def by_area(self, index: IntArray, n: int) -> _HomeWeights:
        """Each figure summed over the homes of each of ``n`` areas (``index``: each
        home's area, -1 for none)."""
        slot = index.astype(np.intp) + 1
        return _HomeWeights(
            _per_area(slot, n, self.workers),
            {radius: _per_area(slot, n, flags) for radius, flags in self.covered.items()},
            _per_area(slot, n, self.finite),
            _per_area(slot, n, self.distance),
            _per_area(slot, n, self.access),
        )


def _counts_frame(level: _AreaLevel, sums: _HomeWeights, radii: Sequence[float]) -> pd.DataFrame:
    """The level's table with workers, and covered workers and their share per radius."""
    n = len(level.table)
    frame = level.table.copy()
    total = sums.workers
    frame["workers"] = total.astype(np.int64)
    for radius in radii:
        label = radius_label(radius)
        got = sums.covered[radius]
        frame[f"covered_{label}"] = got.astype(np.int64)
        frame[f"share_{label}"] = np.divide(got, total, out=np.full(n, np.nan), where=total > 0)
    return frame


def _finish(
    level: _AreaLevel, frame: pd.DataFrame, reasons: npt.NDArray[np.object_]
) -> gpd.GeoDataFrame:
    """Mark and blank the suppressed areas; the outlines as geometry."""
    frame["suppressed"] = pd.notna(reasons)
    frame["suppressed_reason"] = pd.Series(reasons, index=frame.index, dtype=object)
    return gpd.GeoDataFrame(_suppress(frame), geometry=level.geoms, crs="EPSG:4326")


def _gap_grid(
    level: _AreaLevel, sums: _HomeWeights, radius: float, reasons: npt.NDArray[np.object_]
) -> gpd.GeoDataFrame:
    """The grid's table with only what :func:`_gaps` reads (the same values and types as in
    the full table), so that the gaps need not wait for the rest of it."""
    return _finish(level, _counts_frame(level, sums, (radius,)), reasons)


def _area_table(
    level: _AreaLevel,
    index: IntArray,
    sums: _HomeWeights,
    station_index: IntArray,
    supply: FloatArray,
    reasons: npt.NDArray[np.object_],
    by_distance: _DistanceOrder,
) -> gpd.GeoDataFrame:
    n = len(level.table)
    frame = _counts_frame(level, sums, list(sums.covered))
    total = sums.workers
    at_station = station_index >= 0
    frame["stations"] = np.bincount(station_index[at_station], minlength=n).astype(np.int64)
    frame["places"] = np.bincount(
        station_index[at_station], weights=supply[at_station], minlength=n
    ).astype(np.int64)
    frame["places_per_1000"] = np.divide(
        frame["places"].to_numpy(np.float64) * 1000.0,
        total,
        out=np.full(n, np.nan),
        where=total > 0,
    )
    w_finite = sums.finite
    frame["mean_m"] = np.divide(sums.distance, w_finite, out=np.full(n, np.nan), where=w_finite > 0)
    frame["p90_m"] = _weighted_p90(index, n, by_distance)
    frame["access_2sfca"] = np.divide(sums.access, total, out=np.full(n, np.nan), where=total > 0)
    return _finish(level, frame, reasons)


WORKER_FIGURES_PREFIXES = ("workers", "covered_", "share_", "uncovered", "places_per_1000")
WORKER_FIGURES = ("mean_m", "p90_m", "access_2sfca")


def _suppress(frame: pd.DataFrame) -> pd.DataFrame:
    """Blank every worker figure of suppressed rows (as None, in nullable columns)."""
    hide = frame["suppressed"].to_numpy(bool)
    for column in frame.columns:
        if column.startswith(WORKER_FIGURES_PREFIXES) or column in WORKER_FIGURES:
            values = frame[column]
            kind = "Int64" if pd.api.types.is_integer_dtype(values) else "Float64"
            values = values.astype(kind)
            values[hide] = pd.NA
            if kind == "Float64":
                values[values.isna()] = pd.NA
            frame[column] = values
    return frame


# -- privacy: primary and complementary suppression -----------------------------------------------
FEWER_THAN_K = "fewer_than_k"
"""``suppressed_reason`` of an area with fewer than ``privacy_k`` workers (primary)."""
COMPLEMENTARY = "complementary"
"""``suppressed_reason`` of an area hidden so that a smaller one cannot be worked out."""
_TOTALS = -1
"""The parent of a level's root group: the report's totals."""


@dataclass(frozen=True)
class Suppression:
    """Which areas a report hides, and why; and which ``workers_outside_<level>`` it blanks.

    ``reasons`` holds per level an object array aligned with the level's areas:
    :data:`FEWER_THAN_K`, :data:`COMPLEMENTARY` or None (shown).
    """

    reasons: dict[str, npt.NDArray[np.object_]]
    outside_hidden: dict[str, bool]
    outside: dict[str, int]  # workers outside every area of each level


def suppression_pattern(
    areas: dict[str, pd.DataFrame],
    workers: dict[str, npt.ArrayLike],
    outside: dict[str, int],
    total: int,
    privacy_k: int,
) -> Suppression:
    """Primary and complementary suppression over the area hierarchy.

    Parameters
    ----------
    areas : dict of DataFrame
        Per level, in order from the top (district) down, the areas with ``code`` and
        ``parent_code``; a parent is found among the areas of the levels above.
    workers : dict of array-like
        Per level, the workers of each area.
    outside : dict of int
        Per level, the workers living outside every area of it.
    total : int
        All workers (the report's totals).
    privacy_k : int
        The suppression limit k.

    Every area with fewer than k workers is hidden (primary), and so is a
    ``workers_outside_<level>`` figure of 1 to k - 1. Then every *group* is checked: the
    areas of one level whose ``parent_code`` names the same area, and per level all its areas
    together with its outside figure (their parent is the total). Under a shown parent the
    hidden members must hold no worker or at least k, so that the parent minus its shown
    members never gives fewer than k workers back; under a hidden parent they must hold at
    least k (or all be hidden), so that the parent cannot be rebuilt from its members. A
    group that fails hides further members, smallest first (by workers, then code; the
    outside figure after areas of as many workers), until it passes. Groups are checked from
    the top level down, again and again until nothing changes: hiding a sub-district puts
    its own grid cells under a hidden parent, and hiding a cell changes its sub-district's,
    its district's and the total's groups.
    """
    k = int(privacy_k)
    names = list(areas)
    sizes = [len(areas[name]) for name in names]
    first = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_areas = int(first[-1])
    # one index space: the areas of every level, then one outside member per level
    w = np.concatenate(
        [np.asarray(workers[name], dtype=np.int64).reshape(-1) for name in names]
        + [np.array([int(outside.get(name, 0)) for name in names], dtype=np.int64)]
    )
    codes = np.concatenate(
        [areas[name]["code"].astype(str).to_numpy(dtype=str) for name in names]
        + [np.full(len(names), "", dtype=str)]
    )
    level_of = np.concatenate([np.repeat(np.arange(len(names)), sizes), np.arange(len(names))])
    is_outside = np.arange(len(w)) >= n_areas
    primary = np.where(is_outside, (w >= 1) & (w < k), w < k)
    hidden = primary.copy()
    rank = np.empty(len(w), dtype=np.int64)
    rank[np.lexsort((codes, is_outside, w))] = np.arange(len(w))
    # every area's parent: the area of a level above that its parent_code names (-2: none);
    # every area is also a member of its level's root group, under the totals
    area_codes = pd.Index(codes[:n_areas])
    firsts = np.flatnonzero(~area_codes.duplicated())  # a code's first area, if codes repeat
    known = area_codes[firsts]
    parent_of = np.full(len(w), -2, dtype=np.int64)
    for li, name in enumerate(names):
        at = np.asarray(known.get_indexer(areas[name]["parent_code"].astype(object)))
        found = np.where(at >= 0, firsts[np.maximum(at, 0)], -2)
        above = found >= 0
        above[above] = level_of[found[above]] < li
        parent_of[first[li] : first[li + 1]] = np.where(above, found, -2)
    # groups: (parent area or _TOTALS, members ordered smallest first), the top level's first
    ordered: list[tuple[int, npt.NDArray[np.int64]]] = []
    for li in range(len(names)):
        root = np.append(np.arange(first[li], first[li + 1]), n_areas + li)
        ordered.append((_TOTALS, root[np.argsort(rank[root], kind="stable")]))
    child = np.flatnonzero(parent_of >= 0)
    if len(child):
        up = parent_of[child]
        child = child[np.lexsort((rank[child], level_of[child], up, level_of[up]))]
        pairs = np.column_stack([parent_of[child], level_of[child]])
        starts = np.flatnonzero(np.r_[True, (pairs[1:] != pairs[:-1]).any(axis=1)])
        ordered += [(int(parent_of[m[0]]), m) for m in np.split(child, starts[1:])]
    total_hidden = total < k
    changed = True
    while changed:
        changed = False
        for owner, members in ordered:
            parent_hidden = total_hidden if owner == _TOTALS else bool(hidden[owner])
            held = int(w[members][hidden[members]].sum())
            if held >= k or (held == 0 and not parent_hidden):
                continue
            # the smallest shown members (an empty one would protect nothing) until k is held
            more = members[~hidden[members] & (w[members] > 0)]
            if len(more):
                enough = np.searchsorted(held + np.cumsum(w[more]), k, side="left")
                hidden[more[: enough + 1]] = changed = True
    reason = np.full(len(w), None, dtype=object)
    reason[hidden] = COMPLEMENTARY
    reason[primary] = FEWER_THAN_K
    return Suppression(
        {name: reason[first[li] : first[li + 1]].copy() for li, name in enumerate(names)},
        {name: bool(hidden[n_areas + li]) for li, name in enumerate(names)},
        {name: int(outside.get(name, 0)) for name in names},
    )


def _suppression(
    options: CoverageOptions,
    context: _Context,
    workers: IntArray,
    result: _Combined,
    counts: dict[str, FloatArray],
) -> Suppression:
    """The suppression pattern over every level read, not only the levels reported: reports
    of other levels then hide the same areas and cannot be set against one another.
    ``counts``: the workers per area of the levels already summed."""
    total = int(workers.sum())
    names = [name for name in LEVELS if name in context.levels]
    names += [name for name in context.levels if name not in LEVELS]
    in_areas: dict[str, npt.ArrayLike] = {}
    outside: dict[str, int] = {}
    for name in names:
        if name in counts:
            in_areas[name] = counts[name]
        else:
            slot = result.area[name].astype(np.intp) + 1
            in_areas[name] = _per_area(slot, len(context.levels[name].table), workers)
        outside[name] = total - round(float(np.sum(in_areas[name])))  # whole numbers: exact
    return suppression_pattern(
        {name: context.levels[name].table for name in names},
        in_areas,
        outside,
        total,
        options.privacy_k,
    )


def _build_report(
    options: CoverageOptions,
    context: _Context,
    stations: gpd.GeoDataFrame,
    workers: IntArray,
    result: _Combined,
) -> CoverageReport:
    names = list(dict.fromkeys((*options.levels, "grid")))
    station_lon, station_lat = context.stations.lon, context.stations.lat
    supply = context.stations.supply
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="coverage-areas") as pool:
        # Beside the sums (GEOS and numpy's sorts release the GIL): the stations placed, the
        # homes put in distance order; then the gaps merged while the tables are built.
        placed = {
            name: pool.submit(context.levels[name].locate, station_lon, station_lat)
            for name in names
        }
        distance_order = pool.submit(_DistanceOrder.of, result.distance_m, workers)
        covered = {r: result.distance_m <= r for r in options.radii_m}
        access = _access_per_home(workers, supply, result.pair_home, result.pair_station)
        weights = _HomeWeights.of(workers, result.distance_m, covered, access)
        sums = {
            name: weights.by_area(result.area[name], len(context.levels[name].table))
            for name in names
        }
        suppression = _suppression(
            options, context, workers, result, {name: s.workers for name, s in sums.items()}
        )
        gaps_done = pool.submit(
            _gaps,
            options,
            _gap_grid(
                context.levels["grid"],
                sums["grid"],
                options.gap_radius_m,
                suppression.reasons["grid"],
            ),
        )
        by_distance = distance_order.result()
        tables = {
            name: _area_table(
                context.levels[name],
                result.area[name],
                sums[name],
                placed[name].result(),
                supply,
                suppression.reasons[name],
                by_distance,
            )
            for name in names
        }
        totals = _totals(options, workers, weights, supply, tables, by_distance, suppression)
        gap_cells, gaps, heat = gaps_done.result()
    return CoverageReport(
        options=replace(options),
        data_date=dt.datetime.now(dt.UTC),
        totals=totals,
        areas={name: tables[name] for name in options.levels},
        gaps=gaps,
        gap_cells=gap_cells,
        heat=heat,
        stations=stations.drop(columns=["lon", "lat", "updated_at"]),
        notes=_notes(options, tables, totals, suppression),
        grid=tables["grid"],
    )


def _totals(
    options: CoverageOptions,
    workers: IntArray,
    weights: _HomeWeights,
    supply: FloatArray,
    tables: dict[str, gpd.GeoDataFrame],
    by_distance: _DistanceOrder,
    suppression: Suppression,
) -> dict[str, Any]:
    """Figures for all homes together; blank when there are fewer than ``privacy_k``, and
    ``workers_outside_<level>`` blank where :func:`suppression_pattern` hides it."""
    total = int(workers.sum())
    totals: dict[str, Any] = {
        "homes_suppressed": total < options.privacy_k,
        "workers": total,
        "stations": len(supply),
        "places": int(supply.sum()),
        "places_per_1000": float(supply.sum() * 1000.0 / total) if total else None,
    }
    for radius, covered in weights.covered.items():
        label = radius_label(radius)
        got = round(float(covered.sum()))  # whole numbers: exact
        totals[f"covered_{label}"] = got
        totals[f"uncovered_{label}"] = total - got
        totals[f"share_{label}"] = got / total if total else None
    with_distance = float(weights.finite.sum())
    totals["mean_m"] = float(weights.distance.sum()) / with_distance if with_distance else None
    p90 = _weighted_p90(None, 1, by_distance)[0]
    totals["p90_m"] = None if np.isnan(p90) else float(p90)
    totals["access_2sfca"] = float(weights.access.sum() / total) if total else None
    for name, table in tables.items():
        shown = table[~table["suppressed"]]
        totals[f"areas_{name}"] = len(table)
        totals[f"areas_{name}_suppressed"] = int(table["suppressed"].sum())
        totals[f"areas_{name}_suppressed_complementary"] = int(
            (table["suppressed_reason"] == COMPLEMENTARY).sum()
        )
        hide_outside = suppression.outside_hidden.get(name, False)
        totals[f"workers_outside_{name}"] = None if hide_outside else suppression.outside[name]
        for radius in options.radii_m:
            label = radius_label(radius)
            share = shown[f"share_{label}"].astype(float)
            totals[f"areas_{name}_covered_{label}"] = int((share >= AREA_COVERED_SHARE).sum())
            totals[f"areas_{name}_share_{label}"] = (
                float((share >= AREA_COVERED_SHARE).mean()) if len(shown) else None
            )
    if total < options.privacy_k:
        for key in list(totals):
            if key.startswith(("workers", "covered_", "uncovered_", "share_")) or key in (
                "mean_m",
                "p90_m",
                "access_2sfca",
                "places_per_1000",
            ):
                totals[key] = None
    return totals


def _gaps(
    options: CoverageOptions, grid: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Gap cells (ranked), merged gap areas, and the uncovered-workers heat layer."""
    label = radius_label(options.gap_radius_m)
    shown = grid[~grid["suppressed"]].copy()
    uncovered = (shown["workers"] - shown[f"covered_{label}"]).astype("int64")
    shown["uncovered_workers"] = uncovered
    threshold = max(options.gap_threshold, options.privacy_k)
    cells = shown[uncovered >= threshold].copy()
    cells = cells.sort_values(["uncovered_workers", "code"], ascending=[False, True])
    cells["rank"] = np.arange(1, len(cells) + 1)
    cells["share_uncovered"] = cells["uncovered_workers"] / cells["workers"].astype(float)
    gap_cells = gpd.GeoDataFrame(
        cells[
            [
                "rank",
                "code",
                "name_zh",
                "name_en",
                "parent_code",
                "workers",
                "uncovered_workers",
                "share_uncovered",
                "geometry",
            ]
        ].reset_index(drop=True),
        geometry="geometry",
        crs="EPSG:4326",
    )
    gaps = _merge_gaps(gap_cells)
    heat_cells = shown[uncovered >= options.privacy_k]
    lon, lat = _cell_xy(heat_cells.geometry.to_numpy(), shapely.centroid)
    heat = pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "workers": heat_cells["uncovered_workers"].to_numpy(np.int64),
        }
    )
    return gap_cells, gaps, heat


def _cell_xy(
    cells: npt.NDArray[np.object_], general: Callable[[Any], npt.NDArray[np.object_]]
) -> tuple[FloatArray, FloatArray]:
    """Coordinates of a point of each cell: for an axis-aligned rectangle (the usual grid
    cell) the middle of its bounds, which is both its centroid and inside it; the point
    ``general`` gives for any other shape."""
    bounds = shapely.bounds(cells)
    width, height = bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]
    rectangle = (shapely.get_num_coordinates(cells) == 5) & np.isclose(
        shapely.area(cells), width * height, rtol=1e-12, atol=0.0
    )
    x, y = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    if not rectangle.all():
        other = general(cells[~rectangle])
        x[~rectangle], y[~rectangle] = shapely.get_x(other), shapely.get_y(other)
    return x, y


def _cell_points(
    cells: npt.NDArray[np.object_], general: Callable[[Any], npt.NDArray[np.object_]]
) -> npt.NDArray[np.object_]:
    """The points of :func:`_cell_xy` as geometries."""
    return shapely.points(*_cell_xy(cells, general))


def _union_of_cells(cells: npt.NDArray[np.object_]) -> shapely.Geometry:
    """The union of grid cells. Cells of a grid meet edge to edge without overlapping (a
    polygonal coverage), which GEOS unions in a fraction of the general overlay's time; when
    they do not (the union's area is not the cells' total, or it is invalid), the general
    overlay on a fine precision grid does it."""
    union = shapely.coverage_union_all(cells)
    total = float(shapely.area(cells).sum())
    if shapely.is_valid(union) and abs(shapely.area(union) - total) <= 1e-9 * max(total, 1e-12):
        return union
    return shapely.union_all(cells, grid_size=1e-9)


def _merge_gaps(gap_cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Adjacent gap cells merged into polygons, ranked by uncovered workers."""
    columns = ["rank", "uncovered_workers", "workers", "cells", "cell_codes", "geometry"]
    if gap_cells.empty:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs="EPSG:4326")
    merged = shapely.get_parts(_union_of_cells(gap_cells.geometry.to_numpy()))
    merged = merged[shapely.get_type_id(merged) == shapely.GeometryType.POLYGON.value]
    inner = _cell_points(gap_cells.geometry.to_numpy(), shapely.point_on_surface)
    # each merged polygon (prepared, as the query's side) finds the cells' points it holds
    gap_i, cell_i = shapely.STRtree(inner).query(merged, predicate="contains")
    owner = np.full(len(gap_cells), -1)
    owner[cell_i] = gap_i
    held = np.flatnonzero(owner >= 0)
    held = held[np.argsort(owner[held], kind="stable")]
    gap_of = owner[held]
    starts = np.flatnonzero(np.r_[True, gap_of[1:] != gap_of[:-1]]) if len(held) else held
    codes = gap_cells["code"].to_numpy(dtype=object)[held]
    grouped = pd.DataFrame(
        {
            "uncovered_workers": np.add.reduceat(
                gap_cells["uncovered_workers"].to_numpy(np.int64)[held], starts
            ),
            "workers": np.add.reduceat(gap_cells["workers"].to_numpy(np.int64)[held], starts),
            "cells": np.diff(np.r_[starts, len(held)]),
            "cell_codes": [",".join(sorted(part)) for part in np.split(codes, starts[1:])],
        },
        index=pd.Index(gap_of[starts], name="gap"),
    )
    grouped["geometry"] = merged[grouped.index.to_numpy()]
    grouped = grouped.sort_values(["uncovered_workers", "cell_codes"], ascending=[False, True])
    grouped["rank"] = np.arange(1, len(grouped) + 1)
    return gpd.GeoDataFrame(
        grouped.reset_index(drop=True)[columns], geometry="geometry", crs="EPSG:4326"
    )


def _notes(
    options: CoverageOptions,
    tables: dict[str, gpd.GeoDataFrame],
    totals: dict[str, Any],
    suppression: Suppression,
) -> list[str]:
    notes = [f"areas with fewer than {options.privacy_k} workers are suppressed"]
    more = sum(
        int((table["suppressed_reason"] == COMPLEMENTARY).sum())
        for name, table in tables.items()
        if name in options.levels
    )
    if more:
        notes.append(
            f"{more:,} more {'area is' if more == 1 else 'areas are'} suppressed so that no "
            "small area can be worked out by subtraction"
        )
    for name in options.levels:
        if suppression.outside_hidden.get(name) and totals.get("workers") is not None:
            notes.append(f"workers outside every {name} area are not shown (privacy)")
    if totals["stations"] == 0:
        notes.append("no station matches the options: every worker is uncovered")
    for name, table in tables.items():
        if table.empty and name in options.levels:
            notes.append(f"no {name} areas are loaded")
    return notes


# -- exports --------------------------------------------------------------------------------------
def area_records(table: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Rows of an area table as plain Python values (None for blanks), without geometry."""
    plain = pd.DataFrame(table.drop(columns="geometry")).astype(object)
    plain = plain.where(plain.notna(), None)
    return [
        {key: _plain(value) for key, value in record.items()}
        for record in plain.to_dict(orient="records")
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def export_report(report: CoverageReport, folder: Any) -> list[Any]:
    """Write the report to ``folder``: per level and for gaps a CSV and a GeoJSON file, all of
    them as layers of ``coverage.gpkg``, the heat layer as CSV and the totals as JSON.

    Returns the paths written. Suppressed areas are written with blank figures.
    """
    import json
    from pathlib import Path

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    gpkg = out / "coverage.gpkg"
    gpkg.unlink(missing_ok=True)
    layers = {f"areas_{level}": table for level, table in report.areas.items()}
    layers |= {"gaps": report.gaps, "gap_cells": report.gap_cells}
    for name, table in layers.items():
        frame = table.copy()
        if "cell_codes" in frame:
            frame["cell_codes"] = frame["cell_codes"].astype(str)
        csv = out / f"{name}.csv"
        pd.DataFrame(frame.drop(columns="geometry")).to_csv(csv, index=False)
        geojson = out / f"{name}.geojson"
        geojson.unlink(missing_ok=True)
        frame.to_file(geojson, driver="GeoJSON")
        frame.to_file(gpkg, layer=name, driver="GPKG")
        written += [csv, geojson]
    heat = out / "heat.csv"
    report.heat.to_csv(heat, index=False)
    totals = out / "totals.json"
    totals.write_text(
        json.dumps(
            {
                "options": report.options.describe(),
                "data_date": report.data_date.isoformat(),
                "totals": {k: _plain(v) for k, v in report.totals.items()},
                "notes": report.notes,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return [*written, gpkg, heat, totals]
