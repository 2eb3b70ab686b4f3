"""Connecting to the store: the external database or the embedded cluster, and migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from locator.cluster import EmbeddedCluster
from locator.config import Settings
from locator.errors import DatabaseError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def embedded_cluster(settings: Settings) -> EmbeddedCluster:
    """The project's own cluster as the settings place it."""
    return EmbeddedCluster(
        settings.state_dir, bin_dir=settings.pg_bin_dir, start_timeout_s=settings.pg_start_timeout_s
    )


def resolve_url(settings: Settings, *, start: bool = True) -> str:
    """The database URL to use: ``LOCATOR_DATABASE_URL`` or the embedded cluster's.

    With ``start`` the embedded cluster is brought up on demand; an external URL never starts
    anything.
    """
    if settings.database_url:
        return settings.database_url
    cluster = embedded_cluster(settings)
    return cluster.up() if start else cluster.url()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine on ``url`` that checks pooled connections before use (unless told not to)."""
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def check_connection(engine: Engine) -> None:
    """Raise :class:`DatabaseError` unless the database answers and has PostGIS."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT postgis_version()"))
    except OperationalError as exc:
        raise DatabaseError(
            f"the database at {engine.url!r} is not reachable: {exc.orig}"
        ) from None


def alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (one migrator at a time)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def head_revision() -> str | None:
    """The newest migration this code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_store(settings: Settings) -> Engine:
    """Engine on the store, started (when embedded) and migrated: what every command needs."""
    engine = make_engine(resolve_url(settings))
    check_connection(engine)
    migrate(engine)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session in one transaction, committed at the end or rolled back on error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
