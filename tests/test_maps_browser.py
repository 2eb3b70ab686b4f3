"""The coverage maps opened in headless Chromium (Debian's ``chromium``, driven by Playwright),
as an analyst opens a file they were sent: from disk, with the network switched off.

Every request the page makes is recorded and refused; the offline file must make none at all.
Screenshots and the 150,000-station timings go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, Route, sync_playwright

from locator.coverage import CoverageOptions, CoverageReport
from locator.synthetic import national_stations
from maps.coverage import coverage_map
from maps.offline import asset_path, save_html
from tests.mapdata import hand_made_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 860}
BIG_STATIONS = 150_000
BIG_FILE_LIMIT_BYTES = 30 * 1024 * 1024
READY = ".leaflet-container[data-stations]"


def drawn_stations(page: Page) -> dict[str, int]:
    """Stations drawn in clusters and alone once the station layer shows the map's current
    view (it redraws at the end of every move)."""
    page.wait_for_function(
        """() => {
          const map = locatorStations.layer._map;
          return map.getContainer().dataset.stationsView === map.getBounds().toBBoxString();
        }"""
    )
    counts: dict[str, int] = page.evaluate(
        """() => {
          let clustered = 0, single = 0;
          locatorStations.layer.eachLayer((m) => {
            if (m.stationCount) clustered += m.stationCount; else single += 1;
          });
          return {clustered, single, markers: locatorStations.layer.getLayers().length};
        }"""
    )
    return counts


class Watched:
    """Console errors, uncaught exceptions and every request of one page but its own file
    (all refused)."""

    def __init__(self, page: Page, own_url: str) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.own_url = own_url
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", self.request)
        page.route("**/*", self.refuse)

    def request(self, request: Request) -> None:
        if request.url != self.own_url:
            self.requests.append(request.url)

    def refuse(self, route: Route) -> None:
        if route.request.url == self.own_url:
            route.continue_()  # the file itself, from disk
        else:
            self.requests.append(route.request.url)
            route.abort()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium; fails (never skips) when it is not installed."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/setup.sh (apt chromium)"
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


def open_offline(browser: Browser, path: Path) -> tuple[Page, Watched]:
    context = browser.new_context(viewport=DESKTOP, offline=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    watched = Watched(page, path.resolve().as_uri())
    page.goto(path.resolve().as_uri())
    page.wait_for_selector(READY, state="attached")
    return page, watched


def overlay_labels(page: Page) -> list[str]:
    return [
        t.strip() for t in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    ]


def toggle(page: Page, label_start: str) -> None:
    page.locator(".leaflet-control-layers-overlays label", has_text=label_start).locator(
        "input"
    ).click()


def hover(page: Page, lon: float, lat: float) -> None:
    """Move the mouse over a place on the map."""
    point = page.evaluate(
        "([lat, lon]) => { const m = locatorStations.layer._map;"
        " const p = m.latLngToContainerPoint([lat, lon]);"
        " const box = m.getContainer().getBoundingClientRect();"
        " return [box.left + p.x, box.top + p.y]; }",
        [lat, lon],
    )
    page.mouse.move(point[0] - 5, point[1] - 5)
    page.mouse.move(point[0], point[1])


def popup_of(page: Page, code: str) -> str:
    page.evaluate(
        "code => locatorStations.openPopup(locatorStations.data.code.indexOf(code))", code
    )
    popup = page.locator(f'.leaflet-popup .locator-popup[data-code="{code}"]')
    text = popup.inner_text()
    page.wait_for_timeout(300)  # let the map finish panning to the popup
    return text


def test_offline_map_opens_with_no_network(
    browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    path = save_html(
        coverage_map(hand_made_report(hour_of_week=22), offline=True), tmp_path / "m.html"
    )
    page, watched = open_offline(browser, path)

    # Layers: three area levels, heat, gaps, stations, catchments; controls around them.
    assert overlay_labels(page) == [
        "覆盖率·区 Coverage by district (2; 1 suppressed)",
        "覆盖率·街道/乡镇 Coverage by sub-district (4; 2 suppressed)",
        "覆盖率·网格 Coverage by grid cell (8; 4 suppressed)",
        "未覆盖劳动者热力 Uncovered workers (heat, 280)",
        "覆盖空白 Gap areas (1)",
        "驿站 Stations (6)",
        "服务半径 Catchment circles (500 m)",
    ]
    for control in (
        ".leaflet-control-zoom-fullscreen",
        ".leaflet-control-measure",
        ".leaflet-control-minimap",
        ".leaflet-control-scale",
        ".locator-legend",
    ):
        assert page.locator(control).count() == 1, control
    assert page.locator("img.leaflet-tile").count() == 0
    assert page.locator("path.locator-outline").count() == 2  # the base: district outlines

    # Stations: each drawn alone (six, far apart), coloured by state, shaped by kind.
    assert page.locator(".leaflet-marker-pane .locator-station").count() == 6
    assert page.locator(".leaflet-marker-pane .locator-cluster").count() == 0
    for kind, state, count in (
        ("smart_24h", "free", 1),
        ("union_post", "full", 1),
        ("shop_front", "stale", 1),
        ("union_post", "closed", 1),
        ("apartment", "free", 1),
        ("mobile", "stale", 1),
    ):
        assert page.locator(f".locator-station.kind-{kind}.state-{state}").count() == count
    assert page.locator(".locator-station.kind-smart_24h span").inner_text() == "24"

    # The shares: the east district suppressed and hatched; the gap drawn. Each level is
    # drawn when first shown.
    page.wait_for_selector(".leaflet-container[data-areasdistrict='2']", state="attached")
    areas = page.locator("path.locator-area")
    assert areas.count() == 2
    assert (
        page.locator("path.locator-area.suppressed").get_attribute("fill") == "url(#locator-hatch)"
    )
    assert page.locator("path.locator-gap").count() == 1
    hover(page, 116.49, 39.945)  # the east district, clear of stations and the gap
    tip = page.locator(".leaflet-tooltip .locator-area-tip").inner_text()
    assert tip.startswith("East区 East")
    assert "suppressed: fewer than 10 workers" in tip
    assert "7" not in tip  # its 7 workers are not shown
    hover(page, 116.31, 39.945)
    tip = page.locator(".leaflet-tooltip .locator-area-tip").inner_text()
    assert "62.0% (620 / 1,000 workers ≤ 500 m)" in tip
    toggle(page, "覆盖率·网格")
    page.wait_for_selector(".leaflet-container[data-areasgrid='8']", state="attached")
    assert page.locator("path.locator-area").count() == 2 + 8
    assert page.locator("path.locator-area.suppressed").count() == 1 + 4
    toggle(page, "未覆盖劳动者热力")
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    toggle(page, "服务半径")
    assert page.locator("path.locator-catchment").count() == 5  # the closed station counts not

    title = page.locator(".locator-title").inner_text()
    assert "workers within 500 m" in title
    assert "stations open Mon 22:00" in title
    assert "Data date: 2026-11-21 19:00 (Beijing)" in title
    assert "SYNTHETIC sample data" in title
    page.screenshot(path=artifacts / "coverage-map-offline.png")

    # Popups are built on click from the compact data: the sign in both languages.
    apartment = popup_of(page, "T-APT")
    for text in (
        "测试驿站<T-APT>",
        "Test & T-APT",
        "骑手公寓",
        "courier apartment",
        "★★★★☆",
        "外卖骑手",
        "delivery rider",
        "床位",
        "4/21",
        "11-21 18:55",
        "Mo-Fr 08:00-20:00",
        "热水",
        "hot water",
        "此时段开放",
    ):
        assert text in apartment, text
    page.screenshot(path=artifacts / "coverage-map-popup.png")
    stale = popup_of(page, "T-STALE")
    assert "unknown (count stale)" in stale
    assert "空位未知" in stale
    assert "closed at the map's time" in popup_of(page, "T-CLOSED")

    assert watched.errors == []
    assert watched.requests == []


def big_report() -> CoverageReport:
    """150,000 SYNTHETIC stations over China and nothing else: the size and speed case."""
    features = national_stations(BIG_STATIONS)
    frame = pd.DataFrame([f["properties"] for f in features])
    lon, lat = zip(*(f["geometry"]["coordinates"] for f in features), strict=True)
    stations = gpd.GeoDataFrame(
        frame.assign(
            seat_max=frame["seats"],
            seat_free=None,
            bed_max=frame["beds"],
            bed_free=None,
            charger_max=frame["chargers"],
            charger_free=None,
            open=frame["status"] == "active",
        ),
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    no_gaps = gpd.GeoDataFrame(
        {"rank": [], "uncovered_workers": [], "cells": []}, geometry=[], crs=4326
    )
    return CoverageReport(
        options=CoverageOptions(),
        data_date=dt.datetime(2026, 11, 21, 11, tzinfo=dt.UTC),
        totals={},
        areas={},
        gaps=no_gaps,
        gap_cells=no_gaps,
        heat=pd.DataFrame({"lon": [], "lat": [], "workers": []}),
        stations=stations,
    )


def test_150000_stations_stay_small_and_usable(
    browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    report = big_report()
    started = time.perf_counter()
    path = save_html(coverage_map(report, offline=True), tmp_path / "national.html")
    built_s = time.perf_counter() - started
    size = path.stat().st_size
    assert size < BIG_FILE_LIMIT_BYTES

    opened = time.perf_counter()
    page, watched = open_offline(browser, path)
    ready_s = time.perf_counter() - opened
    timings: dict[str, Any] = page.evaluate(
        """() => ({
          first_paint_ms: performance.getEntriesByName("first-contentful-paint")[0].startTime,
          stations_ready_ms: performance.getEntriesByName("locator-stations-ready")[0].startTime,
        })"""
    )
    # The whole country in view: every station is in a cluster or drawn alone.
    counts = drawn_stations(page)
    assert counts["clustered"] + counts["single"] == BIG_STATIONS
    assert 10 <= page.locator(".leaflet-marker-pane .locator-cluster").count() <= 200
    assert page.locator(".leaflet-marker-pane .leaflet-marker-icon").count() == counts["markers"]
    page.screenshot(path=artifacts / "coverage-map-150k.png")

    # Zoomed into a street of Beijing: single stations, and their popups.
    page.evaluate(
        "() => locatorStations.layer._map.setView([39.9087, 116.3975], 17, {animate: false})"
    )
    page.wait_for_function("() => document.querySelectorAll('.locator-station').length > 0")
    code = page.evaluate(
        """() => {
          const single = locatorStations.layer.getLayers().find((m) => m.stationIndex >= 0);
          return locatorStations.data.code[single.stationIndex];
        }"""
    )
    assert code.startswith("CN-")
    assert code in popup_of(page, code)
    page.screenshot(path=artifacts / "coverage-map-150k-beijing.png")
    measured = {
        "stations": BIG_STATIONS,
        "file_bytes": size,
        "build_s": round(built_s, 2),
        "open_to_ready_s": round(ready_s, 2),
        **{k: round(v) for k, v in timings.items()},
        **counts,
    }
    (artifacts / "coverage-map-150k.json").write_text(json.dumps(measured, indent=1))
    print(f"\n150,000-station map: {measured}")
    assert watched.errors == []
    assert watched.requests == []


def test_online_map_draws_the_configured_tiles(browser: Browser, tmp_path: Path) -> None:
    tiles = "https://tiles.example/{z}/{x}/{y}.png"
    path = save_html(coverage_map(hand_made_report(), tile_url=tiles), tmp_path / "online.html")
    png = asset_path("leaflet/images/layers.png").read_bytes()
    served: list[str] = []

    def tile(route: Route) -> None:  # a "tile server" inside the test: no network used
        served.append(route.request.url)
        route.fulfill(body=png, content_type="image/png")

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    watched = Watched(page, path.resolve().as_uri())
    page.route("https://tiles.example/**", tile)
    page.goto(path.resolve().as_uri())
    page.wait_for_selector(READY, state="attached")
    page.wait_for_selector(".leaflet-tile-pane img.leaflet-tile-loaded")
    page.wait_for_selector(".leaflet-control-minimap img.leaflet-tile-loaded")
    assert served
    assert all(re.fullmatch(r"https://tiles\.example/\d+/\d+/\d+\.png", url) for url in served)
    assert page.locator("path.locator-outline").count() == 0  # tiles replace the outlines
    assert watched.errors == []
    # Scripts and styles are still inlined: nothing but tiles is fetched, no CDN.
    assert [url for url in watched.requests if not url.startswith("https://tiles.example/")] == []
    context.close()
