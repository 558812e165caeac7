"""Wait until every port's /health answers 200, or fail with the ports that did not."""

import argparse
import json
import sys
import time
import urllib.request


def healthy(url: str) -> dict | None:
    """The health body, or None while the port does not answer 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response) if response.status == 200 else None
    except (OSError, ValueError):
        return None


def main() -> int:
    """Poll until all ports are healthy or the timeout passes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", default="8001,8002")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    host = f"[{args.host}]" if ":" in args.host else args.host
    pending = {p.strip(): f"http://{host}:{p.strip()}/health" for p in args.ports.split(",") if p.strip()}
    deadline = time.monotonic() + args.timeout
    while pending and time.monotonic() < deadline:
        for port, url in list(pending.items()):
            body = healthy(url)
            if body:
                print(f"port {port}: healthy ({body.get('instance')}, pid {body.get('pid')})")
                del pending[port]
        if pending:
            time.sleep(0.3)
    for port in pending:
        print(f"port {port}: not healthy after {args.timeout:.0f}s", file=sys.stderr)
    return 1 if pending else 0


if __name__ == "__main__":
    sys.exit(main())
