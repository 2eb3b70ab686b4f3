"""The coverage map of the Beijing sample as the service and the command line make it: served
by the real service and opened in headless Chromium (every request must go to the service),
the offline download, problems for bad options, and ``locator map coverage``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright
from sqlalchemy import Engine
from typer.testing import CliRunner

from locator.cli import app
from locator.config import Settings
from tests.live import running_service
from tests.test_maps_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, READY, drawn_stations

NIGHT = "hour_of_week=22"  # Monday 22:00: the night-time map


@pytest.fixture(scope="module")
def service(sample_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on the Beijing sample, without tiles (the default)."""
    settings = Settings(
        database_url=sample_engine.url.render_as_string(hide_password=False),
        state_dir=tmp_path_factory.mktemp("maps-state"),
    )
    with running_service(settings) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/setup.sh (apt chromium)"
    driver: Playwright
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_served_map_of_the_sample(service: str, browser: Browser, artifacts: Path) -> None:
    url = f"{service}/v1/maps/coverage.html?{NIGHT}"
    page_html = httpx.get(url, timeout=120)
    assert page_html.status_code == 200
    assert page_html.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(assets/[^"]+)"', page_html.text)
    assert len(assets) >= 8
    for asset in assets:
        answer = httpx.get(f"{service}/v1/maps/{asset}", timeout=30)
        assert answer.status_code == 200, asset
        assert answer.headers["cache-control"] == "public, max-age=86400"

    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_selector(READY, state="attached")
    page.wait_for_selector(".leaflet-container[data-areasdistrict='16']", state="attached")
    label = page.locator(".leaflet-control-layers-overlays label", has_text="驿站 Stations")
    stations = int(re.search(r"\(([\d,]+)\)", label.inner_text())[1].replace(",", ""))
    assert 1000 < stations < 10_553  # only stations open on Monday at 22:00 count
    counts = drawn_stations(page)
    assert counts["clustered"] + counts["single"] == stations  # all of Beijing is in view
    assert page.locator(".leaflet-marker-pane .locator-cluster").count() >= 20
    assert page.locator("path.locator-area").count() == 16
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert [label.strip().split(" (")[0] for label in labels] == [
        "覆盖率·区 Coverage by district",
        "覆盖率·街道/乡镇 Coverage by sub-district",
        "覆盖率·网格 Coverage by grid cell",
        "未覆盖劳动者热力 Uncovered workers",
        "覆盖空白 Gap areas",
        "驿站 Stations",
        "服务半径 Catchment circles",
    ]
    title = page.locator(".locator-title").inner_text()
    assert "stations open Mon 22:00" in title
    assert "SYNTHETIC sample data" in title
    page.screenshot(path=artifacts / "coverage-map-beijing-night.png")
    assert errors == []
    assert [r for r in requests if not r.startswith(f"{service}/v1/maps/")] == []
    context.close()

    # The offline download: the same map, inlined, as a file.
    offline = httpx.get(f"{url}&offline=true", timeout=120)
    assert offline.status_code == 200
    assert offline.headers["content-disposition"] == (
        'attachment; filename="coverage-offline.html"'
    )
    assert "<script src=" not in offline.text and '<link rel="stylesheet"' not in offline.text


def test_map_problems(service: str) -> None:
    bad_radius = httpx.get(f"{service}/v1/maps/coverage.html?show_radius=750", timeout=120)
    assert bad_radius.status_code == 422
    assert bad_radius.headers["content-type"] == "application/problem+json"
    assert bad_radius.json()["detail"] == (
        "radius_m 750.0 was not computed; the report has radii [500.0, 1000.0]"
    )
    bad_level = httpx.get(f"{service}/v1/maps/coverage.html?level=street", timeout=30)
    assert bad_level.status_code == 422
    assert "level 'street'" in bad_level.json()["detail"]
    for key in ("vendor/../offline.py", "nothing.js", "static/../../pyproject.toml"):
        missing = httpx.get(f"{service}/v1/maps/assets/{key}", timeout=30)
        assert missing.status_code == 404, key
        assert missing.headers["content-type"] == "application/problem+json"


def test_map_command_writes_one_offline_file(
    sample_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LOCATOR_DATABASE_URL", sample_engine.url.render_as_string(hide_password=False)
    )
    out = tmp_path / "maps" / "night.html"
    result = CliRunner().invoke(
        app,
        [
            "map",
            "coverage",
            "--offline",
            "--hour-of-week",
            "22",
            "--radius",
            "1000",
            "--level",
            "subdistrict",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in result.output.replace("\n", "")
    assert out.resolve().as_uri() in result.output.replace("\n", "")
    text = out.read_text()
    assert "<script src=" not in text and '<link rel="stylesheet"' not in text
    assert "workers within 1,000 m" in text
    bad = CliRunner().invoke(app, ["map", "coverage", "--show-radius", "300", "--out", str(out)])
    assert bad.exit_code != 0
    assert "radius_m 300.0 was not computed" in str(bad.exception)
