"""Property-based run over the whole OpenAPI spec: no 5xx, every answer fits its own schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import make_client


@pytest.fixture
def api_schema(sample_engine, sample_session, tmp_path):
    with make_client(sample_engine, sample_session, tmp_path) as client:
        yield schemathesis.openapi.from_asgi("/openapi.json", client.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(case):
    case.call_and_validate()
