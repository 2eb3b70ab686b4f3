"""Coordinate reference systems: WGS-84, China's GCJ-02 and BD-09, and any EPSG code.

Everything is stored as WGS-84 (EPSG:4326) in (lon, lat) order. Chinese map providers publish
GCJ-02 (Amap, Tencent) or BD-09 (Baidu); these are obfuscations, not EPSG systems, so they are
converted here. The forward transforms are the published formulas; the inverses iterate the
forward transform until it reproduces the input to 1e-10 degrees (about 0.01 mm).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from locator.errors import CRSError

WGS84 = 4326
UTM50N = 32650
GCJ02 = "gcj02"
BD09 = "bd09"

Array = npt.NDArray[np.float64]

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 30


@dataclass(frozen=True)
class CRS:
    """A declared input CRS: one of ``wgs84``, ``gcj02``, ``bd09`` or an EPSG code."""

    name: str
    epsg: int | None = None

    def __str__(self) -> str:
        return self.name


def parse_crs(value: str | int) -> CRS:
    """Parse a CRS as a user writes it.

    Parameters
    ----------
    value : str or int
        ``wgs84`` (or ``4326``), ``gcj02``, ``bd09``, or an EPSG code as ``EPSG:32650``,
        ``epsg:32650`` or ``32650``.

    Returns
    -------
    CRS
    """
    text = str(value).strip().lower().replace("-", "").replace("_", "")
    if text in {"wgs84", "4326", "epsg:4326", "crs84", "ogc:crs84"}:
        return CRS("wgs84", WGS84)
    if text in {"gcj02", "gcj"}:
        return CRS(GCJ02)
    if text in {"bd09", "bd09ll", "baidu"}:
        return CRS(BD09)
    match = re.fullmatch(r"(?:epsg:)?(\d{4,6})", text)
    if match:
        from pyproj import CRS as ProjCRS
        from pyproj.exceptions import CRSError as ProjCRSError

        code = int(match.group(1))
        try:
            ProjCRS.from_epsg(code)
        except ProjCRSError as exc:
            raise CRSError(f"crs {value!r} is not a known EPSG code ({exc})") from None
        return CRS(f"EPSG:{code}", code)
    raise CRSError(
        f"crs {value!r} is not understood; use 'wgs84', 'gcj02', 'bd09' or an EPSG code "
        "such as 'EPSG:32650'"
    )


def _out_of_china(lon: Array, lat: Array) -> npt.NDArray[np.bool_]:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta_lat(x: Array, y: Array) -> Array:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lon(x: Array, y: Array) -> Array:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _as_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """Offset WGS-84 (lon, lat) to GCJ-02; points outside China are returned unchanged."""
    x, y = _as_arrays(lon, lat)
    dlat = _delta_lat(x - 105.0, y - 35.0)
    dlon = _delta_lon(x - 105.0, y - 35.0)
    rad = y / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(x, y)
    return np.where(outside, x, x + dlon), np.where(outside, y, y + dlat)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """Convert GCJ-02 (lon, lat) to Baidu's BD-09."""
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """Convert WGS-84 (lon, lat) to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """Solve forward(x) = target by fixed-point iteration, starting from the target itself."""
    tx, ty = _as_arrays(lon, lat)
    x, y = tx.copy(), ty.copy()
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        ex, ey = fx - tx, fy - ty
        x, y = x - ex, y - ey
        if np.all(np.abs(ex) < _TOLERANCE_DEG) and np.all(np.abs(ey) < _TOLERANCE_DEG):
            break
    return x, y


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """Convert GCJ-02 (lon, lat) to WGS-84 by iterating the forward offset (error < 1 mm)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """Convert BD-09 (lon, lat) to GCJ-02 by iterating the forward transform."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """Convert BD-09 (lon, lat) to WGS-84."""
    return _invert(wgs84_to_bd09, lon, lat)


def _epsg_transform(
    x: npt.ArrayLike, y: npt.ArrayLike, source: int, target: int
) -> tuple[Array, Array]:
    if source == target:
        return _as_arrays(x, y)
    from pyproj import Transformer

    out_x, out_y = Transformer.from_crs(source, target, always_xy=True).transform(*_as_arrays(x, y))
    return np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)


def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CRS) -> tuple[Array, Array]:
    """Convert coordinates in ``crs`` to WGS-84 (lon, lat)."""
    if crs.name == GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if crs.name == BD09:
        return bd09_to_wgs84(lon, lat)
    return _epsg_transform(lon, lat, crs.epsg or WGS84, WGS84)


def from_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CRS) -> tuple[Array, Array]:
    """Convert WGS-84 (lon, lat) to ``crs`` (used for answers in the caller's system)."""
    if crs.name == GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if crs.name == BD09:
        return wgs84_to_bd09(lon, lat)
    return _epsg_transform(lon, lat, WGS84, crs.epsg or WGS84)


def geodesic_distance_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> Array:
    """Distance in metres on the WGS-84 ellipsoid between (lon1, lat1) and (lon2, lat2)."""
    from pyproj import Geod

    _, _, dist = Geod(ellps="WGS84").inv(*_as_arrays(lon1, lat1), *_as_arrays(lon2, lat2))
    return np.asarray(dist, dtype=np.float64)
