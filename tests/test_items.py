"""/items through TestClient: every route, success and failure."""

import pytest

ITEM = {"name": "Updated Item", "price": 19.99, "in_stock": True}


def create(client, headers, **fields):
    response = client.post("/items", json=ITEM | fields, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("path", ["/items", "/items/"])
def test_list_items_empty_without_redirect(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "limit": 20, "offset": 0}


def test_create_item_returns_fields_and_etag(client, writer):
    response = client.post("/items", json=ITEM, headers=writer)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == 1
    assert (body["name"], body["price"], body["in_stock"], body["version"]) == ("Updated Item", 19.99, True, 1)
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == "/items/1"


def test_create_item_with_trailing_slash(client, writer):
    response = client.post("/items/", json=ITEM, headers=writer, follow_redirects=False)
    assert response.status_code == 201
    assert response.json()["name"] == "Updated Item"


@pytest.mark.parametrize("price", [19.99, 0, 0.01, 1234567.89, "5.10"])
def test_price_round_trips_exactly(client, writer, price):
    item = create(client, writer, price=price)
    read = client.get(f"/items/{item['id']}").json()
    assert read["price"] == float(price)
    assert str(read["price"]) == str(float(price))


def test_read_item(client, writer):
    item = create(client, writer)
    response = client.get(f"/items/{item['id']}")
    assert response.status_code == 200
    assert response.json() == item
    assert response.headers["etag"] == '"1"'


def test_read_item_missing_is_404(client):
    response = client.get("/items/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Item 999 not found"}


@pytest.mark.parametrize("item_id", ["abc", "0", "-1", "1.5", str(2**63), "9" * 40])
def test_read_item_bad_id_is_422(client, item_id):
    response = client.get(f"/items/{item_id}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_list_items_pagination_and_order(client, writer):
    ids = [create(client, writer, name=f"item {n}")["id"] for n in range(5)]
    page = client.get("/items", params={"limit": 2, "offset": 1}).json()
    assert [item["id"] for item in page["items"]] == ids[1:3]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"), ({"offset": -1}, "offset")],
)
def test_list_items_bad_paging_is_422(client, params, field):
    response = client.get("/items", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_list_items_filters(client, writer):
    create(client, writer, name="Red apple", price=1.5, in_stock=True)
    create(client, writer, name="Green apple", price=2.5, in_stock=False)
    create(client, writer, name="Pear 100%", price=3.5, in_stock=True)

    def names(**params):
        return [item["name"] for item in client.get("/items", params=params).json()["items"]]

    assert names(q="APPLE") == ["Red apple", "Green apple"]
    assert names(in_stock="false") == ["Green apple"]
    assert names(min_price=2, max_price=3) == ["Green apple"]
    assert names(q="%") == ["Pear 100%"]
    assert names(q="_") == []


def test_replace_item(client, writer):
    item = create(client, writer, name="Old", price=1)
    response = client.put(f"/items/{item['id']}", json=ITEM | {"in_stock": False}, headers=writer)
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["price"], body["in_stock"], body["version"]) == ("Updated Item", 19.99, False, 2)
    assert body["created_at"] == item["created_at"]
    assert body["updated_at"] > item["updated_at"]
    assert client.get(f"/items/{item['id']}").json() == body


def test_replace_item_missing_field_is_422(client, writer):
    item = create(client, writer)
    response = client.put(f"/items/{item['id']}", json={"name": "x"}, headers=writer)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "price"]


def test_replace_item_missing_is_404(client, writer):
    response = client.put("/items/42", json=ITEM, headers=writer)
    assert response.status_code == 404
    assert response.json() == {"detail": "Item 42 not found"}


def test_patch_item_changes_only_sent_fields(client, writer):
    item = create(client, writer)
    response = client.patch(f"/items/{item['id']}", json={"price": 5.55}, headers=writer)
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["price"], body["in_stock"], body["version"]) == ("Updated Item", 5.55, True, 2)


def test_patch_item_null_is_422(client, writer):
    item = create(client, writer)
    response = client.patch(f"/items/{item['id']}", json={"name": None}, headers=writer)
    assert response.status_code == 422
    assert client.get(f"/items/{item['id']}").json()["name"] == "Updated Item"


def test_patch_item_missing_is_404(client, writer):
    response = client.patch("/items/7", json={"price": 1}, headers=writer)
    assert response.status_code == 404


def test_delete_item(client, writer):
    item = create(client, writer)
    response = client.delete(f"/items/{item['id']}", headers=writer)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/items/{item['id']}").status_code == 404
    assert client.delete(f"/items/{item['id']}", headers=writer).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "price": 1},
        {"name": "   ", "price": 1},
        {"name": "x" * 201, "price": 1},
        {"name": "bad\x00name", "price": 1},
        {"name": "x", "price": -1},
        {"name": "x", "price": 1.001},
        {"name": "x", "price": "abc"},
        {"name": "x", "price": 1e20},
        {"name": "x", "price": 1, "in_stock": "maybe"},
        {"name": "x", "price": 1, "colour": "red"},
        {"price": 1},
        [],
    ],
)
def test_create_item_invalid_body_is_422(client, writer, body):
    response = client.post("/items", json=body, headers=writer)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert client.get("/items").json()["total"] == 0


def test_create_item_malformed_json_is_422(client, writer):
    response = client.post("/items", content=b'{"name": ', headers=writer | {"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_if_match_stale_version_is_412(client, writer):
    item = create(client, writer)
    first = client.patch(f"/items/{item['id']}", json={"price": 2}, headers=writer | {"If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    stale = client.put(f"/items/{item['id']}", json=ITEM, headers=writer | {"If-Match": '"1"'})
    assert stale.status_code == 412
    assert client.delete(f"/items/{item['id']}", headers=writer | {"If-Match": '"1"'}).status_code == 412
    assert client.get(f"/items/{item['id']}").json()["price"] == 2


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/items", ITEM),
        ("put", "/items/1", ITEM),
        ("patch", "/items/1", {"price": 1}),
        ("delete", "/items/1", None),
    ],
)
def test_writes_without_token_are_401(client, method, path, body):
    response = client.request(method, path, json=body)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Not authenticated"}


def test_write_without_scope_is_403(client, make_user, token_for):
    make_user("reader", "")
    response = client.post("/items", json=ITEM, headers={"Authorization": f"Bearer {token_for('reader')}"})
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing scope: items:write"}
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="items:write"'
