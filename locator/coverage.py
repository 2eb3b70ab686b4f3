"""Coverage of outdoor workers by stations: who lives within reach, where the gaps are.

Work in progress: the public interface below is fixed (the maps and the siting plan build on
it); the computation follows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

DEFAULT_RADII_M = (500.0, 1000.0)
DEFAULT_PRIVACY_K = 10
DEFAULT_GAP_THRESHOLD = 50

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class CoverageOptions:
    """What a coverage report counts and how.

    Parameters
    ----------
    radii_m : tuple of float
        Walking radii in metres; a worker is covered at ``r`` when the nearest counted station
        lies at a geodesic distance ``<= r``.
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
        Asia/Shanghai).
    holiday : bool
        Count only stations open on a public holiday (at ``hour_of_week``'s hour of day, or
        noon).
    levels : tuple of str
        Area levels to report (codes of ``vocab.AREA_LEVELS``).
    privacy_k : int
        Areas with fewer workers than this are suppressed.
    gap_threshold : int
        A grid cell is a gap when its uncovered workers reach this number.
    catchment_m : float, optional
        Catchment radius of the 2SFCA access score; the largest radius when not given.
    """

    radii_m: tuple[float, ...] = DEFAULT_RADII_M
    kinds: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    min_stars: int | None = None
    open_at: dt.datetime | None = None
    hour_of_week: int | None = None
    holiday: bool = False
    levels: tuple[str, ...] = ("district", "subdistrict", "grid")
    privacy_k: int = DEFAULT_PRIVACY_K
    gap_threshold: int = DEFAULT_GAP_THRESHOLD
    catchment_m: float | None = None


@dataclass
class CoverageReport:
    """The answer of :func:`compute_coverage`; nothing in it shows a single home."""

    options: CoverageOptions
    data_date: dt.datetime
    totals: dict[str, Any]
    areas: dict[str, gpd.GeoDataFrame]
    gaps: gpd.GeoDataFrame
    gap_cells: gpd.GeoDataFrame
    heat: pd.DataFrame
    stations: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def nearest_station_distances(
    points_lonlat: npt.ArrayLike, stations_lonlat: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Geodesic distance in metres (WGS-84) from each point to its nearest station."""
    raise NotImplementedError


def compute_coverage(
    engine_or_session: Any,
    options: CoverageOptions,
    *,
    progress: Progress | None = None,
    dask: str | None = None,
) -> CoverageReport:
    """Coverage of the worker homes in the store by the stations ``options`` count."""
    raise NotImplementedError
