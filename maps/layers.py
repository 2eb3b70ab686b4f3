"""One small builder per map layer: stations, catchments, coverage shares, heat, gaps, and the
controls, title and legend around them.

The builders take frames (never a database) and add to a ``folium.Map``. Stations travel to the
browser as one compressed payload of column arrays (see ``maps/static/locator-map.js``): a
popup's HTML is built there only when a station is clicked, which keeps a map of 150,000
stations under 30 MB and its markers clustered quickly.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.elements import JSCSSMixin
from folium.plugins import Fullscreen, HeatMap, MeasureControl
from folium.template import Template

from locator import vocab
from maps.offline import ASSET_SCHEME

BEIJING_TZ = ZoneInfo("Asia/Shanghai")
UNITS = tuple(vocab.UNITS)

STATES: dict[str, tuple[str, str, str]] = {
    "free": ("有空位", "open, free places", "#1a9850"),
    "full": ("已满", "full", "#d73027"),
    "stale": ("空位未知", "free places unknown (count stale)", "#f08c00"),
    "closed": ("关闭", "closed", "#6f6f6f"),
}
"""Station states: (Chinese, English, marker colour)."""

KIND_GLYPHS: dict[str, str] = {
    "smart_24h": "24",
    "union_post": "工",
    "shop_front": "店",
    "mobile": "移",
    "apartment": "宿",
}
"""The character drawn on a station's marker, by kind (the shape also differs by kind)."""

SHARE_BREAKS = (0.0, 0.2, 0.4, 0.6, 0.8)
SHARE_COLOURS = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
"""Coverage share classes: lighter is worse covered (blue, apart from the station colours)."""

HATCH = "url(#locator-hatch)"
GAP_COLOUR = "#b2182b"
CATCHMENT_COLOUR = "#2c7fb8"
CIRCLE_MIN_ZOOM = 12
CLUSTER_MAX_ZOOM = 16  # from zoom 17 every station is drawn on its own
MAX_CIRCLES = 4000
SVG_MAX_AREAS = 3000  # more areas are drawn on a canvas
BASE_PANE = "locator-base"
COORD_DECIMALS = 5  # about a metre: plenty for a map, and a third smaller files

MAP_JS = ("locator_map_js", f"{ASSET_SCHEME}static/locator-map.js")
MAP_CSS = ("locator_map_css", f"{ASSET_SCHEME}static/locator-map.css")

HATCH_DEFS = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    '<pattern id="locator-hatch" patternUnits="userSpaceOnUse" width="8" height="8" '
    'patternTransform="rotate(45)"><rect width="8" height="8" fill="#e0e0e0"/>'
    '<line x1="0" y1="0" x2="0" y2="8" stroke="#8c8c8c" stroke-width="3"/></pattern>'
    "</defs></svg>"
)


class _LocatorElement(JSCSSMixin):
    """An element whose script calls ``LocatorMap`` (maps/static/locator-map.js)."""

    js_links: ClassVar[tuple[tuple[str, str], ...]] = (MAP_JS,)
    css_links: ClassVar[tuple[tuple[str, str], ...]] = (MAP_CSS,)

    def __init__(self) -> None:
        super().__init__()
        self.default_js = list(self.js_links)
        self.default_css = list(self.css_links)


class StationLayer(_LocatorElement):
    """Clustered station markers and their catchment circles, from a compressed payload."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        LocatorMap.stations({{ this._parent.get_name() }}, {{ this.group.get_name() }},
            {{ this.circles.get_name() }}, {{ this.payload|tojson }}, {{ this.options|tojson }});
        {% endmacro %}"""
    )
    js_links: ClassVar[tuple[tuple[str, str], ...]] = (
        ("supercluster_js", f"{ASSET_SCHEME}vendor/supercluster/supercluster.min.js"),
        MAP_JS,
    )

    def __init__(
        self,
        group: folium.FeatureGroup,
        circles: folium.FeatureGroup,
        payload: str,
        options: dict[str, Any],
    ) -> None:
        super().__init__()
        self._name = "StationLayer"
        self.group, self.circles, self.payload, self.options = group, circles, payload, options


class AreaLayer(_LocatorElement):
    """Areas coloured by coverage share, from a compressed GeoJSON, drawn on first show."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        LocatorMap.areas({{ this._parent.get_name() }}, {{ this.group.get_name() }},
            {{ this.payload|tojson }}, {{ this.options|tojson }});
        {% endmacro %}"""
    )

    def __init__(self, group: folium.FeatureGroup, payload: str, options: dict[str, Any]) -> None:
        super().__init__()
        self._name = "AreaLayer"
        self.group, self.payload, self.options = group, payload, options


class HtmlBox(_LocatorElement):
    """The title block (``where="title"``) or the legend (``where="legend"``)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        LocatorMap.{{ this.where }}({{ this._parent.get_name() }}, {{ this.html|tojson }});
        {% endmacro %}"""
    )

    def __init__(self, where: str, html_text: str) -> None:
        super().__init__()
        self._name = "HtmlBox"
        self.where, self.html = where, html_text


class MiniMap(_LocatorElement):
    """A mini-map of the tiles, or of the district outlines when there are none (offline)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        LocatorMap.minimap({{ this._parent.get_name() }}, {{ this.tile_url|tojson }},
            {{ this.outlines.get_name() if this.outlines else 'null' }});
        {% endmacro %}"""
    )
    js_links: ClassVar[tuple[tuple[str, str], ...]] = (
        ("Control_MiniMap_js", f"{ASSET_SCHEME}vendor/minimap/Control.MiniMap.min.js"),
        MAP_JS,
    )
    css_links: ClassVar[tuple[tuple[str, str], ...]] = (
        ("Control_MiniMap_css", f"{ASSET_SCHEME}vendor/minimap/Control.MiniMap.min.css"),
        MAP_CSS,
    )

    def __init__(self, tile_url: str, outlines: folium.GeoJson | None) -> None:
        super().__init__()
        self._name = "MiniMap"
        self.tile_url, self.outlines = tile_url, outlines


# -- stations ------------------------------------------------------------------------------------
def _count(value: Any) -> int | None:
    """A capacity figure, or None when missing (None, NaN, NA)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return int(value)


def _terms(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [str(v) for v in value]


def station_state(open_now: bool | None, units: Iterable[tuple[int | None, int | None]]) -> str:
    """Colour class of a station: ``closed``, ``free``, ``full`` or ``stale``.

    A station closed at the map's time is ``closed`` whatever its counts. Otherwise it is
    ``free`` when any unit reports a free place, ``full`` only when every unit it has reports
    zero free, and ``stale`` when some count is unknown (too old to trust) and none is free:
    an unknown count is never shown as room.

    Parameters
    ----------
    open_now : bool or None
        Open at the map's time slice; None when unknown (drawn by its counts).
    units : iterable of (maximum, free)
        Per capacity unit; units with no places (maximum 0 or None) are ignored, ``free`` None
        means stale or unknown.
    """
    if open_now is False:
        return "closed"
    frees = [free for maximum, free in units if maximum]
    if any(free is not None and free > 0 for free in frees):
        return "free"
    if frees and all(free is not None for free in frees):
        return "full"
    return "stale"


def _open_value(value: Any) -> bool | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(value)


def _reported(value: Any) -> str | None:
    """A report time as Beijing's local ``MM-DD HH:MM``, the freshness shown in a popup."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return str(stamp.tz_convert(BEIJING_TZ).strftime("%m-%d %H:%M"))


def _mask(values: Iterable[str], vocabulary: Mapping[str, Any]) -> int:
    """Bit mask of ``values`` over the codes of ``vocabulary`` (bit i: its i-th code)."""
    bits = {code: 2**i for i, code in enumerate(vocabulary)}
    return sum(bits[v] for v in set(values) if v in bits)


def station_payload(stations: gpd.GeoDataFrame) -> dict[str, Any]:
    """Column arrays of the stations, as ``locator-map.js`` reads them.

    Kinds, states and opening hours are indexes into tables; services and groups are bit masks
    over the vocabularies; each unit has ``max``, ``free`` (None: stale/unknown) and ``at``
    (when it was reported, Beijing time) per station.

    Parameters
    ----------
    stations : GeoDataFrame
        Columns ``code, name_zh, name_en, kind, services, groups, opening_hours, stars, open``
        and per unit ``<unit>_max, <unit>_free`` and ``<unit>_reported_at`` (or one
        ``reported_at``); point geometry in WGS-84.
    """
    frame = stations.to_crs(4326) if stations.crs and stations.crs.to_epsg() != 4326 else stations
    n = len(frame)

    def column(name: str) -> list[Any]:
        return frame[name].tolist() if name in frame else [None] * n

    units: dict[str, dict[str, list[Any]]] = {}
    for unit in UNITS:
        maxima = [_count(v) or 0 for v in column(f"{unit}_max")]
        frees = [
            _count(v) if m else None for m, v in zip(maxima, column(f"{unit}_free"), strict=True)
        ]
        at_name = f"{unit}_reported_at" if f"{unit}_reported_at" in frame else "reported_at"
        ats = [
            _reported(v) if f is not None else None
            for f, v in zip(frees, column(at_name), strict=True)
        ]
        units[unit] = {"max": maxima, "free": frees, "at": ats}
    opens = [_open_value(v) for v in column("open")]
    states = list(STATES)
    state = [
        states.index(
            station_state(opens[i], [(units[u]["max"][i], units[u]["free"][i]) for u in UNITS])
        )
        for i in range(n)
    ]
    hours = [str(v or "") for v in column("opening_hours")]
    hours_table = list(dict.fromkeys(hours))
    hours_index = {text: i for i, text in enumerate(hours_table)}
    kind_index = {code: i for i, code in enumerate(vocab.KINDS)}
    codes = [str(v) for v in column("code")]
    points = frame.geometry
    return {
        "n": n,
        "lon": [round(x, 5) for x in points.x.tolist()],
        "lat": [round(y, 5) for y in points.y.tolist()],
        "code": codes,
        "zh": [str(v or c) for v, c in zip(column("name_zh"), codes, strict=True)],
        "en": [str(v or "") for v in column("name_en")],
        "kind": [kind_index[k] for k in column("kind")],
        "state": state,
        "stars": [_count(v) or 0 for v in column("stars")],
        "svc": [_mask(_terms(v), vocab.SERVICES) for v in column("services")],
        "grp": [_mask(_terms(v), vocab.GROUPS) for v in column("groups")],
        "hours": [hours_index[h] for h in hours],
        "open": opens,
        "hoursTable": hours_table,
        "units": units,
    }


def encode_text(text: str) -> str:
    """Gzip then base64 ``text`` (the browser inflates it with ``DecompressionStream``;
    station names and area outlines compress about tenfold)."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6)).decode("ascii")


def encode_payload(payload: Mapping[str, Any]) -> str:
    """:func:`encode_text` of the JSON of ``payload``."""
    return encode_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


def station_options(radius_m: float) -> dict[str, Any]:
    """Vocabularies and drawing options the station script needs, with both languages."""
    return {
        "kinds": [[code, zh, en, KIND_GLYPHS[code]] for code, (zh, en) in vocab.KINDS.items()],
        "states": [[code, zh, en, colour] for code, (zh, en, colour) in STATES.items()],
        "services": [[code, zh, en] for code, (zh, en) in vocab.SERVICES.items()],
        "groups": [[code, zh, en] for code, (zh, en) in vocab.GROUPS.items()],
        "units": [[code, zh, en] for code, (zh, en) in vocab.UNITS.items()],
        "radiusM": radius_m,
        "circleColour": CATCHMENT_COLOUR,
        "circleMinZoom": CIRCLE_MIN_ZOOM,
        "clusterMaxZoom": CLUSTER_MAX_ZOOM,
        "maxCircles": MAX_CIRCLES,
    }


def add_stations(
    fmap: folium.Map, stations: gpd.GeoDataFrame, *, radius_m: float
) -> tuple[folium.FeatureGroup, folium.FeatureGroup]:
    """Add the clustered stations (shown) and their catchment circles (hidden) to ``fmap``.

    Circles are drawn in the browser for the stations in view, and only from zoom
    :data:`CIRCLE_MIN_ZOOM` when there are more than :data:`MAX_CIRCLES`; stations closed at
    the map's time get none (they do not count).
    """
    group = folium.FeatureGroup(name=f"驿站 Stations ({len(stations):,})", show=True)
    circles = folium.FeatureGroup(
        name=f"服务半径 Catchment circles ({radius_m:,.0f} m)", show=False
    )
    group.add_to(fmap)
    circles.add_to(fmap)
    payload = encode_payload(station_payload(stations))
    fmap.add_child(StationLayer(group, circles, payload, station_options(radius_m)))
    return group, circles


# -- areas ---------------------------------------------------------------------------------------
def radius_label(radius_m: float) -> str:
    """Column suffix of a radius in a coverage report: whole metres (``share_500``)."""
    return str(round(radius_m))


def share_colour(share: float) -> str:
    """Fill colour of a coverage share in [0, 1] (class lower bounds :data:`SHARE_BREAKS`)."""
    index = sum(1 for bound in SHARE_BREAKS[1:] if share >= bound)
    return SHARE_COLOURS[index]


def _slim_geometry(geometry: gpd.GeoSeries, *, simplify_deg: float) -> gpd.GeoSeries:
    shapes = geometry.to_crs(4326).to_numpy()
    if simplify_deg:
        shapes = shapely.simplify(shapes, simplify_deg, preserve_topology=True)
    # Rounding the coordinates (not GEOS set_precision, ten times slower): drawing only.
    rounded = shapely.transform(shapes, lambda xy: np.round(xy, COORD_DECIMALS))
    return gpd.GeoSeries(rounded, index=geometry.index, crs=4326)


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def area_properties(row: Mapping[str, Any], *, radius_m: float, privacy_k: int) -> dict[str, Any]:
    """Tooltip texts and fill colour of one area; a suppressed area shows no worker figure,
    and says whether it has fewer than ``privacy_k`` workers or is hidden so that such an area
    cannot be worked out by subtraction (``suppressed_reason`` "complementary").

    Parameters
    ----------
    row : mapping
        One row of a ``CoverageReport.areas`` frame.
    radius_m : float
        The radius the map shows (column ``share_<r>``, ``covered_<r>``).
    privacy_k : int
        The suppression limit, named in the suppressed areas' text.
    """
    r = radius_label(radius_m)
    name = " ".join(str(row[k]) for k in ("name_zh", "name_en") if row.get(k)) or str(row["code"])
    stations = f"{int(row.get('stations') or 0):,}"
    share = _number(row.get(f"share_{r}"))
    if bool(row.get("suppressed")) or share is None:
        why = (
            f"为防推算出不足{privacy_k}人的区域，不显示 · suppressed: it would give away an area "
            f"of fewer than {privacy_k} workers"
            if row.get("suppressed_reason") == "complementary"
            else f"不足{privacy_k}人，不显示 · suppressed: fewer than {privacy_k} workers"
        )
        return {
            "area": name,
            "coverage": why,
            "stations": stations,
            "distance": "—",
            "access": "—",
            "suppressed": True,
            "fill": HATCH,
        }
    workers, covered = int(row.get("workers") or 0), int(row.get(f"covered_{r}") or 0)
    mean_m, p90_m = _number(row.get("mean_m")), _number(row.get("p90_m"))
    access = _number(row.get("access_2sfca"))
    distance = (
        f"平均 mean {mean_m:,.0f} m · P90 {p90_m:,.0f} m"
        if mean_m is not None and p90_m is not None
        else "—"
    )
    return {
        "area": name,
        "coverage": f"{share:.1%} ({covered:,} / {workers:,} workers ≤ {radius_m:,.0f} m)",
        "stations": stations,
        "distance": distance,
        "access": f"{access:.3g}" if access is not None else "—",
        "suppressed": False,
        "fill": share_colour(share),
    }


def add_choropleth(
    fmap: folium.Map,
    areas: gpd.GeoDataFrame,
    *,
    level: str,
    radius_m: float,
    privacy_k: int,
    show: bool,
) -> folium.FeatureGroup:
    """Add the coverage share of one area level (district, sub-district or grid cell).

    Suppressed areas (fewer than ``privacy_k`` workers, or hidden so that such an area cannot
    be worked out) are hatched grey and say so. The areas travel compressed and are drawn only
    when their layer is first shown, on a canvas when there are more than
    :data:`SVG_MAX_AREAS` (Beijing has 17,000 grid cells), so that a hidden level costs the
    opening of the map nothing.
    """
    r = radius_label(radius_m)
    wanted = ["code", "name_zh", "name_en", "workers", "stations", "suppressed", "mean_m"]
    wanted += ["suppressed_reason"]
    wanted += ["p90_m", "access_2sfca", f"share_{r}", f"covered_{r}"]
    rows = [
        area_properties(row, radius_m=radius_m, privacy_k=privacy_k)
        for row in areas[[c for c in wanted if c in areas]].to_dict("records")
    ]
    geometry = _slim_geometry(areas.geometry, simplify_deg=0.0 if level == "grid" else 0.0002)
    features = [
        f'{{"type":"Feature","properties":{json.dumps(row, ensure_ascii=False)},'
        f'"geometry":{shape}}}'
        for row, shape in zip(rows, shapely.to_geojson(geometry.to_numpy()), strict=True)
    ]
    zh, en = vocab.AREA_LEVELS[level]
    suppressed = sum(1 for row in rows if row["suppressed"])
    group = folium.FeatureGroup(
        name=f"覆盖率·{zh} Coverage by {en} ({len(rows):,}; {suppressed:,} suppressed)",
        show=show,
    )
    group.add_to(fmap)
    options = {
        "level": level,
        "canvas": len(rows) > SVG_MAX_AREAS,
        "weight": 0.4 if level == "grid" else 1,
        "labels": ["覆盖 Covered", "驿站 Stations", "距离 Distance", "2SFCA"],
    }
    collection = '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"
    fmap.add_child(AreaLayer(group, encode_text(collection), options))
    return group


def add_outlines(fmap: folium.Map, districts: gpd.GeoDataFrame) -> folium.GeoJson:
    """District outlines on the grey background, in place of tiles (always shown)."""
    frame = gpd.GeoDataFrame(
        {"name": districts["name_zh"].astype(str)},
        geometry=_slim_geometry(districts.geometry, simplify_deg=0.0002),
        crs=4326,
    )
    # Their own pane under the overlays: the outlines are opaque (the base map), so they must
    # lie below every area, heat and gap layer whatever order the layers are drawn in.
    folium.map.CustomPane(BASE_PANE, z_index=300).add_to(fmap)
    layer = folium.GeoJson(
        frame.__geo_interface__,
        name="区界 District outlines",
        control=False,
        pane=BASE_PANE,
        style_function=lambda f: {
            "color": "#4d4d4d",
            "weight": 1.2,
            "fill": True,
            "fillColor": "#f7f7f7",
            "fillOpacity": 1,
            "className": "locator-outline",
        },
        interactive=False,
    )
    layer.add_to(fmap)
    return layer


# -- workers -------------------------------------------------------------------------------------
def add_heat(fmap: folium.Map, heat: pd.DataFrame, *, show: bool = False) -> HeatMap:
    """Heat of uncovered workers from the report's aggregated, suppressed counts (no homes).

    Weights are scaled to [0, 1] by the largest count, so that any heat-map build draws the
    same picture.
    """
    top = float(heat["workers"].max()) if len(heat) else 1.0
    points = [
        [float(lat), float(lon), float(w) / top]
        for lon, lat, w in heat[["lon", "lat", "workers"]].itertuples(index=False)
    ]
    layer = HeatMap(
        points,
        name=f"未覆盖劳动者热力 Uncovered workers (heat, {int(heat['workers'].sum()):,})",
        radius=18,
        blur=14,
        min_opacity=0.3,
        show=show,
    )
    layer.add_to(fmap)
    return layer


def add_gaps(fmap: folium.Map, gaps: gpd.GeoDataFrame) -> folium.GeoJson:
    """Gap areas (adjacent gap cells merged), dashed red, ranked by uncovered workers."""
    frame = gpd.GeoDataFrame(
        {
            "gap": [f"#{int(rank)}" for rank in gaps["rank"]],
            "uncovered": [f"{int(w):,}" for w in gaps["uncovered_workers"]],
            "cells": [f"{int(c):,}" for c in gaps["cells"]],
        },
        geometry=_slim_geometry(gaps.geometry, simplify_deg=0.0) if len(gaps) else [],
        crs=4326,
    )
    layer = folium.GeoJson(
        frame.__geo_interface__,
        name=f"覆盖空白 Gap areas ({len(frame):,})",
        style_function=lambda f: {
            "color": GAP_COLOUR,
            "weight": 2.5,
            "dashArray": "6 4",
            "fillColor": GAP_COLOUR,
            "fillOpacity": 0.15,
            "className": "locator-gap",
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["gap", "uncovered", "cells"],
            aliases=["空白 Gap", "未覆盖 Uncovered workers", "网格 Grid cells"],
        )
        if len(frame)
        else None,
    )
    layer.add_to(fmap)
    return layer


# -- frame ---------------------------------------------------------------------------------------
def fit_view(fmap: folium.Map, west: float, south: float, east: float, north: float) -> None:
    """Open the map on these bounds at once: an animated pan from the starting view would be
    under way while the layers first draw, and the mini-map would answer it with a move."""
    fit = folium.FitBounds([[south, west], [north, east]])
    fit.options["animate"] = False
    fmap.add_child(fit)


def add_controls(fmap: folium.Map, *, tile_url: str, outlines: folium.GeoJson | None) -> None:
    """Layer control, full-screen button, measuring tool and mini-map."""
    Fullscreen(
        position="topleft", title="全屏 Full screen", title_cancel="退出全屏 Exit full screen"
    ).add_to(fmap)
    MeasureControl(
        position="topleft",
        primary_length_unit="meters",
        secondary_length_unit="kilometers",
        primary_area_unit="sqmeters",
        secondary_area_unit="hectares",
    ).add_to(fmap)
    fmap.add_child(MiniMap(tile_url, outlines))
    folium.LayerControl(position="topright", collapsed=False).add_to(fmap)


def add_title(fmap: folium.Map, heading: str, lines: Sequence[str], *, synthetic: bool) -> None:
    """The title block: what the map shows (texts are escaped here)."""
    parts = [HATCH_DEFS, f"<h1>{html.escape(heading)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in lines]
    if synthetic:
        parts.append(
            '<p class="synthetic">合成样例数据，非真实站点 · '
            "SYNTHETIC sample data: plausible, not real locations</p>"
        )
    fmap.add_child(HtmlBox("title", "".join(parts)))


def legend_html(*, radius_m: float, privacy_k: int) -> str:
    """The legend: station states and kinds, share classes, suppressed areas, gaps, heat."""
    items: list[str] = ['<h2>驿站 Stations</h2><ul class="states">']
    items += [
        f'<li data-state="{code}"><span class="swatch" style="background:{colour}"></span>'
        f"{zh} {html.escape(en)}</li>"
        for code, (zh, en, colour) in STATES.items()
    ]
    items.append('</ul><ul class="kinds">')
    items += [
        f'<li data-kind="{code}"><span class="glyph">{KIND_GLYPHS[code]}</span>{zh} {en}</li>'
        for code, (zh, en) in vocab.KINDS.items()
    ]
    items.append(f'</ul><h2>覆盖率 Workers within {radius_m:,.0f} m</h2><ul class="shares">')
    bounds = [*SHARE_BREAKS, 1.0]
    items += [
        f'<li><span class="swatch" style="background:{colour}"></span>'
        f"{bounds[i]:.0%}–{bounds[i + 1]:.0%}</li>"
        for i, colour in enumerate(SHARE_COLOURS)
    ]
    items += [
        '<li class="suppressed"><svg class="swatch" width="16" height="12">'
        f'<rect width="16" height="12" fill="{HATCH}"/></svg>'
        f"不足{privacy_k}人或可被推算，不显示 · suppressed: fewer than {privacy_k} workers, "
        "or it would give such an area away</li></ul>",
        '<ul><li><span class="swatch gap"></span>覆盖空白 gap area (uncovered workers)</li>',
        f'<li><span class="swatch" style="border-color:{CATCHMENT_COLOUR};border-radius:50%">'
        f"</span>服务半径 catchment, {radius_m:,.0f} m</li>",
        '<li><span class="swatch" style="background:linear-gradient(90deg,blue,lime,red)">'
        "</span>未覆盖劳动者热力 uncovered workers (heat)</li></ul>",
    ]
    return "".join(items)


def add_legend(fmap: folium.Map, *, radius_m: float, privacy_k: int) -> None:
    """Add :func:`legend_html` at the bottom left."""
    fmap.add_child(HtmlBox("legend", legend_html(radius_m=radius_m, privacy_k=privacy_k)))


def local_time(value: dt.datetime) -> str:
    """``value`` in Beijing time, ``YYYY-MM-DD HH:MM`` (naive values are taken as UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(BEIJING_TZ).strftime("%Y-%m-%d %H:%M")
