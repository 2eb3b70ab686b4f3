"""Database tables (SQLAlchemy 2 + GeoAlchemy2). The schema itself is made by Alembic migrations.

Geometries are WGS-84 (SRID 4326), points ordered (lon, lat). Vocabulary columns are text with
CHECK constraints listing the codes of :mod:`locator.vocab`.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from locator import vocab
from locator.crs import WGS84

EVENT_ACTIONS = (
    "load",
    "check_in",
    "check_out",
    "set_count",
    "set_maximum",
    "hold",
    "hold_released",
    "hold_expired",
)


class Base(DeclarativeBase):
    pass


def _point() -> Geometry:
    return Geometry("POINT", srid=WGS84, spatial_index=False)


class Station(Base):
    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    operator: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    district_code: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(_point(), nullable=False)
    geog = mapped_column(
        Geography("POINT", srid=WGS84, spatial_index=False),
        Computed("(geom)::geography", persisted=True),
    )
    services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    groups: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    opening_hours: Mapped[str] = mapped_column(Text)
    stars: Mapped[int | None] = mapped_column(SmallInteger)
    # Units with places (maximum > 0), kept by triggers on station_capacity (migration 0007)
    units: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    stars_reviewed_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(f"kind IN ({vocab.sql_in_list(vocab.KINDS)})", name="kind_known"),
        CheckConstraint(f"status IN ({vocab.sql_in_list(vocab.STATUSES)})", name="status_known"),
        CheckConstraint(
            f"services <@ ARRAY[{vocab.sql_in_list(vocab.SERVICES)}]::text[]",
            name="services_known",
        ),
        CheckConstraint(
            f"groups <@ ARRAY[{vocab.sql_in_list(vocab.GROUPS)}]::text[]", name="groups_known"
        ),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
        Index("ix_stations_geom", "geom", postgresql_using="gist"),
        Index("ix_stations_geog", "geog", postgresql_using="gist"),
        Index("ix_stations_services", "services", postgresql_using="gin"),
        Index("ix_stations_groups", "groups", postgresql_using="gin"),
        Index("ix_stations_district_code", "district_code"),
        # one distance index per unit, over the stations having it (see locator.nearest)
        *(
            Index(
                f"ix_stations_geog_{unit}",
                "geog",
                postgresql_using="gist",
                postgresql_where=text(f"units @> '{{{unit}}}'::text[]"),
            )
            for unit in vocab.UNITS
        ),
    )


class StationCapacity(Base):
    __tablename__ = "station_capacity"

    station_id: Mapped[int] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    unit: Mapped[str] = mapped_column(Text, primary_key=True)
    maximum: Mapped[int] = mapped_column(Integer)
    occupied: Mapped[int] = mapped_column(Integer, server_default="0")
    held: Mapped[int] = mapped_column(Integer, server_default="0")
    reported_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"unit IN ({vocab.sql_in_list(vocab.UNITS)})", name="unit_known"),
        CheckConstraint("maximum >= 0", name="maximum_not_negative"),
        CheckConstraint(
            "occupied >= 0 AND held >= 0 AND occupied + held <= maximum", name="occupied_in_range"
        ),
        Index("ix_station_capacity_unit", "unit", "station_id"),
    )


class OccupancyEvent(Base):
    """Append-only log of every capacity change (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "occupancy_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    unit: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    delta: Mapped[int | None] = mapped_column(Integer)
    occupied_after: Mapped[int] = mapped_column(Integer)
    maximum_after: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, object] | None] = mapped_column(JSONB)

    __table_args__ = (
        CheckConstraint(
            "action IN (" + ", ".join(f"'{a}'" for a in EVENT_ACTIONS) + ")", name="action_known"
        ),
        CheckConstraint(f"unit IN ({vocab.sql_in_list(vocab.UNITS)})", name="unit_known"),
        Index("ix_occupancy_events_station_time", "station_id", "occurred_at"),
    )


class Area(Base):
    """Districts, sub-districts and grid cells: the areas coverage is reported by."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    level: Mapped[str] = mapped_column(Text)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(BigInteger)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=WGS84, spatial_index=False), nullable=False)
    source: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"level IN ({vocab.sql_in_list(vocab.AREA_LEVELS)})", name="level_known"),
        CheckConstraint("population >= 0", name="population_not_negative"),
        Index("ix_areas_geom", "geom", postgresql_using="gist"),
        Index("ix_areas_level", "level"),
        Index("ix_areas_parent_code", "parent_code"),
    )


class WorkerHome(Base):
    """Where outdoor workers live: personal data, never served one by one."""

    __tablename__ = "worker_homes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    geom = mapped_column(_point(), nullable=False)
    worker_group: Mapped[str] = mapped_column(Text)
    workers: Mapped[int] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            f"worker_group IN ({vocab.sql_in_list(vocab.GROUPS)})", name="worker_group_known"
        ),
        CheckConstraint("workers > 0", name="workers_positive"),
        Index("ix_worker_homes_geom", "geom", postgresql_using="gist"),
    )


class CandidateSite(Base):
    """Places where a new station could go."""

    __tablename__ = "candidate_sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    site_type: Mapped[str] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    district_code: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(_point(), nullable=False)
    source: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            f"site_type IN ({vocab.sql_in_list(vocab.SITE_TYPES)})", name="site_type_known"
        ),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        Index("ix_candidate_sites_geom", "geom", postgresql_using="gist"),
    )


ROLES = ("admin", "analyst", "keeper")
HOLD_STATUSES = ("active", "confirmed", "released", "expired")


class ApiKey(Base):
    """A key for writing (and for reading history): only a hash of its secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text, unique=True)
    secret_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="role_known"),
    )


class ApiKeyStation(Base):
    """The stations a keeper's key may write."""

    __tablename__ = "api_key_stations"

    key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    station_id: Mapped[int] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )


class Hold(Base):
    """A place (usually a bed) kept for someone until it expires or is confirmed."""

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    unit: Mapped[str] = mapped_column(Text)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, server_default="active")
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in HOLD_STATUSES) + ")", name="status_known"
        ),
        CheckConstraint("unit IN ('seat', 'bed', 'charger')", name="unit_known"),
        Index("ix_holds_active_expiry", "expires_at", postgresql_where=text("status = 'active'")),
    )


class IdempotencyKey(Base):
    """The stored answer of one write, replayed when the same request is retried."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (UniqueConstraint("key_id", "idempotency_key", name="uq_idempotency_key"),)


PLAN_STATUSES = ("optimal", "time_limit", "heuristic", "infeasible")


class Plan(Base):
    """One siting run: its inputs (enough to re-run it), data fingerprint and answer."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    radius_m: Mapped[float | None] = mapped_column(Float)
    demand_source: Mapped[str] = mapped_column(Text)
    district_code: Mapped[str | None] = mapped_column(Text)
    new_sites: Mapped[int] = mapped_column(Integer)
    capacitated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    solver: Mapped[str] = mapped_column(Text)
    time_limit_s: Mapped[float | None] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer, server_default="0")
    data_version: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, object]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text)
    objective: Mapped[float] = mapped_column(Float)
    bound: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    covered_before: Mapped[float] = mapped_column(Float)
    demand_total: Mapped[float] = mapped_column(Float)
    results: Mapped[dict[str, object]] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_by_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in PLAN_STATUSES) + ")", name="status_known"
        ),
        CheckConstraint("new_sites >= 0", name="new_sites_not_negative"),
        CheckConstraint("radius_m IS NULL OR radius_m > 0", name="radius_positive"),
        Index("ix_plans_created_at", "created_at"),
    )


class PlanSite(Base):
    """A site a plan proposes, in rank order, with the workers it adds."""

    __tablename__ = "plan_sites"

    plan_id: Mapped[int] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_code: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    district_code: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    required: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    workers_added: Mapped[float] = mapped_column(Float)
    running_total: Mapped[float] = mapped_column(Float)
    geom = mapped_column(_point(), nullable=False)

    __table_args__ = (CheckConstraint("rank >= 1", name="rank_positive"),)


class StoreVersion(Base):
    """A number that changes with every write to a table (set by a statement trigger)."""

    __tablename__ = "store_versions"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class HomeAreaCache(Base):
    """The area of every home per level, for one version of the homes and of the areas."""

    __tablename__ = "home_area_cache"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    versions: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    computed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
