"""Bad input, body limits, login throttling, production secrets, deleted users."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from core.config import Settings
from core.db import users as users_table
from core.db import write_transaction
from core.secret import InsecureSecret, load_jwt_secret
from main import create_app
from tests.conftest import PASSWORD
from tests.dbs import ON_POSTGRES

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


def _raw(client, method, path, body: bytes, headers, content_type="application/json"):
    return client.request(method, path, content=body, headers=headers | {"content-type": content_type})


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a", "price": NaN}',
        b'{"name": "a", "price": Infinity}',
        b'{"name": "a", "price": -Infinity}',
        b'{"name": "a", "price": 1e309}',
        b'{"name": "a", "price": 1, "foo": NaN}',
        b'{"name": "a\\ud800b", "price": 1}',
        b'{"name": "a", "price": 1, "\\udc80": 1}',
        b'{"name": "x\\u0085y", "price": 1}',
        b'{"name": "x\\u2028y", "price": 1}',
        b'{"name": "\\u202eabc", "price": 1}',
        b'{"name": "\\u200b", "price": 1}',
        b'{"name": "a", "price": "1_000"}',
        b'{"name": "a", "price": "\\uff10.\\uff15"}',
        b'{"name": "a", "price": "\\u0663"}',
        b'{"name": "a", "price": true}',
    ],
)
def test_unrepresentable_or_unclean_input_is_422_json(client, writer, body):
    response = _raw(client, "POST", "/items", body, writer)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert client.get("/items").json()["total"] == 0


def test_patch_with_infinity_is_422(client, writer):
    client.post("/items", json=ITEM, headers=writer)
    response = _raw(client, "PATCH", "/items/1", b'{"price": Infinity}', writer)
    assert response.status_code == 422
    assert client.get("/items/1").json()["price"] == 19.99


def test_non_utf8_body_is_422(client, writer):
    for content_type in ("text/plain", "application/json", ""):
        response = _raw(client, "POST", "/items", b"\xff\xfe", writer, content_type)
        assert 400 <= response.status_code < 500, response.text
        assert "detail" in response.json()


def test_emoji_and_unicode_names_are_kept(client, writer):
    name = "Family \U0001f468\u200d\U0001f469\u200d\U0001f467 \u00c4\u00d6\u00dc \u0627\u0644\u0639\u0631\u0628"
    created = client.post("/items", json=ITEM | {"name": name}, headers=writer)
    assert created.status_code == 201
    assert client.get(f"/items/{created.json()['id']}").json()["name"] == name


def test_search_folds_unicode_case(client, writer):
    client.post("/items", json=ITEM | {"name": "\u00c4\u00d6\u00dc Stra\u00dfe"}, headers=writer)
    names = [i["name"] for i in client.get("/items", params={"q": "\u00e4\u00f6\u00fc strasse"}).json()["items"]]
    assert names == ["\u00c4\u00d6\u00dc Stra\u00dfe"]


@pytest.mark.parametrize("params", [{"q": "\x00zzz"}, {"min_price": "0.011"}, {"max_price": "NaN"}, {"limit": "1_0"}])
def test_bad_list_filters_are_422(client, writer, params):
    client.post("/items", json=ITEM, headers=writer)
    assert client.get("/items", params=params).status_code == 422


@pytest.mark.parametrize("item_id", ["1_0", "+1", "%201", "01", "1.0", "1e3", "\u00b2"])
def test_non_plain_ids_are_422(client, writer, item_id):
    client.post("/items", json=ITEM, headers=writer)
    assert client.get(f"/items/{item_id}").status_code == 422


def test_trailing_slash_on_item_is_404_not_redirect(client, writer):
    client.post("/items", json=ITEM, headers=writer)
    response = client.get("/items/1/", follow_redirects=False)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [
        ('"\u00b2"', 412),
        ("\u00b2", 412),
        ('W/"1"', 412),
        ('"01"', 412),
        ("1", 412),
        ("garbage", 412),
        ('"999", "1"', 200),
        ('"1"', 200),
        ("*", 200),
    ],
)
def test_if_match_forms(client, writer, if_match, expected):
    client.post("/items", json=ITEM, headers=writer)
    headers = writer | {"If-Match": if_match.encode("latin-1")}
    response = client.patch("/items/1", json={"price": 2}, headers=headers)
    assert response.status_code == expected
    assert client.get("/items/1").json()["version"] == (2 if expected == 200 else 1)


def test_if_match_on_missing_item_is_412(client, writer):
    assert client.put("/items/5", json=ITEM, headers=writer | {"If-Match": '"1"'}).status_code == 412
    assert client.delete("/items/5", headers=writer | {"If-Match": "*"}).status_code == 412
    assert client.delete("/items/5", headers=writer).status_code == 404


def test_empty_patch_changes_nothing(client, writer):
    item = client.post("/items", json=ITEM, headers=writer).json()
    response = client.patch("/items/1", json={}, headers=writer)
    assert response.status_code == 200
    assert response.json() == item
    assert response.headers["etag"] == '"1"'


def test_failed_writes_are_audited(client, admin):
    client.post("/items", json=ITEM, headers=admin)
    client.put("/items/99", json=ITEM, headers=admin)
    client.patch("/items/1", json={"price": 3}, headers=admin | {"If-Match": '"7"'})
    records = client.get("/aaa/audit", headers=admin).json()["records"]
    assert [(r["action"], r["target"], r["status_code"], r["result"]) for r in records[:3]] == [
        ("item.update", "1", 412, "failed"),
        ("item.replace", "99", 404, "failed"),
        ("item.create", "1", 201, "ok"),
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": 10**20},
        {"exp": 2**63},
        {"exp": 1e300},
        {"exp": "1796000000"},
        {"iat": True},
        {"sub": "\ud800"},
        {"sub": 42},
        {"sub": ""},
        {"sub": "x" * 65},
        {"sub": "a\nb"},
    ],
)
def test_signed_tokens_with_odd_claims_are_401(client, writer, overrides):
    import jwt as pyjwt

    from tests.conftest import TEST_SECRET
    from tests.test_aaa import claims

    token = pyjwt.encode(claims() | overrides, TEST_SECRET, algorithm="HS256")
    response = client.post("/items", json=ITEM, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_validation_errors_mask_passwords_and_bound_input(client, admin):
    response = client.post("/aaa/users", json={"password": "LeakMe-Secret-123", "scopes": ["made:up"]}, headers=admin)
    assert response.status_code == 422
    assert "LeakMe-Secret-123" not in response.text
    big = client.post("/items", json={"name": "x" * 5000, "price": 1}, headers=admin)
    assert big.status_code == 422
    assert len(big.content) < 2000


def test_long_user_name_does_not_log_in_as_its_prefix(client, make_user):
    name = "l" * 64
    make_user(name, "items:write")
    assert login(client, name).status_code == 200
    assert login(client, name + "-anything").status_code == 401


def test_user_names_are_case_insensitive_and_scopes_known(client, admin):
    assert (
        client.post("/aaa/users", json={"username": "Mixed", "password": "long-enough"}, headers=admin).json()[
            "username"
        ]
        == "mixed"
    )
    again = client.post("/aaa/users", json={"username": "MIXED", "password": "long-enough"}, headers=admin)
    assert again.status_code == 409
    unknown = client.post(
        "/aaa/users", json={"username": "z", "password": "long-enough", "scopes": ["made:up"]}, headers=admin
    )
    assert unknown.status_code == 422


def test_old_token_of_a_deleted_and_recreated_user_is_refused(client, admin, make_user, token_for):
    make_user("eve", "items:write")
    old = {"Authorization": f"Bearer {token_for('eve', 'items:write')}"}
    assert client.get("/aaa/me", headers=old).status_code == 200
    assert client.delete("/aaa/users/eve", headers=admin).status_code == 204
    created = client.post("/aaa/users", json={"username": "eve", "password": "eve-password"}, headers=admin)
    assert created.status_code == 201
    refused = client.get("/aaa/me", headers=old)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert login(client, "eve", "eve-password").status_code == 200


def test_password_change_revokes_earlier_tokens(client, admin, make_user):
    make_user("frank", "items:write")
    old = {"Authorization": f"Bearer {login(client, 'frank').json()['access_token']}"}
    # At once, most often within the same second: tokens carry a fractional iat, so this one is still older.
    assert client.patch("/aaa/users/frank", json={"password": "new-password-1"}, headers=admin).status_code == 200
    assert client.get("/aaa/me", headers=old).status_code == 401
    fresh = login(client, "frank", "new-password-1").json()["access_token"]
    assert client.get("/aaa/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_a_token_issued_a_moment_before_a_password_change_is_refused(client, app, make_user, token_for):
    import jwt

    make_user("gina", "items:write")
    token = token_for("gina", "items:write")
    issued = jwt.decode(token, options={"verify_signature": False})["iat"]
    assert isinstance(issued, float)
    moment_later = datetime.fromtimestamp(issued + 0.001, UTC)  # the same whole second, almost always
    with write_transaction(app.state.engine) as conn:
        conn.execute(
            update(users_table).where(users_table.c.username == "gina").values(tokens_valid_after=moment_later)
        )
    assert client.get("/aaa/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    fresh = token_for("gina", "items:write")
    assert client.get("/aaa/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


@pytest.mark.skipif(ON_POSTGRES, reason="prepared statements are the SQLite path (where a missing table is busy)")
def test_a_database_error_in_a_prepared_statement_is_a_503(client, writer, app):
    client.post("/items", json=ITEM, headers=writer)
    with write_transaction(app.state.engine) as conn:
        conn.exec_driver_sql("ALTER TABLE items RENAME TO items_gone")
    for response in (client.get("/items/1"), client.post("/items", json=ITEM, headers=writer)):
        assert (response.status_code, response.headers["retry-after"]) == (503, "1")
        assert response.json() == {"detail": "Database busy, retry shortly"}


def test_a_500_tells_the_client_the_connection_closes(app):
    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert (response.status_code, response.headers["connection"]) == (500, "close")
    assert response.json() == {"detail": "Internal Server Error"}


def test_huge_if_match_version_matches_nothing(client, writer):
    client.post("/items", json=ITEM, headers=writer)
    response = client.patch("/items/1", json={"price": 2}, headers=writer | {"If-Match": '"99999999999"'})
    assert response.status_code == 412


def test_login_name_with_nul_is_401(client):
    response = client.post("/aaa/token", data={"username": "a\x00b", "password": "whatever-1"})
    assert response.status_code == 401


def test_many_validation_errors_are_capped(client, writer):
    body = {"name": "x", "price": 1} | {f"k{n}": n for n in range(500)}
    response = client.post("/items", json=body, headers=writer)
    assert response.status_code == 422
    assert len(response.json()["detail"]) == 50
    assert response.json()["more_errors"] == 450


@pytest.mark.parametrize("value", ["+2", "%202", "2_0", "\u0665", "\uff12"])
def test_price_filters_take_plain_numbers_only(client, value):
    assert client.get(f"/items?min_price={value}").status_code == 422


def test_user_management_failures_are_audited(client, admin):
    body = {"username": "gina", "password": "gina-password"}
    assert client.post("/aaa/users", json=body, headers=admin).status_code == 201
    assert client.post("/aaa/users", json=body, headers=admin).status_code == 409
    assert client.patch("/aaa/users/nobody", json={"disabled": True}, headers=admin).status_code == 404
    assert client.delete("/aaa/users/nobody", headers=admin).status_code == 404
    records = client.get("/aaa/audit", headers=admin).json()["records"]
    assert [(r["action"], r["target"], r["status_code"]) for r in records[:4]] == [
        ("user.delete", "nobody", 404),
        ("user.update", "nobody", 404),
        ("user.create", "gina", 409),
        ("user.create", "gina", 201),
    ]


def test_user_patch_with_nulls_is_422(client, admin, make_user):
    make_user("hank", "items:write")
    response = client.patch("/aaa/users/hank", json={"scopes": None, "disabled": None}, headers=admin)
    assert response.status_code == 422
    assert client.get("/aaa/users", headers=admin).json()[1]["scopes"] == ["items:write"]
