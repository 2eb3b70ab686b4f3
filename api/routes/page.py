"""The courier page at ``/`` and its scripts and styles under ``/static``.

Everything the page needs is served here (Leaflet is vendored), so the page works on a network
that reaches only this service. Asset URLs carry a version derived from the files, so the
browser may cache them for a day while a changed file is fetched at once.
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.deps import SettingsDep

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
VERSIONED_ASSETS = (
    "app.js",
    "app.css",
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
)
STATIC_CACHE_CONTROL = "public, max-age=86400"
TILES_META = '<meta name="locator-tiles" content="">'
VERSION_TOKEN = "__ASSET_VERSION__"

router = APIRouter(include_in_schema=False)


class CachedStaticFiles(StaticFiles):
    """Static files with a ``Cache-Control`` header on every successful answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = STATIC_CACHE_CONTROL
        return response


def asset_version(static_dir: Path = STATIC_DIR) -> str:
    """A short fingerprint of the page's scripts and styles (names, sizes, modification times).

    Parameters
    ----------
    static_dir : Path
        Folder holding the assets listed in ``VERSIONED_ASSETS``.

    Returns
    -------
    str
        Twelve hexadecimal digits that change whenever one of the assets changes.
    """
    digest = hashlib.sha256()
    for name in VERSIONED_ASSETS:
        stat = (static_dir / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:12]


def content_security_policy(tile_url: str) -> str:
    """The page's CSP: every script, style and request goes to this service (tiles excepted).

    Parameters
    ----------
    tile_url : str
        The configured tile URL template; when set, images may also come from other hosts.

    Returns
    -------
    str
        The ``Content-Security-Policy`` header value.
    """
    images = "'self' data: https: http:" if tile_url else "'self' data:"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def render_index(tile_url: str, static_dir: Path = STATIC_DIR) -> str:
    """The page's HTML with the tile URL and the asset version filled in.

    Parameters
    ----------
    tile_url : str
        XYZ tile URL template for the base map; empty for district outlines only.
    static_dir : Path
        Folder holding ``index.html`` and the assets.

    Returns
    -------
    str
        The HTML document.
    """
    template = (static_dir / "index.html").read_text(encoding="utf-8")
    tiles = f'<meta name="locator-tiles" content="{html.escape(tile_url, quote=True)}">'
    return template.replace(TILES_META, tiles).replace(VERSION_TOKEN, asset_version(static_dir))


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def courier_page(settings: SettingsDep) -> HTMLResponse:
    """The courier page: nearest stations on a list and a map, in Chinese or English."""
    return HTMLResponse(
        render_index(settings.tile_url),
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(settings.tile_url),
        },
    )


def mount_static(app: FastAPI) -> None:
    """Serve the page's scripts, styles and images under ``/static``.

    Parameters
    ----------
    app : FastAPI
        The application to mount the files on.
    """
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
