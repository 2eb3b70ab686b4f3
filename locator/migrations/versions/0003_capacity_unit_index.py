"""Index capacity rows by unit, so a search for a rare unit (beds) starts from its few rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_station_capacity_unit", "station_capacity", ["unit", "station_id"])


def downgrade() -> None:
    op.drop_index("ix_station_capacity_unit", "station_capacity")
