"""Call the service the way its users do, with requests: list, read, and an authenticated PUT of item 1."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CLIENT_USER = "client"


def show(label: str, response: requests.Response) -> bool:
    """Print a call's status and JSON body; True if it succeeded."""
    try:
        body = json.dumps(response.json(), indent=2)
    except ValueError:
        body = response.text
    print(f"{label} -> {response.status_code}\n{body}\n")
    return response.ok


def token_from_login(aaa: str, username: str, password: str) -> str:
    """POST /aaa/token with the OAuth2 password form."""
    response = requests.post(f"{aaa}/aaa/token", data={"username": username, "password": password}, timeout=10)
    if not show(f"POST {aaa}/aaa/token", response):
        sys.exit("login failed")
    return response.json()["access_token"]


def token_from_cli() -> str:
    """On the server's own host: make sure a writer account exists and mint a token with the operator CLI."""
    manage = [sys.executable, str(ROOT / "scripts" / "manage.py")]
    subprocess.run(
        [*manage, "create-user", CLIENT_USER, "--scopes", "items:write", "--no-password", "--if-missing"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    minted = subprocess.run([*manage, "token", CLIENT_USER], check=True, capture_output=True, text=True)
    return minted.stdout.strip()


def default_urls() -> tuple[str, str]:
    """ITEMS_URL / AAA_URL, else the first and second of API_PORTS on API_HOST (8001 and 8002)."""
    host = os.environ.get("API_HOST", "127.0.0.1")
    host = f"[{host}]" if ":" in host else host
    ports = [p.strip() for p in os.environ.get("API_PORTS", "8001,8002").split(",") if p.strip()] or ["8001"]
    items = os.environ.get("ITEMS_URL", f"http://{host}:{ports[0]}")
    return items, os.environ.get("AAA_URL", f"http://{host}:{ports[min(1, len(ports) - 1)]}")


def main() -> int:
    """Run the calls; exit 1 if any fails."""
    items_default, aaa_default = default_urls()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", default=items_default, help="default: ITEMS_URL, else the first API_PORTS port")
    parser.add_argument("--aaa", default=aaa_default, help="default: AAA_URL, else the second API_PORTS port")
    parser.add_argument("--username", default=os.environ.get("API_USERNAME"))
    parser.add_argument("--password", default=os.environ.get("API_PASSWORD"))
    args = parser.parse_args()
    items, aaa = args.items.rstrip("/"), args.aaa.rstrip("/")

    if args.username and args.password:
        token = token_from_login(aaa, args.username, args.password)
    else:
        token = token_from_cli()
    headers = {"Authorization": f"Bearer {token}", "X-Custom-Header": "my-custom-value"}
    ok = show(f"GET {aaa}/aaa/me", requests.get(f"{aaa}/aaa/me", headers=headers, timeout=10))

    ok &= show(f"GET {items}/items", requests.get(f"{items}/items", timeout=10))
    item_id = 1
    if requests.get(f"{items}/items/1", timeout=10).status_code == 404:
        first = {"name": "First Item", "price": 9.99, "in_stock": True}
        created = requests.post(f"{items}/items", json=first, headers=headers, timeout=10)
        ok &= show(f"POST {items}/items (no item 1 yet)", created)
        item_id = created.json().get("id", 1) if created.ok else 1

    ok &= show(f"GET {items}/items/{item_id}", requests.get(f"{items}/items/{item_id}", timeout=10))
    update = {"name": "Updated Item", "price": 19.99, "in_stock": True}
    put = requests.put(f"{items}/items/{item_id}", json=update, headers=headers, timeout=10)
    ok &= show(f"PUT {items}/items/{item_id}", put)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except requests.ConnectionError as exc:
        sys.exit(f"error: cannot reach the service ({exc.request.url if exc.request else exc}): is it running?")
