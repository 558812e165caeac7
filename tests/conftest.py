"""Fixtures: an app on a private SQLite file, users, tokens."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core import users
from core.config import Settings
from core.db import write_transaction
from core.keys import load_keyring
from core.security import create_access_token, hash_password
from main import create_app
from tests.dbs import fresh_database_url

TEST_SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct-horse-battery"


def make_settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh database and secret under tmp_path."""
    return Settings(
        database_url=fresh_database_url(tmp_path),
        jwt_secret=TEST_SECRET,
        jwt_secret_file=tmp_path / "jwt_secret",
        app_instance="api-test",
        app_port=8001,
        gc_threshold=0,  # settling the collector starts with a full collection of the whole test process
        _env_file=None,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh database and secret under tmp_path."""
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings):
    """The app, built by the factory."""
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    """A TestClient with lifespan run."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def make_user(app) -> Callable[..., str]:
    """Create a user with scopes and the test password; returns the name."""

    def _make(username: str, scopes: str = "", password: str | None = PASSWORD) -> str:
        with write_transaction(app.state.engine) as conn:
            users.create_user(conn, username, hash_password(password) if password else None, scopes.split())
        return username

    return _make


@pytest.fixture
def token_for(settings: Settings) -> Callable[..., str]:
    """Mint a token as the service would."""

    def _mint(username: str, scopes: str = "") -> str:
        return create_access_token(settings, load_keyring(settings), username, scopes.split())[0]

    return _mint


@pytest.fixture
def writer(make_user, token_for) -> dict[str, str]:
    """Authorization headers of a user with items:write."""
    make_user("writer", "items:write")
    return {"Authorization": f"Bearer {token_for('writer', 'items:write')}"}


@pytest.fixture
def admin(make_user, token_for) -> dict[str, str]:
    """Authorization headers of a user with aaa:admin and items:write."""
    make_user("admin", "aaa:admin items:write")
    return {"Authorization": f"Bearer {token_for('admin', 'aaa:admin items:write')}"}
