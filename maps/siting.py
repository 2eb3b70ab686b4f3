"""Folium layer of a siting plan: proposed sites, ranked, with their catchment circles."""

from __future__ import annotations

from html import escape

import folium
import geopandas as gpd

from locator.plans import count_text
from maps.layers import fit_view

REQUIRED_COLOUR = "#8e44ad"
PROPOSED_COLOUR = "#c0392b"


def _line(shown: str, name: str, value: object) -> str:
    """A worker count in ``shown``, or ``name`` said hidden where the plan hid it for privacy
    (None or NaN: fewer than k workers, or a figure that would let one be worked out)."""
    count = count_text(None if value is None else float(value))  # type: ignore[arg-type]
    return f"{name}: hidden (privacy)" if count == "hidden" else shown.format(count)


def _popup(row: dict[str, object]) -> str:
    name = escape(str(row.get("name") or ""))
    return (
        f"<b>#{row['rank']} {escape(str(row['code']))}</b> {name}<br>"
        + _line("adds {} workers", "workers added", row["workers_added"])
        + "<br>"
        + _line("running total {}", "running total", row["running_total"])
        + ("<br>required (already promised)" if row.get("required") else "")
    )


def proposed_sites_layer(
    sites: gpd.GeoDataFrame, *, radius_m: float, name: str = "Proposed stations"
) -> folium.FeatureGroup:
    """A layer with each proposed site (numbered by rank) and its catchment of ``radius_m``.

    ``sites`` holds points in WGS-84 with columns ``rank``, ``code``, ``workers_added``,
    ``running_total`` and optionally ``name`` and ``required``.
    """
    layer = folium.FeatureGroup(name=name, show=True)
    points = sites.to_crs(4326) if sites.crs is not None else sites
    for row in points.sort_values("rank").to_dict("records"):
        lon, lat = row["geometry"].x, row["geometry"].y
        colour = REQUIRED_COLOUR if row.get("required") else PROPOSED_COLOUR
        folium.Circle(
            location=(lat, lon),
            radius=float(radius_m),
            color=colour,
            weight=1,
            fill=True,
            fill_opacity=0.12,
        ).add_to(layer)
        folium.CircleMarker(
            location=(lat, lon),
            radius=7,
            color="#ffffff",
            weight=2,
            fill=True,
            fill_color=colour,
            fill_opacity=1.0,
            tooltip=f"#{row['rank']} {row['code']}",
            popup=folium.Popup(_popup(row), max_width=260),
        ).add_to(layer)
    return layer


def siting_map(
    sites: gpd.GeoDataFrame, *, radius_m: float, title: str, tiles: str | None = None
) -> folium.Map:
    """A map of one plan: its proposed sites and their catchments, fitted to them."""
    fmap = folium.Map(tiles=tiles, attr="tiles" if tiles else None, control_scale=True)
    proposed_sites_layer(sites, radius_m=radius_m).add_to(fmap)
    if len(sites):
        fit_view(fmap, *sites.to_crs(4326).total_bounds)
    heading = folium.Element(
        f'<div style="position:fixed;top:8px;left:50px;z-index:1000;background:#fff;'
        f'padding:4px 8px;font:14px sans-serif">{escape(title)}</div>'
    )
    fmap.get_root().html.add_child(heading)  # type: ignore[attr-defined]
    folium.LayerControl().add_to(fmap)
    return fmap
