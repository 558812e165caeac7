"""The OpenAPI document: valid, and complete enough for clients and /docs."""

from openapi_spec_validator import validate

PUBLIC_ROUTES = {("get", "/items"), ("get", "/items/{item_id}"), ("get", "/aaa"), ("post", "/aaa/token")}


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_openapi_document_is_valid(client):
    document = client.get("/openapi.json").json()
    validate(document)
    assert document["info"]["title"] == "FastAPI pm2 service"


def test_every_route_has_summary_and_tag(client):
    for method, path, operation in operations(client.get("/openapi.json").json()):
        assert operation.get("summary"), (method, path)
        assert operation["tags"] in (["items"], ["aaa"], ["health"]), (method, path)


def test_protected_routes_declare_the_bearer_scheme_with_scopes(client):
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["BearerToken"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/aaa/token"
    assert set(scheme["flows"]["password"]["scopes"]) == {"items:write", "aaa:admin"}
    for method, path, operation in operations(document):
        if path.startswith("/health") or (method, path) in PUBLIC_ROUTES:
            assert "security" not in operation, (method, path)
            continue
        assert operation["security"], (method, path)
        assert "401" in operation["responses"], (method, path)
    assert document["paths"]["/items"]["post"]["security"] == [{"BearerToken": ["items:write"]}]


def test_error_responses_are_documented_with_schemas(client):
    paths = client.get("/openapi.json").json()["paths"]
    put = paths["/items/{item_id}"]["put"]["responses"]
    assert {"401", "403", "404", "412", "413", "422"} <= set(put)
    assert put["412"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "WWW-Authenticate" in put["401"]["headers"]
    token = paths["/aaa/token"]["post"]["responses"]
    assert {"401", "422", "429"} <= set(token)
    assert "Retry-After" in token["429"]["headers"]
    assert "409" in paths["/aaa/users"]["post"]["responses"]


def test_request_bodies_have_examples(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("ItemCreate", "ItemUpdate", "UserCreate", "UserUpdate"):
        assert schemas[name]["examples"], name
    assert schemas["ItemCreate"]["examples"][0] == {"name": "Updated Item", "price": 19.99, "in_stock": True}
