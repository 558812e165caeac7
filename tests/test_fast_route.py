"""FastRoute answers every request exactly as FastAPI's own handler does, valid or not."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core import users
from core.auth import Principal, bearer_token
from core.db import audit_log, write_transaction
from core.fast_route import FastRoute
from core.keys import load_keyring
from core.security import create_access_token
from main import create_app
from tests.conftest import make_settings

ITEM = '{"name": "Lamp", "price": 19.99, "in_stock": true}'
JSON = "application/json"
HEADERS_COMPARED = ("content-type", "etag", "location", "www-authenticate", "allow", "content-length")

# (method, path, body, content type, auth: "writer" | "reader" | "none" | a literal header value, extra headers)
CASES = [
    ("POST", "/items", ITEM, JSON, "writer", {}),
    ("POST", "/items/", ITEM, JSON, "writer", {}),
    ("POST", "/items", ITEM, JSON, "reader", {}),
    ("POST", "/items", ITEM, JSON, "none", {}),
    ("POST", "/items", ITEM, JSON, "Basic abc", {}),
    ("POST", "/items", ITEM, JSON, "Bearer not.a.token", {}),
    ("POST", "/items", "{not json", JSON, "writer", {}),
    ("POST", "/items", "{not json", JSON, "Bearer not.a.token", {}),  # FastAPI parses the body before the token
    ("POST", "/items", '{"name": "Lamp"}', JSON, "Bearer not.a.token", {}),  # ...but checks the token first
    ("POST", "/items", ITEM, "text/plain", "writer", {}),
    ("POST", "/items", ITEM, "application/json; charset=utf-8", "writer", {}),
    ("POST", "/items", ITEM, "application/merge-patch+json", "writer", {}),
    ("POST", "/items", ITEM, None, "writer", {}),
    ("POST", "/items", "", JSON, "writer", {}),
    ("POST", "/items", "[]", JSON, "writer", {}),
    ("POST", "/items", "null", JSON, "writer", {}),
    ("POST", "/items", '{"name": "Lamp", "price": NaN, "in_stock": true}', JSON, "writer", {}),
    ("POST", "/items", '{"name": "Lamp", "price": 1e309, "in_stock": true}', JSON, "writer", {}),
    ("POST", "/items", '{"name": "\\ud800", "price": 1, "in_stock": true}', JSON, "writer", {}),
    ("POST", "/items", '{"name": "Lamp", "price": 1.001, "in_stock": true}', JSON, "writer", {}),
    ("POST", "/items", '{"name": "Lamp", "price": 1, "in_stock": true, "extra": 1}', JSON, "writer", {}),
    ("POST", "/items", b"\xff\xfe", JSON, "writer", {}),
    ("POST", "/items", "[" * 5000 + "]" * 5000, JSON, "writer", {}),
    ("POST", "/items", '{"name": "' + "x" * 300 + '", "price": 1, "in_stock": true}', JSON, "writer", {}),
    ("GET", "/items/1", None, None, "none", {}),
    *[
        ("GET", f"/items{query}", None, None, "none", {})
        for query in (
            "",
            "/",
            "?limit=20",
            "?limit=0",
            "?limit=abc",
            "?limit=5&limit=1",
            "?offset=-1",
            "?offset=1",
            "?q=",
            "?q=lamp",
            "?q=%00",
            "?q=%25",
            "?in_stock=yes",
            "?in_stock=maybe",
            "?min_price=1.5&max_price=30",
            "?min_price=1.001",
            "?max_price=x",
            "?unknown=1",
            "?limit=1&unknown=2",
            "?LIMIT=1",
            "?limit=%EF%BC%91",
        )
    ],
    ("GET", "/items/999", None, None, "none", {}),
    ("GET", "/items/0", None, None, "none", {}),
    ("GET", "/items/abc", None, None, "none", {}),
    ("GET", "/items/1_0", None, None, "none", {}),
    ("GET", "/items/9223372036854775808", None, None, "none", {}),
    ("PUT", "/items/1", ITEM, JSON, "writer", {}),
    ("PUT", "/items/1", ITEM, JSON, "writer", {"If-Match": '"2"'}),
    ("PUT", "/items/1", ITEM, JSON, "writer", {"If-Match": '"1"'}),
    ("PUT", "/items/1", ITEM, JSON, "writer", {"If-Match": 'W/"3"'}),
    ("PUT", "/items/1", ITEM, JSON, "writer", {"If-Match": "*"}),
    ("PUT", "/items/1", ITEM, JSON, "writer", {"If-Match": '"1", "4"'}),
    ("PUT", "/items/1", ITEM, JSON, "writer", {"If-Match": "x" * 1025}),
    ("PUT", "/items/999", ITEM, JSON, "writer", {}),
    ("PUT", "/items/999", ITEM, JSON, "writer", {"If-Match": '"1"'}),
    ("PUT", "/items/abc", ITEM, JSON, "writer", {}),
    ("PUT", "/items/abc", ITEM, JSON, "none", {}),
    ("PUT", "/items/1", '{"name": "Lamp"}', JSON, "writer", {}),
    ("PUT", "/items/1", ITEM, JSON, "reader", {}),
    ("PATCH", "/items/1", '{"price": 5}', JSON, "writer", {}),
    ("PATCH", "/items/1", "{}", JSON, "writer", {}),
    ("PATCH", "/items/1", '{"name": null}', JSON, "writer", {}),
    ("PATCH", "/items/1", '{"price": 5}', JSON, "writer", {"If-Match": '"99"'}),
    ("DELETE", "/items/2", None, None, "writer", {"If-Match": '"5"'}),
    ("DELETE", "/items/2", None, None, "none", {}),
    ("DELETE", "/items/2", None, None, "writer", {}),
    ("DELETE", "/items/2", None, None, "writer", {}),
    ("DELETE", "/items/-1", None, None, "writer", {}),
    ("GET", "/items/1", None, None, "none", {}),
]


def standard_handlers(app) -> None:
    """Every FastRoute answers through FastAPI's own handler."""
    for route in app.routes:
        if isinstance(route, FastRoute) and route.plan is not None:
            route.app = route.standard_app


def _untimed(value):
    """`value` without the timestamps, which differ between runs."""
    if isinstance(value, dict):
        return {key: _untimed(item) for key, item in value.items() if key not in ("created_at", "updated_at")}
    return [_untimed(item) for item in value] if isinstance(value, list) else value


def _send(client: TestClient, tokens: dict[str, str], case) -> tuple:
    method, path, body, content_type, auth, extra = case
    headers = dict(extra)
    if content_type:
        headers["Content-Type"] = content_type
    if auth in tokens:
        headers["Authorization"] = f"Bearer {tokens[auth]}"
    elif auth != "none":
        headers["Authorization"] = auth
    content = body.encode() if isinstance(body, str) else body
    response = client.request(method, path, content=content, headers=headers)
    try:
        payload = response.json()
    except ValueError:
        payload = response.text
    payload = _untimed(payload)
    compared = {name: response.headers.get(name) for name in HEADERS_COMPARED}
    return method, path, response.status_code, payload, compared


def _answers(tmp_path: Path, planned: bool) -> tuple[list[tuple], list[tuple]]:
    """Every case's answer and the audit trail, on a fresh database."""
    settings = make_settings(tmp_path)
    app = create_app(settings)
    if not planned:
        standard_handlers(app)
    with TestClient(app) as client:
        with write_transaction(app.state.engine) as conn:
            users.create_user(conn, "writer", None, ["items:write"])
            users.create_user(conn, "reader", None, [])
        keys = load_keyring(settings)
        tokens = {
            name: create_access_token(settings, keys, name, scopes)[0]
            for name, scopes in (("writer", ["items:write"]), ("reader", []))
        }
        answers = [_send(client, tokens, case) for case in CASES]
        with app.state.engine.connect() as conn:
            columns = (audit_log.c.actor, audit_log.c.action, audit_log.c.target, audit_log.c.status_code)
            trail = [tuple(row) for row in conn.execute(select(*columns).order_by(audit_log.c.id))]
    return answers, trail


def test_planned_answers_equal_fastapi_answers(tmp_path):
    planned, planned_trail = _answers(tmp_path / "planned", planned=True)
    standard, standard_trail = _answers(tmp_path / "standard", planned=False)
    for case, mine, theirs in zip(CASES, planned, standard, strict=True):
        assert mine == theirs, case
    assert planned_trail == standard_trail
    statuses = {answer[2] for answer in planned}
    assert {200, 201, 204, 400, 401, 403, 404, 412, 422} <= statuses  # the cases reach every outcome


def test_hot_routes_have_a_plan(app):
    planned = {(route.path, method) for route in app.routes if getattr(route, "plan", None) for method in route.methods}
    assert {("/items/{item_id}", m) for m in ("GET", "PUT", "PATCH", "DELETE")} <= planned
    assert {("/items", "POST"), ("/items/", "POST")} <= planned
    assert ("/items", "GET") in planned


def test_dependency_overrides_are_honoured(app, client):
    async def anyone() -> Principal:
        return Principal("override", ["items:write"], ["items:write"], None)  # type: ignore[arg-type]

    app.dependency_overrides[bearer_token] = anyone
    try:
        response = client.post("/items", content=ITEM, headers={"Content-Type": JSON})
    finally:
        app.dependency_overrides.clear()
    assert response.status_code == 201
    assert client.post("/items", content=ITEM, headers={"Content-Type": JSON}).status_code == 401


@pytest.mark.parametrize("chunks", [[b'{"name": "Lamp", ', b'"price": 2, "in_stock": false}'], [b"{", b"bad"]])
def test_a_body_in_chunks_is_read_whole(client, writer, chunks):
    def body():
        yield from chunks

    response = client.post("/items", content=body(), headers=writer | {"Content-Type": JSON})
    assert response.status_code == (201 if chunks[1] != b"bad" else 422)
    if response.status_code == 201:
        assert (response.json()["price"], response.json()["in_stock"]) == (2, False)
