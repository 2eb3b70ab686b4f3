"""Property-based run over the whole OpenAPI spec on the Beijing sample: no 5xx, and every
answer fits the schema it documents (status, content type, body)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import sessionmaker

from api.main import create_app
from locator.config import Settings
from tests.conftest import use_session

# schemathesis runs the app's lifespan when it loads the spec and keeps it for the session.
# The service's own lifespan would open engines on Settings() (starting the project's own
# PostgreSQL, which nothing stops afterwards) and sweep holds there; here the lifespan does
# nothing and the fixture below wires the app to the sample instead.
app = create_app(Settings())


@asynccontextmanager
async def _no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


app.router.lifespan_context = _no_lifespan
# The live stream never ends by itself; tests/test_feeds.py covers it against a real server.
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/v1/stream")


@pytest.fixture
def sample_app(sample_engine, sample_session):
    app.state.engine = sample_engine
    app.state.sessionmaker = sessionmaker(sample_engine)
    use_session(app, sample_session)
    yield app
    app.dependency_overrides.clear()


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(case, sample_app):
    # Every check but "schema-valid data is accepted": some rules cannot be written in JSON
    # Schema (a bbox's min <= max, a time zone on `at`) and are answered with a 422 problem.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
