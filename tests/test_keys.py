"""Asymmetric tokens (EdDSA, RS256): verify-only instances, key ids and rotation."""

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from core import users
from core.config import Settings
from core.db import write_transaction
from core.keys import generate_key_pair, load_keyring
from core.secret import InsecureSecret
from core.security import create_access_token
from main import create_app
from tests.dbs import fresh_database_url

ITEM = {"name": "Updated Item", "price": 19.99, "in_stock": True}


@pytest.fixture(params=["EdDSA", "RS256"])
def algorithm(request):
    return request.param


@pytest.fixture
def key_dirs(tmp_path):
    return tmp_path / "private", tmp_path / "public"


def make_settings(tmp_path, algorithm, public_dir, private_key=None):
    return Settings(
        database_url=fresh_database_url(tmp_path),
        jwt_algorithm=algorithm,
        jwt_private_key_file=private_key,
        jwt_public_keys_dir=public_dir,
        _env_file=None,
    )


def add_writer(app):
    with write_transaction(app.state.engine) as conn:
        users.create_user(conn, "writer", None, ["items:write"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict, claims: dict, sign) -> str:
    """A token built by hand, for headers PyJWT refuses to write."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def hmac_with_public_key(claims, public_pem: bytes) -> str:
    """An HS256 token whose 'secret' is the public key: what an algorithm-confusion attack sends."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    return raw_token(header, claims, lambda data: hmac.new(public_pem, data, hashlib.sha256).digest())


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_signer_issues_kid_tokens_that_a_verify_only_instance_accepts(tmp_path, algorithm, key_dirs):
    private, _ = generate_key_pair(algorithm, "k1", *key_dirs)
    signer = create_app(make_settings(tmp_path, algorithm, key_dirs[1], private))
    verifier_settings = make_settings(tmp_path, algorithm, key_dirs[1])
    verifier = create_app(verifier_settings.model_copy(update={"database_url": signer.state.settings.database_url}))
    with TestClient(signer) as sign_client, TestClient(verifier) as verify_client:
        add_writer(signer)
        token = create_access_token(signer.state.settings, signer.state.keys, "writer", ["items:write"])[0]
        assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": "k1", "typ": "JWT"}
        assert sign_client.post("/items", json=ITEM, headers=bearer(token)).status_code == 201
        assert verify_client.post("/items", json=ITEM, headers=bearer(token)).status_code == 201
        assert verify_client.get("/aaa").json()["issues_tokens"] is False
        refused = verify_client.post("/aaa/token", data={"username": "writer", "password": "whatever-pass"})
        assert refused.status_code == 503


def test_rotation_accepts_old_and_new_kid_during_the_switch(tmp_path, key_dirs):
    old_private, old_public = generate_key_pair("EdDSA", "2026-11", *key_dirs)
    new_private, _ = generate_key_pair("EdDSA", "2026-12", *key_dirs)
    old_signer = load_keyring(make_settings(tmp_path, "EdDSA", key_dirs[1], old_private))
    new_settings = make_settings(tmp_path, "EdDSA", key_dirs[1], new_private)
    app = create_app(new_settings)
    with TestClient(app) as client:
        add_writer(app)
        old_token = create_access_token(new_settings, old_signer, "writer", ["items:write"])[0]
        new_token = create_access_token(new_settings, app.state.keys, "writer", ["items:write"])[0]
        assert jwt.get_unverified_header(new_token)["kid"] == "2026-12"
        assert client.post("/items", json=ITEM, headers=bearer(old_token)).status_code == 201
        assert client.post("/items", json=ITEM, headers=bearer(new_token)).status_code == 201
        assert client.get("/aaa").json()["key_ids"] == ["2026-11", "2026-12"]

    old_public.unlink()  # the switch is over: the old key is withdrawn everywhere
    app = create_app(new_settings.model_copy(update={"database_url": new_settings.database_url}))
    with TestClient(app) as client:
        assert client.post("/items", json=ITEM, headers=bearer(old_token)).status_code == 401
        assert client.post("/items", json=ITEM, headers=bearer(new_token)).status_code == 201


def test_asymmetric_instance_refuses_foreign_tokens(tmp_path, key_dirs):
    private, public = generate_key_pair("EdDSA", "k1", *key_dirs)
    settings = make_settings(tmp_path, "EdDSA", key_dirs[1], private)
    app = create_app(settings)
    other_private, _ = generate_key_pair("EdDSA", "k1", tmp_path / "other-private", tmp_path / "other-public")
    impostor = load_keyring(make_settings(tmp_path, "EdDSA", tmp_path / "other-public", other_private))
    signing_key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    with TestClient(app) as client:
        add_writer(app)
        claims = jwt.decode(
            create_access_token(settings, app.state.keys, "writer", ["items:write"])[0],
            options={"verify_signature": False},
        )
        forged = [
            create_access_token(settings, impostor, "writer", ["items:write"])[0],  # same kid, other key
            hmac_with_public_key(claims, public.read_bytes()),  # algorithm confusion
            jwt.encode(claims, private.read_bytes(), algorithm="EdDSA"),  # no kid
            jwt.encode(claims, private.read_bytes(), algorithm="EdDSA", headers={"kid": "unknown"}),
            raw_token({"alg": "EdDSA", "kid": ["k1"]}, claims, signing_key.sign),
        ]
        for token in forged:
            response = client.post("/items", json=ITEM, headers=bearer(token))
            assert response.status_code == 401, token
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_missing_or_mismatched_keys_refuse_to_start(tmp_path, key_dirs):
    with pytest.raises(InsecureSecret):
        load_keyring(make_settings(tmp_path, "EdDSA", key_dirs[1]))
    rsa_private, _ = generate_key_pair("RS256", "r1", *key_dirs)
    with pytest.raises(InsecureSecret):
        load_keyring(make_settings(tmp_path, "EdDSA", key_dirs[1], rsa_private))
