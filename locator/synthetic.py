"""Synthetic national-scale data for benchmarks: SYNTHETIC stations spread over mainland China.

No public list of real station locations exists, so national benchmarks run on a generated set:
about 300 city centres (a hard-coded list of big cities with rough populations, plus smaller
towns drawn around them), stations placed around each centre in proportion to its population,
and station attributes (kind, services, groups, hours, stars, capacity) drawn with the mix of
the Beijing sample (``data/beijing/stations.synthetic.geojson.gz``). Everything comes from
``numpy.random.default_rng(seed)``, so a seed always gives the same data; every point lies
inside a rough outline of mainland China and Hainan (lon 75-135, lat 18-53).

The pieces are general on purpose, so that later national benchmarks (worker homes, coverage)
can reuse them: :func:`city_centres`, :func:`points_near_centres`, :func:`on_land`,
:func:`query_points`, and :func:`write_geojson`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

log = logging.getLogger(__name__)

DEFAULT_SEED = 2026
SOURCE = "synthetic national benchmark set"
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEG_LAT = 111.195

# (lon, lat) outline of mainland China, rough (tens of km), clipped to lon >= 75 and lat <= 53;
# it only keeps generated points on land-ish ground, it is no border.
_MAINLAND = (
    (121.5, 53.0), (123.5, 53.0), (126.0, 52.5), (127.0, 50.5), (127.5, 50.2), (129.5, 49.4),
    (130.7, 48.9), (132.5, 47.8), (134.7, 48.3), (134.2, 47.2), (133.1, 45.1), (131.0, 44.9),
    (131.2, 43.0), (130.6, 42.4), (129.5, 42.4), (128.1, 41.5), (126.5, 41.7), (125.3, 40.6),
    (124.3, 39.9), (123.0, 39.6), (121.9, 39.0), (121.2, 38.75), (121.5, 39.3), (122.2, 40.5),
    (121.8, 40.9), (121.0, 40.8), (120.0, 40.0), (119.5, 39.8), (118.9, 39.2), (118.3, 39.0),
    (117.7, 38.9), (117.6, 38.3), (118.3, 38.1), (119.2, 37.7), (119.1, 37.2), (119.9, 37.3),
    (120.7, 37.8), (121.4, 37.6), (122.6, 37.4), (122.0, 37.0), (121.0, 36.6), (120.7, 36.1),
    (120.2, 35.9), (119.5, 35.4), (119.3, 34.7), (120.3, 33.8), (120.9, 32.6), (121.9, 31.8),
    (121.9, 30.9), (121.0, 30.6), (120.5, 30.3), (121.6, 30.0), (122.1, 29.9), (121.9, 29.0),
    (121.5, 28.3), (120.7, 27.5), (120.2, 26.7), (119.6, 26.0), (119.6, 25.5), (118.9, 24.9),
    (118.1, 24.4), (117.2, 23.6), (116.7, 23.25), (115.5, 22.7), (114.3, 22.3), (113.5, 22.1),
    (112.0, 21.7), (110.8, 21.3), (110.4, 21.0), (110.1, 20.3), (109.7, 20.9), (109.7, 21.5),
    (108.5, 21.6), (108.0, 21.5), (106.7, 22.0), (105.5, 23.2), (104.0, 22.7), (103.0, 22.5),
    (102.1, 22.4), (101.7, 21.2), (101.1, 21.6), (100.2, 21.5), (99.2, 22.1), (99.5, 22.9),
    (98.8, 23.2), (97.6, 23.9), (97.8, 24.8), (98.7, 25.9), (98.6, 27.6), (97.6, 28.4),
    (96.5, 28.5), (95.4, 29.0), (94.0, 28.9), (92.0, 27.8), (90.0, 28.2), (88.9, 27.3),
    (88.1, 27.9), (86.5, 28.0), (84.5, 28.7), (82.0, 30.1), (81.0, 30.3), (79.3, 31.0),
    (78.7, 31.9), (78.8, 33.0), (79.5, 34.5), (78.0, 35.5), (77.0, 35.6), (75.5, 36.5),
    (75.0, 37.0), (75.0, 40.3), (76.5, 40.4), (78.5, 41.3), (80.2, 42.2), (80.2, 43.0),
    (80.4, 44.2), (80.3, 45.0), (82.5, 45.2), (82.5, 46.5), (83.0, 47.2), (85.5, 47.1),
    (86.0, 48.5), (87.3, 49.1), (88.5, 48.3), (90.0, 47.8), (91.0, 46.5), (90.9, 45.3),
    (93.5, 44.9), (95.4, 44.3), (96.4, 42.7), (100.0, 42.6), (103.0, 41.9), (105.0, 41.6),
    (107.0, 42.4), (109.5, 42.5), (112.0, 43.7), (113.6, 44.7), (116.0, 45.7), (117.4, 46.6),
    (119.7, 46.7), (118.6, 47.9), (117.8, 47.7), (117.3, 47.7), (117.4, 49.6), (119.3, 50.2),
    (120.5, 51.9),
)  # fmt: skip
_HAINAN = (
    (108.6, 19.2), (108.7, 18.5), (109.6, 18.2), (110.5, 18.7), (111.0, 19.6), (110.7, 20.1),
    (109.9, 20.1), (109.2, 19.9),
)  # fmt: skip
CHINA_LAND = shapely.MultiPolygon([shapely.Polygon(_MAINLAND), shapely.Polygon(_HAINAN)])
"""Rough outline of mainland China and Hainan in WGS-84 (lon, lat)."""
shapely.prepare(CHINA_LAND)

# Big cities: (English name, Chinese name, lon, lat, rough urban population in millions).
_BIG_CITIES = (
    ("Shanghai", "上海", 121.47, 31.23, 24.9), ("Beijing", "北京", 116.40, 39.90, 21.9),
    ("Chongqing", "重庆", 106.55, 29.56, 16.0), ("Guangzhou", "广州", 113.26, 23.13, 18.7),
    ("Shenzhen", "深圳", 114.06, 22.54, 17.6), ("Chengdu", "成都", 104.07, 30.67, 21.0),
    ("Tianjin", "天津", 117.20, 39.13, 13.9), ("Wuhan", "武汉", 114.30, 30.59, 12.3),
    ("Xi'an", "西安", 108.94, 34.34, 12.9), ("Hangzhou", "杭州", 120.16, 30.27, 12.2),
    ("Dongguan", "东莞", 113.75, 23.02, 10.5), ("Suzhou", "苏州", 120.62, 31.30, 12.7),
    ("Zhengzhou", "郑州", 113.62, 34.75, 12.6), ("Nanjing", "南京", 118.80, 32.06, 9.3),
    ("Shenyang", "沈阳", 123.43, 41.80, 9.1), ("Qingdao", "青岛", 120.38, 36.07, 10.1),
    ("Harbin", "哈尔滨", 126.63, 45.75, 10.0), ("Changsha", "长沙", 112.94, 28.23, 10.0),
    ("Hefei", "合肥", 117.23, 31.82, 9.4), ("Jinan", "济南", 117.12, 36.65, 9.2),
    ("Foshan", "佛山", 113.12, 23.02, 9.5), ("Kunming", "昆明", 102.83, 24.88, 8.5),
    ("Shijiazhuang", "石家庄", 114.51, 38.04, 11.2), ("Dalian", "大连", 121.61, 38.91, 7.5),
    ("Xiamen", "厦门", 118.09, 24.48, 5.2), ("Fuzhou", "福州", 119.30, 26.08, 8.3),
    ("Ningbo", "宁波", 121.55, 29.87, 9.4), ("Wuxi", "无锡", 120.31, 31.49, 7.5),
    ("Changchun", "长春", 125.32, 43.82, 9.1), ("Nanning", "南宁", 108.37, 22.82, 8.8),
    ("Nanchang", "南昌", 115.86, 28.68, 6.3), ("Taiyuan", "太原", 112.55, 37.87, 5.3),
    ("Guiyang", "贵阳", 106.63, 26.65, 6.0), ("Urumqi", "乌鲁木齐", 87.62, 43.83, 4.1),
    ("Lanzhou", "兰州", 103.83, 36.06, 4.4), ("Hohhot", "呼和浩特", 111.75, 40.84, 3.4),
    ("Yinchuan", "银川", 106.23, 38.49, 2.9), ("Xining", "西宁", 101.78, 36.62, 2.5),
    ("Lhasa", "拉萨", 91.13, 29.65, 0.9), ("Haikou", "海口", 110.35, 20.02, 2.9),
    ("Sanya", "三亚", 109.51, 18.30, 1.0), ("Wenzhou", "温州", 120.70, 28.00, 9.6),
    ("Quanzhou", "泉州", 118.68, 24.87, 8.8), ("Xuzhou", "徐州", 117.28, 34.20, 9.0),
    ("Linyi", "临沂", 118.36, 35.10, 11.0), ("Weifang", "潍坊", 119.16, 36.71, 9.4),
    ("Tangshan", "唐山", 118.18, 39.63, 7.7), ("Baoding", "保定", 115.46, 38.87, 9.2),
    ("Handan", "邯郸", 114.49, 36.61, 9.4), ("Luoyang", "洛阳", 112.45, 34.62, 7.1),
    ("Nanyang", "南阳", 112.53, 33.00, 9.7), ("Shantou", "汕头", 116.68, 23.35, 5.5),
    ("Zhuhai", "珠海", 113.58, 22.27, 2.4), ("Huizhou", "惠州", 114.42, 23.11, 6.0),
    ("Jiangmen", "江门", 113.08, 22.58, 4.8), ("Zhanjiang", "湛江", 110.36, 21.27, 7.0),
    ("Liuzhou", "柳州", 109.41, 24.33, 4.2), ("Guilin", "桂林", 110.29, 25.27, 4.9),
    ("Zunyi", "遵义", 106.93, 27.73, 6.6), ("Mianyang", "绵阳", 104.68, 31.47, 4.9),
    ("Nanchong", "南充", 106.11, 30.84, 5.6), ("Yichang", "宜昌", 111.29, 30.69, 4.0),
    ("Xiangyang", "襄阳", 112.14, 32.04, 5.3), ("Ganzhou", "赣州", 114.93, 25.83, 9.0),
    ("Changzhou", "常州", 119.97, 31.81, 5.3), ("Nantong", "南通", 120.86, 32.01, 7.7),
    ("Yangzhou", "扬州", 119.41, 32.39, 4.6), ("Shaoxing", "绍兴", 120.58, 30.00, 5.3),
    ("Jinhua", "金华", 119.65, 29.08, 7.0), ("Taizhou", "台州", 121.42, 28.66, 6.6),
    ("Yantai", "烟台", 121.45, 37.46, 7.1), ("Zibo", "淄博", 118.05, 36.81, 4.7),
    ("Jining", "济宁", 116.59, 35.41, 8.4), ("Datong", "大同", 113.30, 40.08, 3.1),
    ("Baotou", "包头", 109.84, 40.66, 2.7), ("Anshan", "鞍山", 122.99, 41.11, 3.3),
    ("Jilin", "吉林", 126.55, 43.84, 3.6), ("Daqing", "大庆", 125.10, 46.59, 2.8),
    ("Qiqihar", "齐齐哈尔", 123.92, 47.35, 4.1), ("Mudanjiang", "牡丹江", 129.63, 44.55, 2.3),
    ("Kashgar", "喀什", 75.99, 39.47, 0.7), ("Yining", "伊宁", 81.32, 43.92, 0.6),
    ("Korla", "库尔勒", 86.15, 41.76, 0.6), ("Hami", "哈密", 93.51, 42.82, 0.6),
    ("Jiuquan", "酒泉", 98.49, 39.73, 1.1), ("Tianshui", "天水", 105.72, 34.58, 3.0),
    ("Baoji", "宝鸡", 107.24, 34.36, 3.3), ("Yulin", "榆林", 109.73, 38.29, 3.6),
    ("Ordos", "鄂尔多斯", 109.78, 39.61, 2.2), ("Chifeng", "赤峰", 118.89, 42.26, 4.0),
    ("Hailar", "海拉尔", 119.76, 49.21, 2.2), ("Golmud", "格尔木", 94.90, 36.40, 0.2),
    ("Shigatse", "日喀则", 88.88, 29.27, 0.8), ("Dali", "大理", 100.27, 25.61, 3.3),
    ("Qujing", "曲靖", 103.80, 25.49, 5.8), ("Wuhu", "芜湖", 118.38, 31.33, 3.6),
    ("Bengbu", "蚌埠", 117.39, 32.92, 3.3), ("Fuyang", "阜阳", 115.81, 32.89, 8.2),
    ("Anqing", "安庆", 117.06, 30.54, 4.2), ("Jiujiang", "九江", 116.00, 29.71, 4.6),
    ("Shangrao", "上饶", 117.94, 28.45, 6.5), ("Hengyang", "衡阳", 112.57, 26.89, 6.6),
    ("Yueyang", "岳阳", 113.13, 29.36, 5.1), ("Changde", "常德", 111.69, 29.03, 5.3),
    ("Huaihua", "怀化", 109.98, 27.55, 4.6), ("Zhuzhou", "株洲", 113.13, 27.83, 3.9),
)  # fmt: skip


@dataclass(frozen=True)
class CityCentre:
    """A centre around which synthetic points cluster.

    Attributes
    ----------
    code : str
        ``C001`` ... for big cities, ``T001`` ... for the smaller towns drawn around them.
    name_zh, name_en : str
        Names (the towns' names say which city they are near).
    lon, lat : float
        Centre (WGS-84).
    population_m : float
        Rough population in millions: the weight of the centre.
    spread_km : float
        Standard deviation of the distance of the centre's points from it, per axis.
    """

    code: str
    name_zh: str
    name_en: str
    lon: float
    lat: float
    population_m: float
    spread_km: float


def _spread_km(population_m: float) -> float:
    return 3.0 + 3.5 * float(np.sqrt(population_m))


def on_land(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether each (lon, lat) lies inside the rough outline :data:`CHINA_LAND`."""
    return np.asarray(shapely.contains_xy(CHINA_LAND, lon, lat), dtype=bool)


def _offset(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    east_km: npt.NDArray[np.float64],
    north_km: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Move points by (east, north) kilometres (a local flat approximation)."""
    new_lat = lat + north_km / KM_PER_DEG_LAT
    new_lon = lon + east_km / (KM_PER_DEG_LAT * np.cos(np.radians(lat)))
    return new_lon, new_lat


def city_centres(seed: int = DEFAULT_SEED, *, count: int = 300) -> list[CityCentre]:
    """About ``count`` centres: the big cities, then smaller towns drawn around them.

    The towns (``count`` minus the number of big cities) lie 20-300 km from a big city chosen
    with weight sqrt(population), on land, with populations of 0.2-2 million.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same centres.
    count : int
        Total number of centres; at least the number of big cities (those always come first).
    """
    big = [
        CityCentre(f"C{i:03d}", zh, en, lon, lat, pop, _spread_km(pop))
        for i, (en, zh, lon, lat, pop) in enumerate(_BIG_CITIES, start=1)
    ]
    if count < len(big):
        raise ValueError(f"count {count!r} must be at least {len(big)} (the big cities)")
    rng = np.random.default_rng([seed, 1])
    weights = np.sqrt([c.population_m for c in big])
    weights /= weights.sum()
    towns: list[CityCentre] = []
    while len(towns) < count - len(big):
        parent = big[int(rng.choice(len(big), p=weights))]
        distance_km = rng.uniform(20.0, 300.0)
        angle = rng.uniform(0.0, 2 * np.pi)
        lon, lat = _offset(
            np.array([parent.lon]),
            np.array([parent.lat]),
            np.array([distance_km * np.cos(angle)]),
            np.array([distance_km * np.sin(angle)]),
        )
        if not on_land(lon, lat)[0]:
            continue
        population = float(np.clip(rng.lognormal(np.log(0.6), 0.6), 0.2, 2.0))
        number = len(towns) + 1
        towns.append(
            CityCentre(
                f"T{number:03d}",
                f"{parent.name_zh}周边{number}号镇",
                f"Town {number} near {parent.name_en}",
                round(float(lon[0]), 4),
                round(float(lat[0]), 4),
                round(population, 2),
                _spread_km(population),
            )
        )
    return big + towns


def points_near_centres(
    centres: list[CityCentre],
    n: int,
    *,
    rng: np.random.Generator,
    suburb_share: float = 0.25,
    suburb_factor: float = 2.5,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``n`` points clustered around ``centres`` in proportion to their population.

    Each point falls around its centre with a normal offset of ``spread_km`` per axis, or
    ``suburb_factor`` times that for a ``suburb_share`` of points; points off land are drawn
    again.

    Returns
    -------
    lon, lat : ndarray
        Coordinates (WGS-84).
    centre : ndarray of int
        Index into ``centres`` of each point's centre.
    """
    population = np.array([c.population_m for c in centres], dtype=float)
    centre = rng.choice(len(centres), size=n, p=population / population.sum())
    centre_lon = np.array([c.lon for c in centres])[centre]
    centre_lat = np.array([c.lat for c in centres])[centre]
    spread = np.array([c.spread_km for c in centres])[centre]
    spread = np.where(rng.random(n) < suburb_share, spread * suburb_factor, spread)
    lon = np.empty(n)
    lat = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        east, north = rng.normal(size=(2, todo.size)) * spread[todo]
        x, y = _offset(centre_lon[todo], centre_lat[todo], east, north)
        lon[todo], lat[todo] = x, y
        todo = todo[~on_land(x, y)]
    return lon, lat, centre


def query_points(
    n: int,
    *,
    seed: int = DEFAULT_SEED + 1,
    centres: list[CityCentre] | None = None,
    background_share: float = 0.1,
) -> npt.NDArray[np.float64]:
    """``n`` (lon, lat) rows where couriers ask: mostly around centres, some anywhere on land.

    Parameters
    ----------
    n : int
        Number of points.
    seed : int
        Seed of the generator (distinct from the stations' seed by default).
    centres : list of CityCentre, optional
        Centres to cluster around; :func:`city_centres` of ``seed`` when not given.
    background_share : float
        Share of points drawn uniformly on land, far from any city.
    """
    rng = np.random.default_rng([seed, 3])
    centres = centres if centres is not None else city_centres(seed)
    lon, lat, _ = points_near_centres(centres, n, rng=rng)
    background = np.flatnonzero(rng.random(n) < background_share)
    xmin, ymin, xmax, ymax = CHINA_LAND.bounds
    while background.size:
        x = rng.uniform(xmin, xmax, background.size)
        y = rng.uniform(ymin, ymax, background.size)
        inside = on_land(x, y)
        lon[background[inside]], lat[background[inside]] = x[inside], y[inside]
        background = background[~inside]
    return np.column_stack([lon, lat])


# -- station attributes: the mix of the Beijing sample --------------------------------------------
@dataclass(frozen=True)
class _KindMix:
    """How one station kind looks in the Beijing sample."""

    share: float
    hours: dict[str, float]
    services: dict[str, float]
    groups: dict[str, float]
    stars: tuple[float, float, float, float, float]
    seats: tuple[int, int]
    beds: tuple[int, int]
    chargers_share: float


_GROUPS_COMMON = {
    "delivery_rider": 0.96,
    "courier": 0.95,
    "sanitation_worker": 0.95,
    "ride_hailing_driver": 0.31,
    "taxi_driver": 0.2,
    "truck_driver": 0.12,
    "security_guard": 0.1,
    "construction_worker": 0.1,
}
_KINDS: dict[str, _KindMix] = {
    "union_post": _KindMix(
        share=0.473,
        hours={"Mo-Fr 09:00-18:00; PH off": 0.6, "Mo-Sa 08:30-17:30; PH off": 0.4},
        services={
            "phone_charging": 1.0, "rest_area": 1.0, "hot_water": 0.94, "heating": 0.85,
            "first_aid": 0.8, "microwave": 0.7, "air_conditioning": 0.6, "restroom": 0.55,
            "wifi": 0.51, "drinking_water": 0.5, "rain_gear": 0.46, "ebike_charging": 0.42,
            "reading": 0.3, "repair_tools": 0.26, "lockers": 0.1,
        },
        groups=_GROUPS_COMMON,
        stars=(0.025, 0.088, 0.406, 0.379, 0.102),
        seats=(6, 20),
        beds=(0, 0),
        chargers_share=0.42,
    ),
    "shop_front": _KindMix(
        share=0.362,
        hours={
            "Mo-Su 10:00-22:00": 0.385, "Mo-Su 07:00-20:00": 0.314,
            "Tu-Su 09:00-21:00": 0.255, "Mo-Su 18:00-02:00": 0.046,
        },
        services={
            "phone_charging": 1.0, "rest_area": 1.0, "hot_water": 0.9, "heating": 0.76,
            "air_conditioning": 0.6, "microwave": 0.56, "first_aid": 0.56,
            "drinking_water": 0.5, "wifi": 0.44, "restroom": 0.41, "ebike_charging": 0.38,
            "rain_gear": 0.35, "repair_tools": 0.11, "lockers": 0.05, "reading": 0.05,
        },
        groups=_GROUPS_COMMON,
        stars=(0.033, 0.095, 0.391, 0.382, 0.099),
        seats=(4, 10),
        beds=(0, 0),
        chargers_share=0.38,
    ),
    "smart_24h": _KindMix(
        share=0.112,
        hours={"24/7": 1.0},
        services={
            "phone_charging": 1.0, "restroom": 1.0, "rest_area": 1.0, "hot_water": 0.97,
            "heating": 0.94, "first_aid": 0.9, "air_conditioning": 0.9, "wifi": 0.89,
            "microwave": 0.8, "ebike_charging": 0.69, "lockers": 0.62, "drinking_water": 0.62,
            "rain_gear": 0.49, "repair_tools": 0.43, "reading": 0.19,
        },
        groups=_GROUPS_COMMON,
        stars=(0.029, 0.091, 0.407, 0.376, 0.097),
        seats=(6, 12),
        beds=(0, 0),
        chargers_share=0.69,
    ),
    "mobile": _KindMix(
        share=0.050,
        hours={"Mo-Fr 10:00-16:00": 1.0},
        services={
            "phone_charging": 1.0, "rest_area": 1.0, "hot_water": 0.84, "first_aid": 0.67,
            "drinking_water": 0.61, "heating": 0.54, "rain_gear": 0.37,
            "air_conditioning": 0.29, "repair_tools": 0.28, "ebike_charging": 0.21,
            "microwave": 0.21, "wifi": 0.18, "restroom": 0.1, "reading": 0.1,
        },
        groups=_GROUPS_COMMON,
        stars=(0.021, 0.101, 0.442, 0.333, 0.103),
        seats=(4, 8),
        beds=(0, 0),
        chargers_share=0.21,
    ),
    "apartment": _KindMix(
        share=0.003,
        hours={"24/7": 1.0},
        services={
            "hot_water": 1.0, "phone_charging": 1.0, "ebike_charging": 1.0, "microwave": 1.0,
            "restroom": 1.0, "rest_area": 1.0, "heating": 1.0, "air_conditioning": 1.0,
            "beds": 1.0, "first_aid": 1.0, "wifi": 1.0, "lockers": 0.75,
            "drinking_water": 0.69, "repair_tools": 0.53, "rain_gear": 0.44, "reading": 0.41,
        },
        groups=_GROUPS_COMMON,
        stars=(0.0, 0.19, 0.19, 0.5, 0.12),
        seats=(4, 8),
        beds=(10, 40),
        chargers_share=1.0,
    ),
}  # fmt: skip
_STATUSES = {"active": 0.97, "suspended": 0.021, "closed": 0.009}
_BRANDS = (
    ("美团", "Meituan"),
    ("京东物流", "JD Logistics"),
    ("顺丰速运", "SF Express"),
    ("饿了么", "Ele.me"),
    ("中国石化", "Sinopec"),
)
_BANKS = (("中国工商银行", "ICBC"), ("中国建设银行", "China Construction Bank"))
_SHOPS = (
    ("便利店", "Convenience Store"),
    ("饺子馆", "Dumpling House"),
    ("理发店", "Barber Shop"),
    ("超市", "Supermarket"),
    ("药店", "Pharmacy"),
    ("水果店", "Fruit Shop"),
)
_SURNAMES = (("张", "Zhang"), ("王", "Wang"), ("李", "Li"), ("刘", "Liu"), ("杨", "Yang"))
_ROADS = (
    ("人民路", "Renmin Road"),
    ("解放路", "Jiefang Road"),
    ("中山路", "Zhongshan Road"),
    ("建设路", "Jianshe Road"),
    ("和平路", "Heping Road"),
    ("新华路", "Xinhua Road"),
    ("文化路", "Wenhua Road"),
    ("胜利路", "Shengli Road"),
    ("长江路", "Changjiang Road"),
    ("黄河路", "Huanghe Road"),
    ("东风路", "Dongfeng Road"),
    ("朝阳路", "Chaoyang Road"),
)
_REVIEW_START = dt.date(2025, 1, 1)
_REVIEW_DAYS = (dt.date(2026, 11, 1) - _REVIEW_START).days


def _pick(rng: np.random.Generator, table: dict[str, float], n: int) -> npt.NDArray[np.str_]:
    labels = list(table)
    weights = np.array(list(table.values()), dtype=float)
    return np.asarray(labels)[rng.choice(len(labels), size=n, p=weights / weights.sum())]


def _subsets(rng: np.random.Generator, table: dict[str, float], n: int) -> list[list[str]]:
    labels = list(table)
    chosen = rng.random((n, len(labels))) < np.array(list(table.values()))
    return [[labels[j] for j in np.flatnonzero(row)] for row in chosen]


def national_stations(
    n: int, *, seed: int = DEFAULT_SEED, centres: list[CityCentre] | None = None
) -> list[dict[str, Any]]:
    """``n`` SYNTHETIC stations over mainland China as GeoJSON features.

    Stations cluster around :func:`city_centres` in proportion to population; kinds, hours,
    services, groups, stars, status and capacity follow the mix of the Beijing sample. The
    properties are those of the Beijing sample file (``district`` is None: the loader fills it
    from the districts loaded, if any) with ``source`` = :data:`SOURCE`.

    Parameters
    ----------
    n : int
        Number of stations (codes ``CN-<centre>-<serial>`` are unique).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed and ``n`` give the same stations.
    centres : list of CityCentre, optional
        Centres to cluster around; :func:`city_centres` of ``seed`` when not given.
    """
    if n < 0:
        raise ValueError(f"n {n!r} must not be negative")
    centres = centres if centres is not None else city_centres(seed)
    rng = np.random.default_rng([seed, 2])
    lon, lat, centre = points_near_centres(centres, n, rng=rng)
    kinds = _pick(rng, {k: m.share for k, m in _KINDS.items()}, n)
    statuses = _pick(rng, _STATUSES, n)
    numbers = rng.integers(1, 1000, size=(n, 4))
    reviewed = rng.integers(0, _REVIEW_DAYS, size=n)
    attributes: dict[str, list[Any]] = {}
    for kind, mix in _KINDS.items():
        rows = np.flatnonzero(kinds == kind)
        attributes[kind] = list(
            zip(
                _pick(rng, mix.hours, rows.size),
                _subsets(rng, mix.services, rows.size),
                _subsets(rng, mix.groups, rows.size),
                rng.choice(5, size=rows.size, p=np.array(mix.stars) / sum(mix.stars)) + 1,
                rng.integers(mix.seats[0], mix.seats[1] + 1, size=rows.size),
                rng.integers(mix.beds[0], mix.beds[1] + 1, size=rows.size),
                np.where(
                    rng.random(rows.size) < mix.chargers_share,
                    rng.integers(2, 13, size=rows.size),
                    0,
                ),
                strict=True,
            )
        )
    per_centre: dict[int, int] = {}
    taken = {kind: 0 for kind in _KINDS}
    features = []
    for i in range(n):
        kind = str(kinds[i])
        hours, services, groups, stars, seats, beds, chargers = attributes[kind][taken[kind]]
        taken[kind] += 1
        city = centres[int(centre[i])]
        serial = per_centre[int(centre[i])] = per_centre.get(int(centre[i]), 0) + 1
        names = _names(kind, city, serial, numbers[i])
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(float(lon[i]), 6), round(float(lat[i]), 6)],
                },
                "properties": {
                    "code": f"CN-{city.code}-{serial:05d}",
                    **names,
                    "kind": kind,
                    "district": None,
                    "services": services,
                    "groups": groups,
                    "opening_hours": str(hours),
                    "stars": int(stars),
                    "stars_reviewed_on": (
                        _REVIEW_START + dt.timedelta(days=int(reviewed[i]))
                    ).isoformat(),
                    "status": str(statuses[i]),
                    "seats": int(seats),
                    "beds": int(beds),
                    "chargers": int(chargers),
                    "source": SOURCE,
                },
            }
        )
    return features


def _names(
    kind: str, city: CityCentre, serial: int, numbers: npt.NDArray[np.int64]
) -> dict[str, str]:
    """Name, operator and address of one station, from a few small pick lists."""
    road_zh, road_en = _ROADS[int(numbers[0]) % len(_ROADS)]
    house = int(numbers[1])
    union = f"{city.name_zh}总工会", f"{city.name_en} Federation of Trade Unions"
    choice = int(numbers[2]) % 10
    if kind == "shop_front" and choice < 4:
        surname_zh, surname_en = _SURNAMES[int(numbers[3]) % len(_SURNAMES)]
        shop_zh, shop_en = _SHOPS[int(numbers[3]) % len(_SHOPS)]
        operator = f"{surname_zh}记{shop_zh}", f"{surname_en}'s {shop_en}"
    elif kind in {"shop_front", "smart_24h", "apartment"} and choice < 8:
        operator = _BRANDS[int(numbers[3]) % len(_BRANDS)]
    elif kind == "union_post" and choice < 2:
        operator = _BANKS[choice]
    else:
        operator = union
    label_zh, label_en = (
        ("骑手公寓", "Courier Apartment")
        if kind == "apartment"
        else ("暖心驿站", "Warm-Heart Station")
    )
    return {
        "name_zh": f"{operator[0]}{label_zh}（{road_zh}{serial}）",
        "name_en": f"{operator[1]} {label_en} ({road_en} {serial})",
        "operator": operator[0],
        "address": f"{city.name_zh}{road_zh}{house}号",
    }


def write_geojson(
    path: Path | str,
    features: list[dict[str, Any]],
    *,
    name: str = "stations",
    description: str = "SYNTHETIC data for benchmarks: plausible, not real locations.",
) -> Path:
    """Write ``features`` as a GeoJSON FeatureCollection marked ``"synthetic": true``.

    A path ending in ``.gz`` is gzip-compressed. Returns the path.
    """
    path = Path(path)
    document = {
        "type": "FeatureCollection",
        "name": name,
        "synthetic": True,
        "description": description,
        "features": features,
    }
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if path.suffix == ".gz":
        with gzip.open(path, "wb", compresslevel=5) as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    log.info("wrote %d synthetic features to %s", len(features), path)
    return path


def national_homes(
    n: int, *, seed: int = DEFAULT_SEED, centres: list[CityCentre] | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """``n`` SYNTHETIC worker homes over mainland China, for coverage benchmarks.

    Homes cluster around the same :func:`city_centres` as :func:`national_stations`, in
    proportion to population; each holds 1 to 8 workers.

    Returns
    -------
    lon, lat : ndarray
        Coordinates (WGS-84), rounded to 6 decimals like the sample files.
    workers : ndarray of int32
        Workers per home.
    """
    rng = np.random.default_rng([seed, 5])
    lon, lat, _ = points_near_centres(centres or city_centres(seed), n, rng=rng)
    workers = rng.integers(1, 9, size=n).astype(np.int32)
    return np.round(lon, 6), np.round(lat, 6), workers
