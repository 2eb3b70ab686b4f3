"""The migrated schema is what the models describe, and it upgrades from nothing and back."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from locator.db import current_revision, head_revision, migrate
from locator.models import Base
from tests.conftest import fresh_database


def test_models_match_the_migrated_schema(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    not (type_ == "table" and name not in Base.metadata.tables)
                )
            },
        )
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_nothing_and_upgrade_again(cluster):
    from alembic import command

    from locator.db import alembic_config

    engine = fresh_database(cluster, "locator_migrations")
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE tablename = 'stations'")
        ).scalar_one()
    assert tables == 0
    migrate(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
    cluster.drop_database("locator_migrations")


def test_cached_places_are_stored_uncompressed(engine):
    # pglz compression of a million homes' places cost three times the write (migration 0008)
    with engine.connect() as conn:
        storage = conn.execute(
            text(
                "SELECT attstorage FROM pg_attribute "
                "WHERE attrelid = 'home_area_cache'::regclass AND attname = 'payload'"
            )
        ).scalar_one()
    assert storage == "e"
