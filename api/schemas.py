"""Request and response models (pydantic), apart from the database tables."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """An error, as ``application/problem+json``."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None
    current: dict[str, Any] | None = Field(
        default=None, description="For a refused capacity change: the figures as they are."
    )


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    schema_revision: str | None


class Link(BaseModel):
    href: str
    rel: str
    type: str = "application/geo+json"


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=2, description="(lon, lat)")


class MultiPolygonGeometry(BaseModel):
    type: Literal["MultiPolygon"]
    coordinates: list[list[list[list[float]]]]


class UnitCapacity(BaseModel):
    maximum: int = Field(ge=0)
    occupied: int = Field(ge=0)
    reported_at: dt.datetime | None = Field(
        description="When the count was last reported; null when never reported (unknown)."
    )


class StationProperties(BaseModel):
    code: str
    name_zh: str
    name_en: str | None
    kind: str
    operator: str | None
    address: str | None
    district: str | None
    services: list[str]
    groups: list[str]
    opening_hours: str
    stars: int | None = Field(ge=1, le=5)
    stars_reviewed_on: dt.date | None
    status: str
    capacity: dict[str, UnitCapacity]
    source: str | None
    updated_at: dt.datetime


class StationFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry
    properties: StationProperties


class StationCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[StationFeature]
    numberMatched: int
    numberReturned: int
    links: list[Link]


class AreaProperties(BaseModel):
    code: str
    level: str
    name_zh: str
    name_en: str | None
    parent: str | None
    population: int | None
    source: str | None


class AreaFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: MultiPolygonGeometry
    properties: AreaProperties


class AreaCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]
    numberMatched: int
    numberReturned: int
    links: list[Link]


class Term(BaseModel):
    code: str
    zh: str
    en: str


class Vocabularies(BaseModel):
    kind: list[Term]
    service: list[Term]
    group: list[Term]
    unit: list[Term]
    status: list[Term]
    level: list[Term]
    site_type: list[Term]


class HoursOut(BaseModel):
    state: Literal["open", "closed", "unknown"]
    next_change: dt.datetime | None = Field(description="When the state next changes (local).")
    note: str | None


class UnitOut(BaseModel):
    maximum: int = Field(ge=0)
    occupied: int = Field(ge=0)
    held: int = Field(default=0, ge=0, description="Places held for someone on the way (beds).")
    free: int | None = Field(
        description="Free places (neither taken nor held); null when the count is unknown or stale."
    )
    reported_at: dt.datetime | None
    stale: bool


class NearestProperties(BaseModel):
    rank: int = Field(ge=1)
    code: str
    name_zh: str
    name_en: str | None
    kind: str
    operator: str | None
    address: str | None
    district: str | None
    services: list[str]
    groups: list[str]
    opening_hours: str
    stars: int | None
    distance_m: float = Field(ge=0, description="Geodesic (WGS-84 ellipsoid) distance.")
    bearing_deg: float = Field(
        ge=0, le=360, description="Direction from you, clockwise from north."
    )
    eta_min: float = Field(ge=0, description="Straight-line travel time at the mode's speed.")
    arrival: dt.datetime
    hours: HoursOut
    capacity: dict[str, UnitOut]
    room_known: bool = Field(description="False when the asked-for room is not confirmed fresh.")


class NearestFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry
    properties: NearestProperties


class NearestQueryOut(BaseModel):
    lon: float
    lat: float
    coordsys: str
    at: dt.datetime
    mode: str


class NearestCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[NearestFeature]
    query: NearestQueryOut


class UnitFiguresOut(BaseModel):
    station: str
    unit: str
    maximum: int = Field(ge=0)
    occupied: int = Field(ge=0)
    held: int = Field(ge=0)
    free: int = Field(ge=0)
    reported_at: dt.datetime | None


class CountIn(BaseModel):
    count: int = Field(ge=0, le=100_000, description="Places in use now (a head count).")


class MaximumIn(BaseModel):
    maximum: int = Field(ge=0, le=100_000, description="How many places the unit has.")


class HoldIn(BaseModel):
    unit: Literal["seat", "bed", "charger"] = "bed"
    minutes: float | None = Field(
        default=None, gt=0, le=1440, description="Until it expires; the default is a setting."
    )
    note: str | None = Field(default=None, max_length=200)


class HoldOut(BaseModel):
    id: int
    station: str
    unit: str
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str
    figures: UnitFiguresOut


class GbfsFeed(BaseModel):
    name: str
    url: str


class GbfsFeeds(BaseModel):
    feeds: list[GbfsFeed]


class GbfsDiscovery(BaseModel):
    last_updated: int
    ttl: int
    version: str
    data: dict[str, GbfsFeeds]


class GbfsStationInformation(BaseModel):
    station_id: str
    name: str
    name_en: str | None
    lat: float
    lon: float
    address: str | None
    kind: str
    operator: str | None
    district: str | None
    services: list[str]
    groups_served: list[str]
    opening_hours: str
    stars: int | None
    capacity: dict[str, int]


class GbfsInformationData(BaseModel):
    stations: list[GbfsStationInformation]


class GbfsInformation(BaseModel):
    last_updated: int
    ttl: int
    version: str
    data: GbfsInformationData


class GbfsUnitStatus(BaseModel):
    maximum: int
    available: int | None = Field(description="Free places; null when the count is stale.")
    last_reported: int | None = Field(description="POSIX seconds of the last count.")


class GbfsStationStatus(BaseModel):
    station_id: str
    is_open: bool | None = Field(description="Open now; null when the hours are unknown.")
    units: dict[str, GbfsUnitStatus]
    last_reported: int | None


class GbfsStatusData(BaseModel):
    stations: list[GbfsStationStatus]


class GbfsStatus(BaseModel):
    last_updated: int
    ttl: int
    version: str
    data: GbfsStatusData


class EventOut(BaseModel):
    id: int
    occurred_at: dt.datetime
    unit: str
    action: str
    delta: int | None
    occupied_after: int
    maximum_after: int
    actor: str


class HourProfileOut(BaseModel):
    hour_of_week: int = Field(ge=0, lt=168, description="0 = Monday 00:00-01:00, Beijing time")
    observed_h: float
    mean_occupied: float | None
    peak: int | None
    share_full: float | None


class HistoryOut(BaseModel):
    station: str
    since: dt.datetime
    until: dt.datetime
    events: list[EventOut]
    profile: dict[str, list[HourProfileOut]]


class CoverageOptionsOut(BaseModel):
    """The options a coverage answer was computed with."""

    radii_m: list[float]
    kinds: list[str]
    services: list[str]
    min_stars: int | None
    open_at: dt.datetime | None = Field(description="The time stations had to be open, if any.")
    privacy_k: int
    gap_threshold: int
    catchment_m: float
    description: str


class CoverageAnswer(BaseModel):
    """Coverage of worker homes by area: counts only, areas below ``privacy_k`` suppressed."""

    level: str
    data_date: dt.datetime
    options: CoverageOptionsOut
    totals: dict[str, float | int | bool | None]
    areas: list[dict[str, Any]]
    notes: list[str]


class GapsAnswer(BaseModel):
    """Gap areas (merged grid cells) or gap cells, ranked by uncovered workers."""

    data_date: dt.datetime
    options: CoverageOptionsOut
    gaps: list[dict[str, Any]]
