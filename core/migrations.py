"""Schema migrations (Alembic), run by one process at a time."""

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from core.config import PROJECT_DIR
from core.db import write_transaction

MIGRATIONS_DIR = PROJECT_DIR / "migrations"
# Any constant: PostgreSQL advisory locks are named by a number.
_MIGRATION_LOCK = 7_240_561


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; concurrent callers wait for each other's lock."""
    config = _config()
    with write_transaction(engine) as conn:  # SQLite: BEGIN IMMEDIATE already serialises writers
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest revision in migrations/."""
    return ScriptDirectory.from_config(_config()).get_current_head()
