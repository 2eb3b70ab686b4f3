"""Versions of the worker homes and the areas, and the cached place of every home in its areas.

- ``store_versions``: one row per table whose every change must be noticed (``worker_homes``,
  ``areas``). A statement-level trigger gives the row a new number from one sequence after any
  insert, update, delete or truncate, so a version seen twice means the table is unchanged.
- ``home_area_cache``: which district, sub-district and grid cell each home lies in, computed
  by the coverage engine for one pair of versions (``versions``, as
  ``areas:<n>/worker_homes:<n>``) and reused while both stand (placing a
  million homes in their areas costs more than reading them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

VERSIONED = ("worker_homes", "areas")


def upgrade() -> None:
    op.execute("CREATE SEQUENCE store_version_seq")
    op.create_table(
        "store_versions",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.execute(
        """
        CREATE FUNCTION bump_store_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE store_versions SET version = nextval('store_version_seq')
            WHERE name = TG_TABLE_NAME;
            RETURN NULL;
        END $$
        """
    )
    for table in VERSIONED:
        op.execute(
            f"INSERT INTO store_versions (name, version) "
            f"VALUES ('{table}', nextval('store_version_seq'))"
        )
        op.execute(
            f"CREATE TRIGGER {table}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_store_version()"
        )
    op.create_table(
        "home_area_cache",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("versions", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("home_area_cache")
    for table in VERSIONED:
        op.execute(f"DROP TRIGGER {table}_version ON {table}")
    op.execute("DROP FUNCTION bump_store_version()")
    op.drop_table("store_versions")
    op.execute("DROP SEQUENCE store_version_seq")
