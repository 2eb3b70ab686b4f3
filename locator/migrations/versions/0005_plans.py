"""Siting plans: the inputs of each maximal-covering run, its answer, and its ranked sites.

- ``plans``: one row per run. The inputs (radius, demand source, candidate filter, required and
  forbidden sites, capacities, quotas, number of new sites, solver, time limit, seed) are kept
  both as columns for querying and whole in ``inputs`` so that a plan can be re-run exactly;
  ``data_version`` fingerprints the stations, demand and candidates the run saw. The answer
  (objective, best bound, gap, status, timings, reduced model sizes) sits beside them.
- ``plan_sites``: the chosen sites in rank order with the workers each adds and the running
  total. The site's code and point are copied, so a plan still reads after candidates are
  reloaded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
STATUSES = ("optimal", "time_limit", "heuristic", "infeasible")


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("radius_m", sa.Float),
        sa.Column("demand_source", sa.Text, nullable=False),
        sa.Column("district_code", sa.Text),
        sa.Column("new_sites", sa.Integer, nullable=False),
        sa.Column("capacitated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("solver", sa.Text, nullable=False),
        sa.Column("time_limit_s", sa.Float),
        sa.Column("seed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("data_version", sa.Text, nullable=False),
        sa.Column("inputs", postgresql.JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("objective", sa.Float, nullable=False),
        sa.Column("bound", sa.Float),
        sa.Column("gap", sa.Float),
        sa.Column("covered_before", sa.Float, nullable=False),
        sa.Column("demand_total", sa.Float, nullable=False),
        sa.Column("results", postgresql.JSONB, nullable=False),
        sa.Column("created_by", sa.Text),
        sa.Column(
            "created_by_key_id",
            sa.Integer,
            sa.ForeignKey("api_keys.id", ondelete="SET NULL"),
        ),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="status_known"
        ),
        sa.CheckConstraint("new_sites >= 0", name="new_sites_not_negative"),
        sa.CheckConstraint("radius_m IS NULL OR radius_m > 0", name="radius_positive"),
    )
    op.create_index("ix_plans_created_at", "plans", ["created_at"])

    op.create_table(
        "plan_sites",
        sa.Column(
            "plan_id",
            sa.Integer,
            sa.ForeignKey("plans.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("rank", sa.Integer, primary_key=True),
        sa.Column("candidate_code", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("district_code", sa.Text),
        sa.Column("capacity", sa.Integer),
        sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("workers_added", sa.Float, nullable=False),
        sa.Column("running_total", sa.Float, nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint("rank >= 1", name="rank_positive"),
    )


def downgrade() -> None:
    op.drop_table("plan_sites")
    op.drop_table("plans")
