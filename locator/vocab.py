"""Controlled vocabularies: station kinds, services, groups served, capacity units, statuses.

Each vocabulary maps a stable code (stored in the database and used in files and the API) to
its Chinese and English labels. The database enforces the same codes with CHECK constraints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Labels = Mapping[str, tuple[str, str]]

KINDS: Labels = {
    "smart_24h": ("24小时智能驿站", "24-hour smart station"),
    "union_post": ("工会驿站", "union post"),
    "shop_front": ("临街驿站", "shop-front corner"),
    "mobile": ("移动职工之家", "mobile station"),
    "apartment": ("骑手公寓", "courier apartment"),
}

SERVICES: Labels = {
    "hot_water": ("热水", "hot water"),
    "drinking_water": ("饮用水", "drinking water"),
    "phone_charging": ("手机充电", "phone charging"),
    "ebike_charging": ("电动车充电", "e-bike charging"),
    "microwave": ("微波炉热饭", "microwave"),
    "restroom": ("卫生间", "restroom"),
    "rest_area": ("休息座椅", "rest seats"),
    "heating": ("取暖", "heating"),
    "air_conditioning": ("空调", "air conditioning"),
    "beds": ("床位", "beds"),
    "first_aid": ("急救药箱", "first-aid kit"),
    "rain_gear": ("雨具", "rain gear"),
    "wifi": ("无线网络", "Wi-Fi"),
    "repair_tools": ("维修工具", "repair tools"),
    "reading": ("阅读", "reading corner"),
    "lockers": ("储物柜", "lockers"),
}

GROUPS: Labels = {
    "delivery_rider": ("外卖骑手", "delivery rider"),
    "courier": ("快递员", "courier"),
    "sanitation_worker": ("环卫工人", "sanitation worker"),
    "ride_hailing_driver": ("网约车司机", "ride-hailing driver"),
    "truck_driver": ("货车司机", "truck driver"),
    "taxi_driver": ("出租车司机", "taxi driver"),
    "security_guard": ("保安", "security guard"),
    "construction_worker": ("建筑工人", "construction worker"),
}

UNITS: Labels = {
    "seat": ("座位", "seat"),
    "bed": ("床位", "bed"),
    "charger": ("充电位", "charger"),
}

STATUSES: Labels = {
    "active": ("运营中", "active"),
    "suspended": ("暂停", "suspended"),
    "closed": ("已关闭", "closed"),
}

AREA_LEVELS: Labels = {
    "district": ("区", "district"),
    "subdistrict": ("街道/乡镇", "sub-district"),
    "grid": ("网格", "grid cell"),
}

SITE_TYPES: Labels = {
    "subway_entrance": ("地铁口", "subway entrance"),
    "street": ("街边", "street side"),
    "shop": ("商铺", "shop"),
    "public_building": ("公共建筑", "public building"),
    "other": ("其他", "other"),
}

VOCABULARIES: dict[str, Labels] = {
    "kind": KINDS,
    "service": SERVICES,
    "group": GROUPS,
    "unit": UNITS,
    "status": STATUSES,
    "level": AREA_LEVELS,
    "site_type": SITE_TYPES,
}


def unknown_terms(values: Iterable[str], vocabulary: Labels) -> list[str]:
    """Return the values that are not codes of ``vocabulary``, in their given order."""
    return [v for v in values if v not in vocabulary]


def sql_in_list(vocabulary: Labels) -> str:
    """Render the codes of ``vocabulary`` as a SQL literal list for CHECK constraints."""
    return ", ".join(f"'{code}'" for code in vocabulary)
