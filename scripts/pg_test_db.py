"""Print the URL of a PostgreSQL database for the test suite's PostgreSQL pass, creating it if needed.

Exits 1 (with the reason on stderr) when no server answers at TEST_PG_ADMIN_URL.
"""

import os
import sys

import psycopg

ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE = os.environ.get("TEST_PG_DATABASE", "fastapi_pm2_test")


def main() -> int:
    """Create the test database if missing and print its SQLAlchemy URL."""
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL not reachable at {ADMIN_URL}: {exc}".strip(), file=sys.stderr)
        return 1
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    print(f"{base}/{DATABASE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
