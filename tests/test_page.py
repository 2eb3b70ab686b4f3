"""The courier page at ``/``, opened in headless Chromium as a courier would open it.

The real service runs with uvicorn on a free port of 127.0.0.1, on the Beijing sample; Debian's
``chromium`` is driven by Playwright (its PyPI wheel ships the driver, no browser download).
Every answer the page shows is checked against ``/v1/nearest`` called directly with the same
parameters the page sent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    sync_playwright,
)
from sqlalchemy import Engine

from api.main import create_app
from locator import vocab
from locator.config import Settings
from locator.crs import wgs84_to_gcj02
from tests.live import running_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIANANMEN = {"longitude": 116.3975, "latitude": 39.9087}
PHONE = {"width": 390, "height": 844}
FIRST_LOAD_BUDGET_BYTES = 300_000
# Bytes moved by the first load: the page, its scripts and styles, and the first API answers;
# the district outlines (a decoration loaded alongside) are left out, as the budget says.
FIRST_LOAD_JS = """() => {
  const entries = [performance.getEntriesByType("navigation")[0]]
    .concat(performance.getEntriesByType("resource"))
    .filter((e) => !e.name.includes("/v1/districts"));
  return entries.map((e) => [e.name, e.transferSize]);
}"""


@dataclass
class Watch:
    """What a page did: console errors, uncaught exceptions and every request it made."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location})")

    def page_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")

    def request(self, request: Request) -> None:
        self.requests.append(request.url)


def sample_settings(engine: Engine, state_dir: Path, **options: Any) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        state_dir=state_dir,
        **options,
    )


@pytest.fixture(scope="module")
def service(sample_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on the Beijing sample, without tiles (the default)."""
    settings = sample_settings(sample_engine, tmp_path_factory.mktemp("page-state"))
    with running_service(settings) as base:
        yield base


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


def phone_context(browser: Browser, *, located: bool) -> BrowserContext:
    """A phone-sized context, in Beijing at Tiananmen when ``located``, else with no location."""
    options: dict[str, Any] = {
        "viewport": PHONE,
        "device_scale_factor": 2,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "service_workers": "block",
    }
    if located:
        options.update(geolocation=TIANANMEN, permissions=["geolocation"])
    return browser.new_context(**options)


def watched_page(context: BrowserContext) -> tuple[Page, Watch]:
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch = Watch()
    page.on("console", watch.console)
    page.on("pageerror", watch.page_error)
    page.on("request", watch.request)
    return page, watch


def is_nearest(response: Response) -> bool:
    return urlsplit(response.url).path == "/v1/nearest"


def sent_params(response: Response) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(response.url).query)


def api_nearest(base: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    """``/v1/nearest`` called directly, with exactly the parameters the page sent."""
    answer = httpx.get(f"{base}/v1/nearest", params=tuple(params), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_until_idle(page: Page) -> None:
    """Wait until the page has rendered its last answer."""
    page.wait_for_function("() => !document.body.classList.contains('busy')")


def listed_codes(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#results > li.station", "nodes => nodes.map(n => n.dataset.code)"
    )


def test_courier_page_lists_and_maps_the_nearest_stations(
    service: str, browser: Browser, artifacts: Path
) -> None:
    context = phone_context(browser, located=True)
    page, watch = watched_page(context)
    with page.expect_response(is_nearest) as first:
        page.goto(f"{service}/")
    params = sent_params(first.value)
    assert dict(params) == {
        "lon": "116.397500",
        "lat": "39.908700",
        "k": "10",
        "mode": "ebike",
        "coordsys": "wgs84",
    }
    expected = api_nearest(service, params)["features"]
    page.wait_for_selector("#results > li.station")
    page.wait_for_selector("path.district", state="attached")
    page.wait_for_load_state("networkidle")
    wait_until_idle(page)

    # The list: the same stations as the API, in the same order, nearest first.
    assert len(expected) == 10
    assert listed_codes(page) == [f["id"] for f in expected]
    assert page.get_attribute("html", "lang") == "zh-CN"
    top, item = expected[0]["properties"], page.locator("#results > li.station").first
    assert item.locator(".name").inner_text() == top["name_zh"]
    assert top["distance_m"] < 1000
    assert item.locator(".distance").inner_text() == f"{round(top['distance_m'])} 米"
    assert item.locator(f".hours.hours-{top['hours']['state']}").count() == 1
    services = item.locator("li.service")
    assert [services.nth(i).get_attribute("data-service") for i in range(services.count())] == (
        top["services"]
    )
    assert [services.nth(i).get_attribute("aria-label") for i in range(services.count())] == [
        vocab.SERVICES[code][0] for code in top["services"]
    ]
    assert item.locator("li.unit").count() == len(top["capacity"])
    if top["stars"]:
        assert item.locator(".stars").get_attribute("aria-label") == f"{top['stars']} 星级驿站"

    # Navigation: Amap in GCJ-02, and a geo: URI in WGS-84 for other phones.
    lon, lat = expected[0]["geometry"]["coordinates"]
    amap = urlsplit(item.locator("a.nav-amap").get_attribute("href") or "")
    assert (amap.scheme, amap.netloc, amap.path) == ("https", "uri.amap.com", "/marker")
    query = {key: values[0] for key, values in parse_qs(amap.query).items()}
    gcj_lon, gcj_lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    assert [float(v) for v in query["position"].split(",")] == pytest.approx(
        [gcj_lon, gcj_lat], abs=1e-6
    )
    assert abs(gcj_lon - lon) > 1e-3  # the offset was really applied
    assert (query["name"], query["coordinate"], query["callnative"]) == (
        top["name_zh"],
        "gaode",
        "1",
    )
    geo = item.locator("a.nav-geo").get_attribute("href") or ""
    assert geo.startswith(f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}(")

    # The map: one marker per listed station, the first highlighted, and "you".
    markers = page.locator(".leaflet-marker-pane .station-marker")
    assert markers.count() == len(expected)
    assert page.locator(".station-marker.is-first").inner_text() == "1"
    assert page.locator(".leaflet-marker-pane .you-marker").count() == 1
    assert page.locator("path.district").count() == 16
    assert page.locator("img.leaflet-tile").count() == 0  # no tile server unless configured

    # The first load stays small.
    loaded = page.evaluate(FIRST_LOAD_JS)
    assert all(size > 0 for _, size in loaded), loaded
    first_load = sum(size for _, size in loaded)
    (artifacts / "courier-page-first-load.json").write_text(
        json.dumps({"total_bytes": first_load, "entries": loaded}, indent=1)
    )
    assert first_load < FIRST_LOAD_BUDGET_BYTES, loaded
    page.screenshot(path=artifacts / "courier-page.png")

    # English: every label changes, and the choice is remembered.
    page.click("#lang")
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator('.chip[data-filter="phone_charging"] [data-i18n]').inner_text() == (
        "Phone charging"
    )
    assert item.locator(".name").inner_text() == (top["name_en"] or top["name_zh"])
    assert item.locator("a.nav-amap").inner_text().strip().endswith("Navigate")
    assert services.first.get_attribute("aria-label") == vocab.SERVICES[top["services"][0]][1]
    assert page.locator("#status").inner_text().startswith("The 10 nearest stations")
    page.screenshot(path=artifacts / "courier-page-en.png")
    page.reload()
    page.wait_for_selector("#results > li.station")
    wait_until_idle(page)
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("#lang").inner_text() == "中文"

    # The bed chip asks again and lists only stations with beds.
    with page.expect_response(is_nearest) as bed:
        page.click('.chip[data-filter="bed"]')
    params = sent_params(bed.value)
    assert ("unit", "bed") in params
    assert ("free", "1") in params
    wait_until_idle(page)
    with_beds = api_nearest(service, params)["features"]
    assert with_beds
    assert all(f["properties"]["capacity"]["bed"]["maximum"] >= 1 for f in with_beds)
    assert listed_codes(page) == [f["id"] for f in with_beds]
    assert (
        page.locator("#results > li.station").count()
        == page.locator("#results li.unit[data-unit=bed]").count()
    )
    assert page.locator(".leaflet-marker-pane .station-marker").count() == len(with_beds)
    assert page.get_attribute('.chip[data-filter="bed"]', "aria-pressed") == "true"

    assert watch.errors == []
    assert [url for url in watch.requests if not url.startswith(f"{service}/")] == []
    context.close()


def test_without_location_a_tap_on_the_map_sets_the_point(
    service: str, browser: Browser, artifacts: Path
) -> None:
    context = phone_context(browser, located=False)
    page, watch = watched_page(context)
    page.goto(f"{service}/")
    status = page.wait_for_selector("#status.warn")
    assert status is not None
    assert "在地图上点一下" in status.inner_text()
    assert page.locator("#results > li.station").count() == 0
    page.wait_for_selector("path.district", state="attached")
    page.screenshot(path=artifacts / "courier-page-no-location.png")

    box = page.locator("#map").bounding_box()
    assert box is not None
    with page.expect_response(is_nearest) as answer:
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6)
    params = sent_params(answer.value)
    sent = dict(params)
    assert float(sent["lon"]) == pytest.approx(116.4, abs=0.3)
    assert float(sent["lat"]) == pytest.approx(39.93, abs=0.3)
    wait_until_idle(page)
    expected = api_nearest(service, params)["features"]
    assert expected
    assert listed_codes(page) == [f["id"] for f in expected]
    assert page.locator(".leaflet-marker-pane .you-marker").count() == 1
    assert "按地图选点" in page.locator("#status").inner_text()
    assert watch.errors == []
    assert [url for url in watch.requests if not url.startswith(f"{service}/")] == []
    context.close()


def test_api_problems_are_shown_with_their_detail(service: str, browser: Browser) -> None:
    # The service itself answers a bad question; the page must show the problem's detail.
    bad = f"{service}/v1/nearest?lon=500&lat=39.9"
    problem = httpx.get(bad, timeout=30)
    assert problem.status_code == 422
    assert problem.headers["content-type"].startswith("application/problem+json")
    detail = problem.json()["detail"]

    context = phone_context(browser, located=True)
    page, watch = watched_page(context)
    page.route("**/v1/nearest?*", lambda route: route.continue_(url=bad))
    page.goto(f"{service}/")
    status = page.wait_for_selector("#status.error")
    assert status is not None
    assert status.inner_text() == f"出错了：{detail}"
    assert page.locator("#results > li.station").count() == 0
    # The browser reports the refused request itself; nothing else may go wrong.
    assert [e for e in watch.errors if "status of 422" not in e] == []
    context.close()


def test_fresh_counts_show_free_places_and_their_age(service: str, browser: Browser) -> None:
    # The sample has no reported counts; give the first station a count made 3 minutes ago.
    reported = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3, seconds=10)

    def fresh_count(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        seat = body["features"][0]["properties"]["capacity"]["seat"]
        seat.update(occupied=seat["maximum"] - 5, free=5, stale=False)
        seat["reported_at"] = reported.isoformat()
        route.fulfill(response=response, json=body)

    context = phone_context(browser, located=True)
    page, watch = watched_page(context)
    page.route("**/v1/nearest?*", fresh_count)
    page.goto(f"{service}/")
    page.wait_for_selector("#results > li.station")
    wait_until_idle(page)
    seats = page.locator("#results > li.station").first.locator('li.unit[data-unit="seat"]')
    assert re.fullmatch(r"座位 空 5/\d+ · 3 分钟前", seats.inner_text())
    assert "has-room" in (seats.get_attribute("class") or "")
    page.click("#lang")
    assert re.fullmatch(r"Seats 5 free of \d+ · 3 min ago", seats.inner_text())
    assert watch.errors == []
    context.close()


def test_tiles_appear_only_when_configured(
    sample_engine: Engine, browser: Browser, tmp_path: Path
) -> None:
    # A "tile server" on the service itself, so that the test stays on 127.0.0.1.
    tiles = "/static/vendor/leaflet/images/layers.png?z={z}&x={x}&y={y}"
    settings = sample_settings(sample_engine, tmp_path, tile_url=tiles)
    with running_service(settings) as base:
        context = phone_context(browser, located=True)
        page, watch = watched_page(context)
        page.goto(f"{base}/")
        page.wait_for_selector("#results > li.station")
        page.wait_for_selector("img.leaflet-tile-loaded")
        assert page.get_attribute('meta[name="locator-tiles"]', "content") == tiles
        assert any("/images/layers.png?z=" in url for url in watch.requests)
        assert watch.errors == []
        assert [url for url in watch.requests if not url.startswith(f"{base}/")] == []
        context.close()


def test_page_route_fills_the_template_and_caches_assets(engine: Engine, tmp_path: Path) -> None:
    tiles = 'https://tiles.example/{z}/{x}/{y}.png?key=a&style="light"'
    with TestClient(create_app(sample_settings(engine, tmp_path, tile_url=tiles))) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        assert "img-src 'self' data: https: http:" in page.headers["content-security-policy"]
        assert (
            '<meta name="locator-tiles" content="https://tiles.example/{z}/{x}/{y}.png'
            '?key=a&amp;style=&quot;light&quot;">' in page.text
        )
        assert "__ASSET_VERSION__" not in page.text
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
        assert len(assets) == 4
        for asset in assets:
            answer = client.get(asset)
            assert answer.status_code == 200, asset
            assert answer.headers["cache-control"] == "public, max-age=86400"
        assert client.head("/").status_code == 200
        assert client.get("/static/vendor/leaflet/LICENSE").status_code == 200
        assert client.get("/static/nothing.js").status_code == 404
        assert "/" not in client.get("/openapi.json").json()["paths"]

    with TestClient(create_app(sample_settings(engine, tmp_path))) as client:
        page = client.get("/")
        assert '<meta name="locator-tiles" content="">' in page.text
        policy = page.headers["content-security-policy"]
        assert "img-src 'self' data:;" in policy
        assert "connect-src 'self'" in policy
