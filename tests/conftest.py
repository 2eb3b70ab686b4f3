"""Test session: a real PostGIS, started by the session itself, each test in a rolled-back
transaction. A skipped test fails the run: every test here must be able to run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from locator.cluster import EmbeddedCluster
from locator.config import Settings, project_root
from locator.db import make_engine, migrate

ROOT = project_root()
TEST_STATE_DIR = Path(os.environ.get("LOCATOR_TEST_STATE_DIR", ROOT / ".locator" / "test"))
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def cluster() -> Iterator[EmbeddedCluster]:
    """The test session's own PostgreSQL + PostGIS cluster, stopped at the end."""
    embedded = EmbeddedCluster(TEST_STATE_DIR)
    embedded.up()
    yield embedded
    embedded.down()


def fresh_database(cluster: EmbeddedCluster, name: str) -> Engine:
    cluster.drop_database(name)
    engine = make_engine(cluster.create_database(name))
    migrate(engine)
    return engine


@pytest.fixture(scope="session")
def engine(cluster: EmbeddedCluster) -> Iterator[Engine]:
    """A migrated, empty database for tests that roll back what they write."""
    engine = fresh_database(cluster, "locator_test")
    yield engine
    engine.dispose()


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back at the end (its commits become savepoints)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        db_session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield db_session
        finally:
            db_session.close()
            transaction.rollback()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the empty test database, rolled back after the test."""
    with rolled_back_session(engine) as db_session:
        yield db_session


@pytest.fixture(scope="session")
def sample_engine(cluster: EmbeddedCluster) -> Iterator[Engine]:
    """A database holding the whole Beijing sample, loaded once for the session."""
    from locator.db import session_scope
    from locator.sample import load_sample

    engine = fresh_database(cluster, "locator_sample")
    with session_scope(engine) as db_session:
        load_sample(db_session, Settings().sample_dir)
    yield engine
    engine.dispose()


@pytest.fixture
def sample_session(sample_engine: Engine) -> Iterator[Session]:
    """A session on the Beijing sample, rolled back after the test."""
    with rolled_back_session(sample_engine) as db_session:
        yield db_session


def use_session(app: FastAPI, db_session: Session) -> None:
    """Make every route of ``app`` work in ``db_session`` (the test's transaction)."""
    from api.deps import get_read_sessions, get_session

    app.dependency_overrides[get_session] = lambda: db_session
    app.dependency_overrides[get_read_sessions] = lambda: lambda: nullcontext(db_session)


def make_client(engine: Engine, db_session: Session, tmp_path: Path) -> TestClient:
    from api.main import create_app

    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False), state_dir=tmp_path
    )
    app = create_app(settings)
    use_session(app, db_session)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(engine: Engine, session: Session, tmp_path: Path) -> Iterator[TestClient]:
    """The API on the empty test database, inside the test's transaction."""
    with make_client(engine, session, tmp_path) as test_client:
        yield test_client


@pytest.fixture
def sample_client(
    sample_engine: Engine, sample_session: Session, tmp_path: Path
) -> Iterator[TestClient]:
    """The API on the Beijing sample."""
    with make_client(sample_engine, sample_session, tmp_path) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; every test must run here")  # type: ignore[union-attr]
        session.exitstatus = 1
