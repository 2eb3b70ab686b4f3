"""Small geometry helpers shared by queries: bounding boxes given as text."""

from __future__ import annotations

from dataclasses import dataclass

from locator.errors import ConfigError


@dataclass(frozen=True)
class BBox:
    """A WGS-84 bounding box, (min lon, min lat, max lon, max lat)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        """Parse ``"minlon,minlat,maxlon,maxlat"``; raise :class:`ConfigError` naming the fault."""
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(
                f"bbox {text!r} must be four numbers: min lon, min lat, max lon, max lat"
            ) from None
        if len(values) != 4 or any(v != v for v in values):
            raise ConfigError(
                f"bbox {text!r} must be four numbers: min lon, min lat, max lon, max lat"
            )
        box = cls(*values)
        if not (-180 <= box.min_lon <= box.max_lon <= 180):
            raise ConfigError(f"bbox {text!r}: lon must satisfy -180 <= min lon <= max lon <= 180")
        if not (-90 <= box.min_lat <= box.max_lat <= 90):
            raise ConfigError(f"bbox {text!r}: lat must satisfy -90 <= min lat <= max lat <= 90")
        return box

    def as_list(self) -> list[float]:
        return [self.min_lon, self.min_lat, self.max_lon, self.max_lat]
