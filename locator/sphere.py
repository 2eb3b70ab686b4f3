"""Points on the unit sphere, for in-memory KD-trees over lon/lat.

On the unit sphere the straight-line (chord) distance grows monotonically with the great-circle
distance, so a Euclidean KD-tree over (x, y, z) answers nearest-neighbour and radius questions in
great-circle order. Great-circle metres differ from WGS-84 geodesic metres by less than
``SPHERE_SLACK``; callers that must be exact on the ellipsoid search with that slack and then
measure the few candidates geodesically (``locator.crs.geodesic_distance_m``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
SPHERE_SLACK = 0.01  # |ellipsoid / sphere distance - 1| is below 0.6 % on Earth

Array = npt.NDArray[np.float64]


def unit_xyz(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Array:
    """(n, 3) coordinates on the unit sphere of WGS-84 longitudes and latitudes in degrees."""
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    cos_phi = np.cos(phi)
    return np.column_stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)])


def chord_for_metres(metres: npt.ArrayLike) -> Array:
    """The unit-sphere chord of a great-circle distance in metres."""
    angle = np.asarray(metres, dtype=np.float64) / EARTH_RADIUS_M
    return 2.0 * np.sin(np.minimum(angle, np.pi) / 2.0)


def metres_for_chord(chord: npt.ArrayLike) -> Array:
    """The great-circle distance in metres of a unit-sphere chord."""
    half = np.clip(np.asarray(chord, dtype=np.float64) / 2.0, 0.0, 1.0)
    return 2.0 * np.arcsin(half) * EARTH_RADIUS_M
