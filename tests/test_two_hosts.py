"""Two app instances as if on two hosts: separate working directories and local files, one PostgreSQL."""

import shutil

import pytest
import requests

from tests.dbs import ON_POSTGRES
from tests.procs import free_ports, manage, service_env, uvicorn_processes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: the PostgreSQL pass sets TEST_DATABASE_URL"),
]
ITEM = {"name": "Updated Item", "price": 19.99, "in_stock": True}


def host_env(tmp_path, name, **extra):
    """A host of its own: working directory, key directory, secret file; the shared database from the suite."""
    home = tmp_path / name
    (home / "keys").mkdir(parents=True)
    env = service_env(home, JWT_ALGORITHM="EdDSA", JWT_PUBLIC_KEYS_DIR=str(home / "keys"), **extra)
    return home, env


def test_users_tokens_and_writes_cross_hosts(tmp_path):
    signer_home, signer = host_env(tmp_path, "host-a")
    manage(
        signer | {"JWT_PUBLIC_KEYS_DIR": str(signer_home / "keys")},
        "gen-keys",
        "--kid",
        "a1",
        "--private-dir",
        str(signer_home / "private"),
    )
    signer["JWT_PRIVATE_KEY_FILE"] = str(signer_home / "private" / "a1.pem")
    verifier_home, verifier = host_env(tmp_path, "host-b", DATABASE_URL=signer["DATABASE_URL"])
    shutil.copy(signer_home / "keys" / "a1.pem", verifier_home / "keys" / "a1.pem")  # only the public key travels
    assert not (verifier_home / "private").exists()

    manage(signer, "init")
    manage(signer, "create-user", "root", "--scopes", "aaa:admin items:write", "--password", "root-password")
    port_a, port_b = free_ports(2)
    with uvicorn_processes(signer, [port_a], cwd=signer_home), uvicorn_processes(verifier, [port_b], cwd=verifier_home):
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        admin = requests.post(f"{a}/aaa/token", data={"username": "root", "password": "root-password"}, timeout=10)
        admin_headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        created = requests.post(
            f"{a}/aaa/users",
            json={"username": "dana", "password": "dana-password", "scopes": ["items:write"]},
            headers=admin_headers,
            timeout=10,
        )
        assert created.status_code == 201
        token = requests.post(f"{a}/aaa/token", data={"username": "dana", "password": "dana-password"}, timeout=10)
        dana = {"Authorization": f"Bearer {token.json()['access_token']}"}

        assert requests.get(f"{b}/aaa/me", headers=dana, timeout=10).json()["username"] == "dana"
        written = requests.post(f"{a}/items", json=ITEM, headers=dana, timeout=10)
        assert written.status_code == 201
        assert requests.get(f"{b}/items/{written.json()['id']}", timeout=10).json() == written.json()
        on_b = requests.patch(f"{b}/items/{written.json()['id']}", json={"price": 5}, headers=dana, timeout=10)
        assert on_b.status_code == 200
        assert requests.get(f"{a}/items/{written.json()['id']}", timeout=10).json()["price"] == 5

        assert (
            requests.post(f"{b}/aaa/token", data={"username": "dana", "password": "dana-password"}).status_code == 503
        )
        disabled = requests.patch(f"{a}/aaa/users/dana", json={"disabled": True}, headers=admin_headers, timeout=10)
        assert disabled.status_code == 200
        refused = requests.post(f"{b}/items", json=ITEM, headers=dana, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
