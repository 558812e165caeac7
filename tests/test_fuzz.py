"""Schema-driven fuzzing of the whole OpenAPI surface: no 5xx, and every response matches its own schema."""

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from core import users
from core.config import Settings
from core.db import write_transaction
from core.migrations import upgrade
from core.security import create_access_token, hash_password
from main import create_app
from tests.dbs import ON_POSTGRES, TEST_DATABASE_URL, fresh_database_url

_DIR = Path(tempfile.mkdtemp(prefix="fuzz-"))
_SETTINGS = Settings(
    database_url=TEST_DATABASE_URL if ON_POSTGRES else f"sqlite:///{_DIR / 'fuzz.db'}",
    jwt_secret="fuzz-secret-" + "q" * 40,
    login_max_failures=1000,
    _env_file=None,
)
app = create_app(_SETTINGS)
_TOKEN = create_access_token(_SETTINGS, app.state.keys, "fuzzer", ["items:write", "aaa:admin"])[0]
AUTH = {"Authorization": f"Bearer {_TOKEN}"}

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def fuzz_database():
    """An empty database with the fuzzing user, made when the fuzz tests start."""
    fresh_database_url(_DIR)
    upgrade(app.state.engine)
    with write_transaction(app.state.engine) as conn:
        users.create_user(conn, "fuzzer", hash_password("fuzzer-password"), ["items:write", "aaa:admin"])
    yield
    app.state.engine.dispose()


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_with_token_never_fails(case):
    case.call_and_validate(headers=AUTH, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_without_token_never_fails(case):
    case.call_and_validate(checks=CHECKS)
