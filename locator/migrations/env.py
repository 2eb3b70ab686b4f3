"""Alembic environment: runs on the connection :func:`locator.db.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from locator.config import Settings
from locator.models import Base

MIGRATION_LOCK_ID = 7_220_451  # pg_advisory_lock key: one migrator at a time


def _include_object(obj, name, type_, reflected, compare_to):
    # PostGIS owns spatial_ref_sys and its own objects; only our tables are compared.
    return not (type_ == "table" and name not in Base.metadata.tables)


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        url = Settings().database_url
        if not url:
            raise SystemExit("set LOCATOR_DATABASE_URL, or migrate through `locator db up`")
        with create_engine(url).connect() as conn:
            _run(conn)
            conn.commit()
        return
    _run(connection)


def _run(connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_ID})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=_include_object,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
