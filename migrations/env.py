"""Alembic environment: migrations run on the connection core.migrations hands over, or on DATABASE_URL."""

from alembic import context

from core.config import get_settings
from core.db import make_engine, metadata

config = context.config


def run(connection) -> None:
    """Run the pending migrations on `connection`."""
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:  # the alembic command line, e.g. `alembic revision --autogenerate`
    engine = make_engine(get_settings())
    with engine.begin() as conn:
        run(conn)
    engine.dispose()
