"""Engine, tables and the connection dependencies."""

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, make_url

from core.config import Settings

# Writers in one process queue here instead of spinning on SQLite's file lock.
_SQLITE_WRITE_LOCK = threading.Lock()


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


metadata = MetaData()

# BigInteger ids map to INTEGER PRIMARY KEY (rowid) on SQLite.
Id = BigInteger().with_variant(Integer, "sqlite")

items = Table(
    "items",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("name_folded", String(800), nullable=False),  # casefold()ed name: Unicode-aware search everywhere
    Column("price_cents", BigInteger, nullable=False),
    Column("in_stock", Boolean, nullable=False, default=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,  # ids are never reused, so an old ETag cannot match a new item
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),
    Column("scopes", String(500), nullable=False, default=""),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("tokens_valid_after", UTCDateTime, nullable=True),  # set when the password changes
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(64), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=True),
    Column("result", String(32), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("instance", String(64), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("client", String(64), nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_audit_log_action_target_at", "action", "target", "at"),
)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for write transactions."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection):
        options = conn.get_execution_options()
        if options.get("sqlite_single_statement"):
            return  # one SELECT is atomic by itself: no BEGIN/COMMIT round trip
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate") else "BEGIN")


def make_engine(settings: Settings) -> Engine:
    """Create the engine for `DATABASE_URL`; SQLite gets its file directory and pragmas."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=settings.db_pool_recycle_seconds,
    )


def read_transaction(engine: Engine) -> AbstractContextManager[Connection]:
    """A short read transaction: one snapshot for several statements."""
    return engine.begin()


def single_read(engine: Engine) -> AbstractContextManager[Connection]:
    """A connection for one SELECT, which needs no transaction of its own."""
    return engine.connect().execution_options(sqlite_single_statement=True)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction, committed on exit; one writer per process at a time on SQLite."""
    lock = _SQLITE_WRITE_LOCK if engine.dialect.name == "sqlite" else nullcontext()
    with (
        lock,
        engine.connect().execution_options(sqlite_immediate=True) as conn,
        conn.begin(),
    ):
        yield conn
