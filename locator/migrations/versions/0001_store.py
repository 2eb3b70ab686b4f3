"""The store: stations, capacity, occupancy events, areas, worker homes, candidate sites.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from locator import vocab

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ACTIONS = (
    "load",
    "check_in",
    "check_out",
    "set_count",
    "set_maximum",
    "hold",
    "hold_released",
    "hold_expired",
)


def _in(column: str, codes) -> str:
    return f"{column} IN (" + ", ".join(f"'{c}'" for c in codes) + ")"


def _point() -> Geometry:
    return Geometry("POINT", srid=4326, spatial_index=False)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("operator", sa.Text),
        sa.Column("address", sa.Text),
        sa.Column("district_code", sa.Text),
        sa.Column("geom", _point(), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("groups", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("opening_hours", sa.Text, nullable=False),
        sa.Column("stars", sa.SmallInteger),
        sa.Column("stars_reviewed_on", sa.Date),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("source", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(_in("kind", vocab.KINDS), name="kind_known"),
        sa.CheckConstraint(_in("status", vocab.STATUSES), name="status_known"),
        sa.CheckConstraint(
            f"services <@ ARRAY[{vocab.sql_in_list(vocab.SERVICES)}]::text[]",
            name="services_known",
        ),
        sa.CheckConstraint(
            f"groups <@ ARRAY[{vocab.sql_in_list(vocab.GROUPS)}]::text[]", name="groups_known"
        ),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
    )
    op.create_index("ix_stations_geom", "stations", ["geom"], postgresql_using="gist")
    op.create_index("ix_stations_services", "stations", ["services"], postgresql_using="gin")
    op.create_index("ix_stations_district_code", "stations", ["district_code"])

    op.create_table(
        "station_capacity",
        sa.Column(
            "station_id",
            sa.Integer,
            sa.ForeignKey("stations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("unit", sa.Text, primary_key=True),
        sa.Column("maximum", sa.Integer, nullable=False),
        sa.Column("occupied", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reported_at", TS),
        sa.CheckConstraint(_in("unit", vocab.UNITS), name="unit_known"),
        sa.CheckConstraint("maximum >= 0", name="maximum_not_negative"),
        sa.CheckConstraint("occupied >= 0 AND occupied <= maximum", name="occupied_in_range"),
    )

    op.create_table(
        "occupancy_events",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("occurred_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("delta", sa.Integer),
        sa.Column("occupied_after", sa.Integer, nullable=False),
        sa.Column("maximum_after", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("detail", postgresql.JSONB),
        sa.CheckConstraint(_in("action", ACTIONS), name="action_known"),
        sa.CheckConstraint(_in("unit", vocab.UNITS), name="unit_known"),
    )
    op.create_index(
        "ix_occupancy_events_station_time", "occupancy_events", ["station_id", "occurred_at"]
    )
    op.execute(
        """
        CREATE FUNCTION occupancy_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'occupancy_events is append-only: % is not allowed', TG_OP;
        END $$;
        CREATE TRIGGER occupancy_events_append_only
            BEFORE UPDATE OR DELETE ON occupancy_events
            FOR EACH ROW EXECUTE FUNCTION occupancy_events_append_only();
        """
    )

    op.create_table(
        "areas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text),
        sa.Column("parent_code", sa.Text),
        sa.Column("population", sa.BigInteger),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.Column("source", sa.Text),
        sa.CheckConstraint(_in("level", vocab.AREA_LEVELS), name="level_known"),
        sa.CheckConstraint("population >= 0", name="population_not_negative"),
    )
    op.create_index("ix_areas_geom", "areas", ["geom"], postgresql_using="gist")
    op.create_index("ix_areas_level", "areas", ["level"])
    op.create_index("ix_areas_parent_code", "areas", ["parent_code"])

    op.create_table(
        "worker_homes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("geom", _point(), nullable=False),
        sa.Column("worker_group", sa.Text, nullable=False),
        sa.Column("workers", sa.Integer, nullable=False),
        sa.Column("source", sa.Text),
        sa.CheckConstraint(_in("worker_group", vocab.GROUPS), name="worker_group_known"),
        sa.CheckConstraint("workers > 0", name="workers_positive"),
    )
    op.create_index("ix_worker_homes_geom", "worker_homes", ["geom"], postgresql_using="gist")

    op.create_table(
        "candidate_sites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("site_type", sa.Text, nullable=False),
        sa.Column("capacity", sa.Integer),
        sa.Column("district_code", sa.Text),
        sa.Column("geom", _point(), nullable=False),
        sa.Column("source", sa.Text),
        sa.CheckConstraint(_in("site_type", vocab.SITE_TYPES), name="site_type_known"),
        sa.CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )
    op.create_index("ix_candidate_sites_geom", "candidate_sites", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    for table in ("candidate_sites", "worker_homes", "areas"):
        op.drop_table(table)
    op.execute("DROP TRIGGER occupancy_events_append_only ON occupancy_events")
    op.execute("DROP FUNCTION occupancy_events_append_only()")
    for table in ("occupancy_events", "station_capacity", "stations"):
        op.drop_table(table)
