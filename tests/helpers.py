"""Small builders of input files for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def station(code: str, lon: float, lat: float, **properties: Any) -> dict[str, Any]:
    props = {
        "code": code,
        "name_zh": f"测试驿站{code}",
        "name_en": f"Test station {code}",
        "kind": "union_post",
        "services": ["hot_water", "phone_charging"],
        "groups": ["courier"],
        "opening_hours": "24/7",
        "stars": 3,
        "seats": 8,
    }
    props.update(properties)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    )
    return path


def square(x0: float, y0: float, size: float) -> dict[str, Any]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}
