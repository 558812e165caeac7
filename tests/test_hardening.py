"""Bad input, body limits, login throttling, production secrets, deleted users."""

import pytest
from fastapi.testclient import TestClient

from core.config import Settings
from core.secret import InsecureSecret, load_jwt_secret
from main import create_app
from tests.conftest import PASSWORD

ITEM = {"name": "Updated Item", "price": 19.99, "in_stock": True}


def login(client, username, password=PASSWORD):
    return client.post("/aaa/token", data={"username": username, "password": password})


def test_body_over_limit_is_413_by_content_length(client, writer):
    response = client.post(
        "/items", content=b"x" * (1024 * 1024 + 1), headers=writer | {"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body larger than 1048576 bytes"}


def test_streamed_body_over_limit_is_413(client, writer):
    chunks = (b" " * 65536 for _ in range(20))
    response = client.post("/items", content=chunks, headers=writer | {"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("Request body larger than")


def test_body_limit_is_configurable(settings):
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}))
    with TestClient(app) as small:
        response = small.post("/aaa/token", data={"username": "u" * 3000, "password": "p"})
        assert response.status_code == 413


def test_deeply_nested_json_is_4xx(client, writer):
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/items", content=body, headers=writer | {"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the body"}


@pytest.mark.parametrize("q", ["%", "_", "\\", "' OR 1=1 --", '"; DROP TABLE items; --', "a%b"])
def test_search_text_is_matched_literally(client, writer, q):
    client.post("/items", json=ITEM | {"name": "plain"}, headers=writer)
    client.post("/items", json=ITEM | {"name": f"has {q} inside"}, headers=writer)
    names = [item["name"] for item in client.get("/items", params={"q": q}).json()["items"]]
    assert names == [f"has {q} inside"]
    assert client.get("/items").json()["total"] == 2


def test_login_is_throttled_after_repeated_failures(client, make_user):
    make_user("alice", "items:write")
    statuses = [login(client, "alice", "wrong-password").status_code for _ in range(5)]
    assert statuses == [401] * 5
    throttled = login(client, "alice")
    assert throttled.status_code == 429
    assert throttled.json() == {"detail": "Too many failed logins for this user; try again later"}
    assert 1 <= int(throttled.headers["retry-after"]) <= 300
    assert login(client, "bob-unknown", "x").status_code == 401


def test_successful_login_resets_failure_count(client, make_user):
    make_user("alice", "items:write")
    for _ in range(4):
        login(client, "alice", "wrong-password")
    assert login(client, "alice").status_code == 200
    assert [login(client, "alice", "wrong-password").status_code for _ in range(4)] == [401] * 4
    assert login(client, "alice").status_code == 200


def test_throttled_and_rejected_logins_are_audited(client, make_user, admin):
    make_user("alice", "items:write")
    for _ in range(6):
        login(client, "alice", "wrong-password")
    records = client.get("/aaa/audit", params={"limit": 500}, headers=admin).json()["records"]
    codes = [r["status_code"] for r in records if r["action"] == "aaa.login" and r["target"] == "alice"]
    assert codes == [429, 401, 401, 401, 401, 401]


def test_deleted_user_token_is_rejected(client, admin, make_user, token_for):
    make_user("gone", "items:write")
    headers = {"Authorization": f"Bearer {token_for('gone', 'items:write')}"}
    assert client.post("/items", json=ITEM, headers=headers).status_code == 201
    assert client.delete("/aaa/users/gone", headers=admin).status_code == 204
    refused = client.post("/items", json=ITEM, headers=headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert client.delete("/aaa/users/gone", headers=admin).status_code == 404


@pytest.mark.parametrize("secret", ["", "short", "a" * 64, "ab" * 40])
def test_production_refuses_missing_or_weak_secret(tmp_path, secret):
    settings = Settings(
        environment="production", jwt_secret=secret, jwt_secret_file=tmp_path / "missing", _env_file=None
    )
    with pytest.raises(InsecureSecret):
        load_jwt_secret(settings)
    with pytest.raises(InsecureSecret):
        create_app(settings)
    assert not (tmp_path / "missing").exists()


def test_production_accepts_strong_secret_and_init_file(tmp_path):
    strong = "Zq8#kP2!vL9@xR4$mN7^bT1&wY6*cH3("
    assert load_jwt_secret(Settings(environment="production", jwt_secret=strong, _env_file=None)) == strong
    settings = Settings(environment="production", jwt_secret_file=tmp_path / "secret", _env_file=None)
    created = load_jwt_secret(settings, create=True)
    assert load_jwt_secret(settings) == created


def test_secret_never_in_responses_or_config(client):
    from tests.conftest import TEST_SECRET

    for path in ("/aaa", "/health", "/openapi.json"):
        assert TEST_SECRET not in client.get(path).text
    assert TEST_SECRET not in repr(client.app.state.settings)
