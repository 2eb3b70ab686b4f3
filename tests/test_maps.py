"""The map builders on the hand-made report (tests/mapdata.py): station states, popups' data,
area colours and suppression, title, legend, and the vendored, inlined assets."""

from __future__ import annotations

import base64
import gzip
import json
import re

import folium
import pytest
from folium.plugins import MarkerCluster

from locator import vocab
from maps import layers
from maps.coverage import MapOptionError, coverage_map, time_slice, title_lines
from maps.offline import MapAssetError, asset_path, render_html
from tests.mapdata import DATA_DATE, hand_made_report, stations_frame


@pytest.mark.parametrize(
    ("open_now", "units", "state"),
    [
        (False, [(8, 3)], "closed"),  # closed wins over free places
        (True, [(8, 3), (0, None)], "free"),
        (None, [(5, 0), (21, 4)], "free"),  # one unit with room is enough
        (True, [(5, 0)], "full"),
        (True, [(5, 0), (2, 0)], "full"),
        (True, [(5, 0), (21, None)], "stale"),  # an unknown count is never "full" nor "free"
        (True, [(6, None)], "stale"),
        (True, [(0, None), (0, None)], "stale"),  # no places at all: nothing to count
    ],
)
def test_station_state(open_now: bool | None, units: list, state: str) -> None:
    assert layers.station_state(open_now, units) == state


def test_station_payload_holds_each_popup_field() -> None:
    payload = layers.station_payload(stations_frame())
    codes = payload["code"]
    states = list(layers.STATES)
    assert payload["n"] == 6
    assert {code: states[payload["state"][i]] for i, code in enumerate(codes)} == {
        "T-FREE": "free",
        "T-FULL": "full",
        "T-STALE": "stale",
        "T-CLOSED": "closed",
        "T-APT": "free",
        "T-MOBILE": "stale",
    }
    apt = codes.index("T-APT")
    assert list(vocab.KINDS)[payload["kind"][apt]] == "apartment"
    assert payload["zh"][apt] == "测试驿站<T-APT>"
    assert payload["en"][apt] == "Test & T-APT"
    assert payload["units"]["bed"]["max"][apt] == 21
    assert payload["units"]["bed"]["free"][apt] == 4
    assert payload["units"]["bed"]["at"][apt] == "11-21 18:55"  # Beijing time of the report
    stale = codes.index("T-STALE")
    assert payload["units"]["seat"]["free"][stale] is None
    assert payload["units"]["seat"]["at"][stale] is None
    services = [c for bit, c in enumerate(vocab.SERVICES) if payload["svc"][apt] & 2**bit]
    assert services == ["hot_water", "phone_charging", "beds"]
    groups = [c for bit, c in enumerate(vocab.GROUPS) if payload["grp"][apt] & 2**bit]
    assert groups == ["delivery_rider", "courier"]
    assert payload["hoursTable"] == ["Mo-Fr 08:00-20:00"]
    assert payload["open"] == [True, True, True, False, True, None]
    assert payload["stars"][codes.index("T-STALE")] == 0
    assert (payload["lon"][0], payload["lat"][0]) == (116.32, 39.91)


def test_encoded_payload_is_gzipped_json() -> None:
    payload = layers.station_payload(stations_frame())
    decoded = json.loads(gzip.decompress(base64.b64decode(layers.encode_payload(payload))))
    assert decoded == json.loads(json.dumps(payload))


@pytest.mark.parametrize(
    ("share", "colour_class"), [(0.0, 0), (0.1999, 0), (0.2, 1), (0.62, 3), (0.8, 4), (1.0, 4)]
)
def test_share_colour_classes(share: float, colour_class: int) -> None:
    assert layers.share_colour(share) == layers.SHARE_COLOURS[colour_class]


def test_area_properties_hide_every_figure_of_a_suppressed_area() -> None:
    districts = hand_made_report().areas["district"].drop(columns="geometry")
    west, east = districts.to_dict("records")
    shown = layers.area_properties(west, radius_m=500, privacy_k=10)
    assert shown == {
        "area": "West区 West",
        "coverage": "62.0% (620 / 1,000 workers ≤ 500 m)",
        "stations": "3",
        "distance": "平均 mean 420 m · P90 910 m",
        "access": "0.0125",
        "suppressed": False,
        "fill": layers.SHARE_COLOURS[3],
    }
    assert layers.area_properties(west, radius_m=1000, privacy_k=10)["coverage"].startswith(
        "90.0% (900 / 1,000"
    )
    hidden = layers.area_properties(east, radius_m=500, privacy_k=10)
    assert hidden["suppressed"] is True
    assert hidden["fill"] == layers.HATCH
    assert hidden["coverage"] == "不足10人，不显示 · suppressed: fewer than 10 workers"
    assert (hidden["distance"], hidden["access"]) == ("—", "—")
    assert not re.search(r"\b[1-9]\b", hidden["coverage"].replace("10", ""))


def test_legend_names_states_kinds_classes_and_suppression() -> None:
    legend = layers.legend_html(radius_m=1000, privacy_k=25)
    for code, (zh, _en, colour) in layers.STATES.items():
        assert f'data-state="{code}"' in legend
        assert colour in legend
        assert zh in legend
    for code, (zh, en) in vocab.KINDS.items():
        assert f'data-kind="{code}"><span class="glyph">{layers.KIND_GLYPHS[code]}</span>' in legend
        assert f"{zh} {en}" in legend
    assert all(colour in legend for colour in layers.SHARE_COLOURS)
    assert "Workers within 1,000 m" in legend
    assert "80%–100%" in legend
    assert "suppressed: fewer than 25 workers" in legend
    assert f'fill="{layers.HATCH}"' in legend


def test_time_slice_in_words() -> None:
    assert time_slice(hand_made_report().options).startswith("全部时段 · all hours")
    assert time_slice(hand_made_report(hour_of_week=22).options) == (
        "周一 22:00 开放的驿站 · stations open Mon 22:00"
    )
    assert time_slice(hand_made_report(hour_of_week=6 * 24 + 7).options).endswith("Sun 07:00")
    assert time_slice(hand_made_report(hour_of_week=22, holiday=True).options).endswith(
        "stations open on a public holiday at 22:00"
    )
    assert time_slice(hand_made_report(open_at=DATA_DATE).options).endswith(
        "stations open at 2026-11-21 19:00 (Beijing time)"
    )


def test_title_says_radius_slice_filters_date_and_totals() -> None:
    report = hand_made_report(kinds=("smart_24h",), services=("microwave",), min_stars=3)
    heading, lines = title_lines(report, radius_m=500)
    assert heading == "暖心驿站覆盖 · Warm-station coverage: workers within 500 m"
    assert lines == [
        "全部时段 · all hours (opening hours not applied)",
        "空白与热力 Gaps and heat: workers uncovered within 1,000 m",
        "计入驿站 Stations counted — kinds: 24-hour smart station; services: microwave; "
        "at least 3 stars",
        "数据日期 Data date: 2026-11-21 19:00 (Beijing) · 6 驿站 stations",
        "覆盖 Covered: 61.9% of 1,007 workers",
    ]


def test_title_block_escapes_and_marks_synthetic_data() -> None:
    page = render_html(coverage_map(hand_made_report(), offline=True))
    assert "SYNTHETIC sample data" in page
    page = render_html(coverage_map(hand_made_report(), offline=True, synthetic=False))
    assert "SYNTHETIC sample data" not in page


def test_map_refuses_a_radius_or_level_the_report_lacks() -> None:
    report = hand_made_report()
    with pytest.raises(
        MapOptionError,
        match=r"radius_m 750 was not computed; the report has "
        r"radii \[500.0, 1000.0\]",
    ):
        coverage_map(report, radius_m=750)
    del report.areas["grid"]
    with pytest.raises(
        MapOptionError,
        match=r"level 'grid' is not in the report; it holds "
        r"\['district', 'subdistrict'\]",
    ):
        coverage_map(report, level="grid")


def test_offline_html_inlines_everything() -> None:
    page = render_html(coverage_map(hand_made_report(), offline=True))
    assert "Leaflet 1.9.4" in page  # the courier page's copy, inlined
    assert not re.search(r"<(script|link|img)\b[^>]*(src|href)=\"(https?:)?//", page)
    assert '<link rel="stylesheet"' not in page
    assert "cdn." not in page and "jsdelivr" not in page and "cloudflare" not in page
    assert "jquery" not in page.lower()
    assert "url(images/" not in page and 'url("assets/' not in page  # images as data URIs
    assert page.count("data:image/png;base64,") >= 3
    assert 'L.tileLayer("http' not in page
    assert len(page.encode()) < 600_000


def test_linked_html_points_at_the_service() -> None:
    fmap = coverage_map(hand_made_report(), tile_url="/tiles/{z}/{x}/{y}.png")
    page = render_html(fmap, asset_base="/v1/maps/assets/")
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts[0] == "/v1/maps/assets/leaflet/leaflet.js"  # Leaflet before its plugins
    assert sorted(scripts) == [
        "/v1/maps/assets/leaflet/leaflet.js",
        "/v1/maps/assets/static/locator-map.js",
        "/v1/maps/assets/vendor/fullscreen/Control.FullScreen.js",
        "/v1/maps/assets/vendor/heat/leaflet-heat.js",
        "/v1/maps/assets/vendor/measure/leaflet-measure.js",
        "/v1/maps/assets/vendor/minimap/Control.MiniMap.min.js",
        "/v1/maps/assets/vendor/supercluster/supercluster.min.js",
    ]
    for url in scripts + re.findall(r'<link rel="stylesheet" href="([^"]+)"', page):
        assert asset_path(url.removeprefix("/v1/maps/assets/")).is_file()
    assert '"/tiles/{z}/{x}/{y}.png"' in page


def test_an_asset_not_vendored_is_refused() -> None:
    fmap = coverage_map(hand_made_report(), offline=True)
    MarkerCluster().add_to(fmap)
    with pytest.raises(MapAssetError, match="map asset 'markerclusterjs' is not vendored"):
        render_html(fmap)


@pytest.mark.parametrize(
    "key", ["vendor/../offline.py", "leaflet/../../main.py", "etc/passwd", "vendor/", "static/x.js"]
)
def test_asset_path_stays_in_the_asset_folders(key: str) -> None:
    with pytest.raises(MapAssetError):
        asset_path(key)


def test_layers_in_the_control() -> None:
    fmap = coverage_map(hand_made_report())
    names = [
        child.layer_name
        for child in fmap._children.values()
        if isinstance(child, folium.map.Layer) and child.control
    ]
    assert names == [
        "覆盖率·区 Coverage by district (2; 1 suppressed)",
        "覆盖率·街道/乡镇 Coverage by sub-district (4; 2 suppressed)",
        "覆盖率·网格 Coverage by grid cell (8; 4 suppressed)",
        "未覆盖劳动者热力 Uncovered workers (heat, 280)",
        "覆盖空白 Gap areas (1)",
        "驿站 Stations (6)",
        "服务半径 Catchment circles (500 m)",
    ]
