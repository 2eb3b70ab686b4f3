"""The maps' scripts and styles come from the project, never from a CDN.

Folium links every script and style from public CDNs. Those are out of reach on the networks the
unions use (and forbidden in an offline file), so before a map is rendered each folium asset is
replaced by the vendored copy in ``maps/vendor/`` (Leaflet by the courier page's copy in
``api/static/vendor/leaflet/``). :func:`render_html` then either inlines every script and style,
with the images their styles refer to as data URIs (one self-contained file that opens with no
network at all), or links them under a base URL that the web service serves (:func:`asset_path`).

An asset folium adds that this module does not know is refused (:class:`MapAssetError`) rather
than linked, so a folium upgrade cannot quietly make a map depend on the internet again.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from importlib.resources import files
from pathlib import Path

import folium
from branca.element import Element
from folium.elements import JSCSSMixin

from locator.errors import LocatorError

MAPS_DIR = Path(__file__).resolve().parent
VENDOR_DIR = MAPS_DIR / "vendor"
STATIC_DIR = MAPS_DIR / "static"
ASSET_SCHEME = "locator-asset:"
"""Prefix of the asset URLs between :func:`use_vendored_assets` and :func:`render_html`."""

FOLIUM_ASSETS: dict[str, str | None] = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    # Bootstrap, jQuery and Font Awesome serve folium's awesome markers; these maps draw their
    # own station icons, so they are left out (about 400 kB less per file).
    "jquery": None,
    "bootstrap": None,
    "awesome_markers": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": None,
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
    "Control.Fullscreen.js": "vendor/fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "vendor/fullscreen/Control.FullScreen.css",
    "Control_MiniMap_js": "vendor/minimap/Control.MiniMap.min.js",
    "Control_MiniMap_css": "vendor/minimap/Control.MiniMap.min.css",
    "leaflet_measure_js": "vendor/measure/leaflet-measure.js",
    "leaflet_measure_css": "vendor/measure/leaflet-measure.css",
    "leaflet-heat.js": "vendor/heat/leaflet-heat.js",
}
"""Folium's asset names and the vendored file (an asset key) that replaces each; None: dropped."""

_SCRIPT = re.compile(r'<script src="' + re.escape(ASSET_SCHEME) + r'([^"]+)"></script>')
_STYLE = re.compile(r'<link rel="stylesheet" href="' + re.escape(ASSET_SCHEME) + r'([^"]+)"/>')
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
_EXTERNAL = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]*\"")


class MapAssetError(LocatorError, LookupError):
    """A map needs a script, style or image the project does not vendor."""


def asset_key(name: str) -> str:
    """The vendored file of an asset: ``name`` as folium knows it, or a key already.

    Parameters
    ----------
    name : str
        A folium asset name (``"leaflet"``, ``"leaflet_measure_js"`` …).

    Returns
    -------
    str
        The asset key, such as ``"vendor/measure/leaflet-measure.js"``.
    """
    if name not in FOLIUM_ASSETS:
        raise MapAssetError(
            f"map asset {name!r} is not vendored; add it to maps/vendor and to "
            f"FOLIUM_ASSETS (known: {', '.join(sorted(FOLIUM_ASSETS))})"
        )
    key = FOLIUM_ASSETS[name]
    return key or ""


def asset_path(key: str) -> Path:
    """The file behind an asset key, refusing anything outside the asset folders.

    Keys start with ``leaflet/`` (the courier page's Leaflet), ``vendor/`` (``maps/vendor``)
    or ``static/`` (the maps' own script and style in ``maps/static``).

    Parameters
    ----------
    key : str
        Asset key, for example ``"leaflet/images/layers.png"``.

    Returns
    -------
    Path
        An existing file.
    """
    roots = {
        "leaflet": Path(str(files("api") / "static" / "vendor" / "leaflet")),
        "vendor": VENDOR_DIR,
        "static": STATIC_DIR,
    }
    top, _, rest = key.partition("/")
    root = roots.get(top)
    if root is None or not rest:
        raise MapAssetError(f"asset {key!r} is unknown: keys start with {sorted(roots)}")
    path = (root / rest).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise MapAssetError(f"asset {key!r} is not a vendored file")
    return path


def _elements(element: Element) -> list[Element]:
    found = [element]
    for child in element._children.values():
        found.extend(_elements(child))
    return found


def use_vendored_assets(fmap: folium.Map) -> None:
    """Point every script and style of ``fmap`` (and its layers) at the vendored files.

    Each element's ``default_js``/``default_css`` is replaced on the instance; folium's class
    lists stay untouched for other maps.
    """
    for element in _elements(fmap.get_root()):
        if not isinstance(element, JSCSSMixin):
            continue
        for attribute in ("default_js", "default_css"):
            links: list[tuple[str, str]] = []
            for name, url in getattr(element, attribute):
                if url.startswith(ASSET_SCHEME):
                    links.append((name, url))
                elif key := asset_key(name):
                    links.append((name, ASSET_SCHEME + key))
            setattr(element, attribute, links)


def _data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else mimetypes.guess_type(path.name)[0]
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime or 'application/octet-stream'};base64,{encoded}"


def inline_css(key: str) -> str:
    """A vendored style sheet with every image it refers to turned into a data URI."""
    folder = key.rsplit("/", 1)[0]
    text = asset_path(key).read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        target = match.group(1)
        if target.startswith(("data:", "#")):
            return match.group(0)
        if "//" in target:
            raise MapAssetError(f"style sheet {key!r} refers to {target!r} outside the project")
        return f'url("{_data_uri(asset_path(f"{folder}/{target}"))}")'

    return _CSS_URL.sub(replace, text)


def inline_js(key: str) -> str:
    """A vendored script, safe to put inside a ``<script>`` element."""
    return asset_path(key).read_text(encoding="utf-8").replace("</script", "<\\/script")


def render_html(fmap: folium.Map, *, asset_base: str | None = None) -> str:
    """Render ``fmap`` as one HTML page whose scripts and styles all come from the project.

    Parameters
    ----------
    fmap : folium.Map
        A map built by this package.
    asset_base : str, optional
        URL prefix under which a service serves :func:`asset_path` (``<base>/<key>``). When
        not given, every script and style is inlined: the file opens with no network at all.

    Returns
    -------
    str
        The HTML document.
    """
    use_vendored_assets(fmap)
    page = fmap.get_root().render()
    if asset_base is not None:
        base = asset_base.rstrip("/")
        page = _SCRIPT.sub(lambda m: f'<script src="{base}/{m.group(1)}"></script>', page)
        return _STYLE.sub(lambda m: f'<link rel="stylesheet" href="{base}/{m.group(1)}"/>', page)
    page = _SCRIPT.sub(lambda m: f"<script>{inline_js(m.group(1))}</script>", page)
    page = _STYLE.sub(lambda m: f"<style>{inline_css(m.group(1))}</style>", page)
    leftover = _EXTERNAL.search(page)
    if leftover or ASSET_SCHEME in page:
        raise MapAssetError(
            "the offline map would still load "
            f"{leftover.group(0) if leftover else ASSET_SCHEME!r}; every asset must be inlined"
        )
    return page


def save_html(fmap: folium.Map, path: Path | str, *, asset_base: str | None = None) -> Path:
    """Write :func:`render_html` of ``fmap`` to ``path`` (folders created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(fmap, asset_base=asset_base), encoding="utf-8")
    return target
