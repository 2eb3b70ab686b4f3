"""Stations get a stored geography column with a GiST index, for geodesic nearest-neighbour
search (``geog <-> point`` walks the index in distance order on the sphere), and a GIN index on
the groups served.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE stations ADD COLUMN geog geography(Point, 4326) "
        "GENERATED ALWAYS AS (geom::geography) STORED"
    )
    op.execute("CREATE INDEX ix_stations_geog ON stations USING gist (geog)")
    op.execute("CREATE INDEX ix_stations_groups ON stations USING gin (groups)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_stations_groups")
    op.execute("DROP INDEX ix_stations_geog")
    op.execute("ALTER TABLE stations DROP COLUMN geog")
