"""/aaa and the Bearer check through TestClient."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.conftest import PASSWORD, TEST_SECRET

ITEM = {"name": "Updated Item", "price": 19.99, "in_stock": True}
INVALID = 'Bearer error="invalid_token"'


def login(client, username, password=PASSWORD, **extra):
    return client.post("/aaa/token", data={"username": username, "password": password, **extra})


def claims(**overrides):
    now = datetime.now(UTC)
    base = {
        "sub": "writer",
        "scope": "items:write",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": "fastapi-pm2-service",
        "aud": "fastapi-pm2-service",
    }
    return {k: v for k, v in (base | overrides).items() if v is not None}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).rstrip(b"=").decode()


def test_describe_aaa(client):
    for path in ("/aaa", "/aaa/"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 200
        body = response.json()
        assert body["token_url"] == "/aaa/token"
        assert set(body["scopes"]) == {"items:write", "aaa:admin"}


def test_login_returns_bearer_token(client, make_user):
    make_user("alice", "items:write")
    response = login(client, "alice")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "bearer"
    assert body["scope"] == "items:write"
    assert body["expires_in"] == 3600
    me = client.get("/aaa/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert me.json()["scopes"] == ["items:write"]


def test_login_token_writes_items(client, make_user):
    make_user("alice", "items:write")
    token = login(client, "alice").json()["access_token"]
    response = client.post("/items", json=ITEM, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201


def test_login_requested_scopes_are_narrowed(client, make_user):
    make_user("alice", "items:write aaa:admin")
    token = login(client, "alice", scope="items:write").json()["access_token"]
    assert client.get("/aaa/me", headers={"Authorization": f"Bearer {token}"}).json()["scopes"] == ["items:write"]


def test_login_unknown_scope_is_400_invalid_scope(client, make_user):
    make_user("alice", "items:write")
    response = login(client, "alice", scope="items:write root")
    assert response.status_code == 400
    assert response.json() == {"detail": {"error": "invalid_scope", "unknown_scopes": ["root"]}}


def test_login_user_name_is_case_insensitive(client, make_user):
    make_user("alice", "items:write")
    assert login(client, "  ALICE ").status_code == 200


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong-password"), ("nobody", PASSWORD)])
def test_login_wrong_credentials_is_401(client, make_user, username, password):
    make_user("alice", "items:write")
    response = login(client, username, password)
    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect username or password"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_login_disabled_user_is_401(client, make_user, admin):
    make_user("alice", "items:write")
    client.patch("/aaa/users/alice", json={"disabled": True}, headers=admin)
    assert login(client, "alice").status_code == 401


def test_login_missing_fields_is_422(client):
    response = client.post("/aaa/token", data={"username": "alice"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


def test_login_attempts_are_audited(client, make_user, admin):
    make_user("alice", "items:write")
    login(client, "alice", "wrong-password")
    login(client, "alice")
    records = client.get("/aaa/audit", headers=admin).json()["records"]
    logins = [(r["action"], r["actor"], r["status_code"], r["result"]) for r in records if r["action"] == "aaa.login"]
    assert logins == [("aaa.login", "alice", 200, "ok"), ("aaa.login", "alice", 401, "denied")]


def test_audit_records_writes_newest_first(client, admin):
    item = client.post("/items", json=ITEM, headers=admin | {"X-Request-ID": "req-create-1"}).json()
    client.delete(f"/items/{item['id']}", headers=admin)
    response = client.get("/aaa/audit", headers=admin)
    assert response.status_code == 200
    records = response.json()["records"]
    assert [r["action"] for r in records[:2]] == ["item.delete", "item.create"]
    create = records[1]
    assert (create["actor"], create["target"], create["status_code"]) == ("admin", str(item["id"]), 201)
    assert create["instance"] == "api-test"
    assert create["request_id"] == "req-create-1"


def test_audit_paginates(client, admin):
    for n in range(3):
        client.post("/items", json=ITEM | {"name": f"n{n}"}, headers=admin)
    page = client.get("/aaa/audit", params={"limit": 2, "offset": 1}, headers=admin).json()
    assert [r["target"] for r in page["records"]] == ["2", "1"]
    assert client.get("/aaa/audit", params={"limit": 0}, headers=admin).status_code == 422


def test_audit_needs_admin_scope(client, writer):
    response = client.get("/aaa/audit", headers=writer)
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="aaa:admin"'


def test_me_without_token_is_401(client):
    response = client.get("/aaa/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Token abc",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer abc def",
        "Bearerabc",
    ],
)
def test_bad_authorization_header_is_401_invalid_token(client, writer, header):
    response = client.post("/items", json=ITEM, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID
    assert "detail" in response.json()


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_is_case_insensitive(client, writer, scheme):
    token = writer["Authorization"].split()[1]
    response = client.post("/items", json=ITEM, headers={"Authorization": f"{scheme}   {token}  "})
    assert response.status_code == 201


def test_two_authorization_headers_are_401(client, writer):
    headers = [("Authorization", writer["Authorization"]), ("Authorization", writer["Authorization"])]
    response = client.post("/items", json=ITEM, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID


def _tampered(token: str, part: int) -> str:
    pieces = token.split(".")
    if part == 1:
        payload = json.loads(base64.urlsafe_b64decode(pieces[1] + "=="))
        payload["scope"] = "items:write aaa:admin"
        pieces[1] = b64(payload)
    else:
        pieces[part] = pieces[part][:-2] + ("AA" if not pieces[part].endswith("AA") else "BB")
    return ".".join(pieces)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: jwt.encode(claims(), "another-secret-" + "y" * 40, algorithm="HS256"), id="wrong-key"),
        pytest.param(lambda: jwt.encode(claims(), TEST_SECRET, algorithm="HS384"), id="other-algorithm"),
        pytest.param(lambda: f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}.", id="alg-none"),
        pytest.param(
            lambda: jwt.encode(claims(exp=datetime.now(UTC) - timedelta(minutes=5)), TEST_SECRET), id="expired"
        ),
        pytest.param(lambda: jwt.encode(claims(iat=datetime.now(UTC) + timedelta(hours=1)), TEST_SECRET), id="future"),
        pytest.param(lambda: jwt.encode(claims(nbf=datetime.now(UTC) + timedelta(hours=1)), TEST_SECRET), id="nbf"),
        pytest.param(lambda: jwt.encode(claims(exp=None), TEST_SECRET), id="no-exp"),
        pytest.param(lambda: jwt.encode(claims(iat=None), TEST_SECRET), id="no-iat"),
        pytest.param(lambda: jwt.encode(claims(sub=None), TEST_SECRET), id="no-sub"),
        pytest.param(lambda: jwt.encode(claims(iss="someone-else"), TEST_SECRET), id="wrong-iss"),
        pytest.param(lambda: jwt.encode(claims(aud="someone-else"), TEST_SECRET), id="wrong-aud"),
        pytest.param(lambda: jwt.encode(claims(scope=["items:write"]), TEST_SECRET), id="scope-not-string"),
        pytest.param(lambda: jwt.encode(claims(sub="ghost"), TEST_SECRET), id="unknown-user"),
    ],
)
def test_bad_token_is_401_invalid_token(client, writer, make_token):
    response = client.post("/items", json=ITEM, headers={"Authorization": f"Bearer {make_token()}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID
    assert response.json()["detail"].startswith("Invalid token")
    assert client.get("/items").json()["total"] == 0


def test_non_string_sub_is_401(client, writer):
    payload = claims()
    payload["sub"] = 42
    token = jwt.encode(payload, TEST_SECRET, algorithm="HS256")
    response = client.post("/items", json=ITEM, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampered_token_is_401(client, writer, part):
    token = _tampered(writer["Authorization"].split()[1], part)
    response = client.post("/items", json=ITEM, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID


def test_token_scope_beyond_user_scopes_is_403(client, make_user, token_for):
    make_user("bob", "")
    token = token_for("bob", "items:write")
    response = client.post("/items", json=ITEM, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


def test_admin_creates_lists_and_disables_user(client, admin):
    created = client.post(
        "/aaa/users", json={"username": "carol", "password": "carol-password", "scopes": ["items:write"]}, headers=admin
    )
    assert created.status_code == 201
    assert created.json()["username"] == "carol"
    assert created.json()["scopes"] == ["items:write"]
    assert "password_hash" not in created.json()
    token = login(client, "carol", "carol-password").json()["access_token"]
    carol = {"Authorization": f"Bearer {token}"}
    assert client.post("/items", json=ITEM, headers=carol).status_code == 201

    listed = client.get("/aaa/users", headers=admin).json()
    assert [u["username"] for u in listed] == ["admin", "carol"]

    disabled = client.patch("/aaa/users/carol", json={"disabled": True}, headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    refused = client.post("/items", json=ITEM, headers=carol)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == INVALID


def test_removing_scope_stops_existing_token(client, admin, make_user, token_for):
    make_user("dave", "items:write")
    headers = {"Authorization": f"Bearer {token_for('dave', 'items:write')}"}
    client.patch("/aaa/users/dave", json={"scopes": []}, headers=admin)
    assert client.post("/items", json=ITEM, headers=headers).status_code == 403


def test_create_user_conflict_and_validation(client, admin):
    body = {"username": "erin", "password": "erin-password"}
    assert client.post("/aaa/users", json=body, headers=admin).status_code == 201
    again = client.post("/aaa/users", json=body, headers=admin)
    assert again.status_code == 409
    assert again.json() == {"detail": "User erin exists"}
    assert (
        client.post("/aaa/users", json={"username": "x y", "password": "long-enough"}, headers=admin).status_code == 422
    )
    assert client.post("/aaa/users", json={"username": "frank", "password": "short"}, headers=admin).status_code == 422


def test_update_missing_user_is_404(client, admin):
    response = client.patch("/aaa/users/nobody", json={"disabled": True}, headers=admin)
    assert response.status_code == 404


def test_users_need_admin(client, writer):
    assert client.get("/aaa/users", headers=writer).status_code == 403
    assert client.post("/aaa/users", json={"username": "z", "password": "zzzzzzzz"}, headers=writer).status_code == 403
