"""The database the suite runs on: SQLite per test by default, PostgreSQL when TEST_DATABASE_URL names one."""

import os
from pathlib import Path

from sqlalchemy import create_engine, text

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


def fresh_database_url(tmp_path: Path) -> str:
    """A URL to an empty database: a new SQLite file, or the PostgreSQL test database with its schema wiped."""
    if not ON_POSTGRES:
        return f"sqlite:///{tmp_path / 'app.db'}"
    engine = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return TEST_DATABASE_URL
