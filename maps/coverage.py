"""The coverage map: stations, catchments, coverage shares by area, uncovered workers, gaps.

:func:`coverage_map` turns a :class:`locator.coverage.CoverageReport` into a ``folium.Map``;
:func:`maps.offline.save_html` writes it (inlined, for the offline file and e-mail) and
:func:`maps.offline.render_html` serves it. Nothing here reads the database.
"""

from __future__ import annotations

import folium
from branca.element import Figure

from locator import vocab
from locator.coverage import CoverageOptions, CoverageReport
from locator.errors import ConfigError
from maps import layers

WEEKDAYS = (
    ("周一", "Mon"),
    ("周二", "Tue"),
    ("周三", "Wed"),
    ("周四", "Thu"),
    ("周五", "Fri"),
    ("周六", "Sat"),
    ("周日", "Sun"),
)
BEIJING_CENTRE = (39.9, 116.4)
MAX_ZOOM = 19


class MapOptionError(ConfigError):
    """A map was asked for something the report does not hold."""


def time_slice(options: CoverageOptions) -> str:
    """Which hours the counted stations are open at, in words (both languages)."""
    if options.open_at is not None:
        when = layers.local_time(options.open_at)
        slice_text = f"{when} 时开放的驿站 · stations open at {when} (Beijing time)"
    elif options.hour_of_week is not None:
        day, hour = divmod(options.hour_of_week, 24)
        zh_day, en_day = WEEKDAYS[day]
        slice_text = f"{zh_day} {hour:02d}:00 开放的驿站 · stations open {en_day} {hour:02d}:00"
    else:
        slice_text = "全部时段 · all hours (opening hours not applied)"
    if options.holiday:
        hour = options.hour_of_week % 24 if options.hour_of_week is not None else 12
        slice_text = (
            f"法定节假日 {hour:02d}:00 开放的驿站 · stations open on a public holiday "
            f"at {hour:02d}:00"
        )
    return slice_text


def station_filter(options: CoverageOptions) -> str | None:
    """The station filters of ``options`` in words, or None when every station counts."""
    parts = []
    if options.kinds:
        parts.append("kinds: " + ", ".join(vocab.KINDS[k][1] for k in options.kinds))
    if options.services:
        parts.append("services: " + ", ".join(vocab.SERVICES[s][1] for s in options.services))
    if options.min_stars:
        parts.append(f"at least {options.min_stars} stars")
    return "计入驿站 Stations counted — " + "; ".join(parts) if parts else None


def _shown_level(report: CoverageReport, level: str | None) -> str | None:
    present = [name for name in vocab.AREA_LEVELS if name in report.areas]
    if level is None:
        return present[0] if present else None
    if level not in present:
        raise MapOptionError(f"level {level!r} is not in the report; it holds {present}")
    return level


def _radius(report: CoverageReport, radius_m: float | None) -> float:
    radii = [float(r) for r in report.options.radii_m]
    if radius_m is None:
        return radii[0]
    if float(radius_m) not in radii:
        raise MapOptionError(
            f"radius_m {radius_m!r} was not computed; the report has radii {radii}"
        )
    return float(radius_m)


def _bounds(report: CoverageReport) -> tuple[float, float, float, float] | None:
    """West, south, east, north of the areas (else the stations) in degrees."""
    frames = [report.areas[name] for name in report.areas if len(report.areas[name])]
    if not frames and len(report.stations):
        frames = [report.stations]
    if not frames:
        return None
    west, south, east, north = frames[0].to_crs(4326).total_bounds
    return float(west), float(south), float(east), float(north)


def title_lines(report: CoverageReport, *, radius_m: float) -> tuple[str, list[str]]:
    """Heading and lines of the title block: radius, time slice, filters, data date, totals."""
    heading = f"暖心驿站覆盖 · Warm-station coverage: workers within {radius_m:,.0f} m"
    lines = [time_slice(report.options)]
    widest = max(float(r) for r in report.options.radii_m)
    lines.append(f"空白与热力 Gaps and heat: workers uncovered within {widest:,.0f} m")
    if filters := station_filter(report.options):
        lines.append(filters)
    lines.append(
        f"数据日期 Data date: {layers.local_time(report.data_date)} (Beijing) · "
        f"{len(report.stations):,} 驿站 stations"
    )
    totals = report.totals
    share = totals.get(f"share_{layers.radius_label(radius_m)}")
    workers = totals.get("workers")
    if share is not None and workers is not None:
        lines.append(f"覆盖 Covered: {float(share):.1%} of {int(workers):,} workers")
    lines.extend(report.notes)
    return heading, lines


def is_synthetic(report: CoverageReport) -> bool:
    """Whether the report's stations are generated sample data (their ``source`` says so)."""
    if "source" not in report.stations:
        return False
    return bool(report.stations["source"].astype(str).str.contains("synthetic", case=False).any())


def coverage_map(
    report: CoverageReport,
    *,
    radius_m: float | None = None,
    level: str | None = None,
    tile_url: str = "",
    offline: bool = False,
    synthetic: bool | None = None,
    heat: bool = False,
) -> folium.Map:
    """Build the coverage map of ``report``.

    Parameters
    ----------
    report : CoverageReport
        The coverage computed by :func:`locator.coverage.compute_coverage`.
    radius_m : float, optional
        The radius to draw (one of ``report.options.radii_m``); the first when not given.
    level : str, optional
        The area level whose shares are shown when the map opens (the others are in the layer
        control); the coarsest in the report when not given.
    tile_url : str
        XYZ tile URL template for the base map. Empty, or ``offline``: a grey background with
        the district outlines.
    offline : bool
        Build for a file that opens with no network at all (no tiles); save it with
        :func:`maps.offline.save_html`, which inlines every script and style.
    synthetic : bool, optional
        Label the map as synthetic sample data; guessed from the stations' ``source`` when
        not given.
    heat : bool
        Show the heat of uncovered workers when the map opens (it is always in the control).

    Returns
    -------
    folium.Map
        The map; the caller saves or serves it.
    """
    radius = _radius(report, radius_m)
    shown = _shown_level(report, level)
    tiles = "" if offline else tile_url
    fmap = folium.Map(location=BEIJING_CENTRE, zoom_start=9, tiles=None, control_scale=True)
    fmap.options.update(max_zoom=MAX_ZOOM, min_zoom=3)  # clustering needs a map maxZoom
    # No favicon request: the offline file makes none at all, and a service needs none.
    root = fmap.get_root()
    assert isinstance(root, Figure)  # a new map's root is always its figure
    root.header.add_child(folium.Element('<link rel="icon" href="data:,">'))
    if tiles:
        folium.TileLayer(
            tiles=tiles,
            attr="底图 Base map tiles",
            name="底图 Base map",
            control=False,
            max_zoom=MAX_ZOOM,
        ).add_to(fmap)
    outlines = None
    if not tiles and "district" in report.areas:
        outlines = layers.add_outlines(fmap, report.areas["district"])
    for name in vocab.AREA_LEVELS:
        if name in report.areas:
            layers.add_choropleth(
                fmap,
                report.areas[name],
                level=name,
                radius_m=radius,
                privacy_k=report.options.privacy_k,
                show=name == shown,
            )
    layers.add_heat(fmap, report.heat, show=heat)
    layers.add_gaps(fmap, report.gaps)
    layers.add_stations(fmap, report.stations, radius_m=radius)
    heading, lines = title_lines(report, radius_m=radius)
    layers.add_title(
        fmap, heading, lines, synthetic=is_synthetic(report) if synthetic is None else synthetic
    )
    layers.add_legend(fmap, radius_m=radius, privacy_k=report.options.privacy_k)
    layers.add_controls(fmap, tile_url=tiles, outlines=outlines)
    if bounds := _bounds(report):
        layers.fit_view(fmap, *bounds)
    return fmap
