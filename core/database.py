"""Where database work runs, so the event loop never waits on a lock or the network."""

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from core.db import read_transaction, single_read, write_transaction
from core.writer import WriteQueue

T = TypeVar("T")


class Database:
    """Runs reads and writes for the app: inline on the event loop, on a writer thread, or in the threadpool.

    SQLite in WAL mode: reads never wait for a writer and take microseconds, so they run inline on a connection
    the loop keeps (no pool checkout, no BEGIN for a single SELECT). Writes go to one writer thread per process,
    which commits them in batches (core.writer): a wait for another process's lock never blocks the loop.
    Other databases do everything in the threadpool, a transaction per request.
    """

    def __init__(self, engine: Engine, cache_entries: int = 0) -> None:
        self.engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._reader: Connection | None = None
        self._writes = WriteQueue(engine)
        self._cache = ReadCache(cache_entries if self.inline else 0)

    def _reader_connection(self) -> Connection:
        if self._reader is None or self._reader.closed:
            self._reader = single_read(self.engine)
            self._cache.validate(None)  # data_version values are per connection: a new one starts afresh
        return self._reader

    def _read_inline(self, fn: Callable[..., T], *args, snapshot: bool = False) -> T:
        conn = self._reader_connection()
        try:
            if not snapshot:
                return fn(conn, *args)
            conn.exec_driver_sql("BEGIN")
            result = fn(conn, *args)
            conn.exec_driver_sql("COMMIT")
            return result
        except Exception:
            conn.invalidate()  # start the next read on a fresh connection
            self._reader = None
            raise

    async def read_one(self, fn: Callable[..., T], *args) -> T:
        """`fn(conn, *args)` for one SELECT."""
        if self.inline:
            return self._read_inline(fn, *args)
        return await run_in_threadpool(_with_connection, single_read, self.engine, fn, *args)

    async def cached(self, fn: Callable[..., T], *args: Hashable, snapshot: bool = False) -> T:
        """`fn(conn, *args)`, answered from memory when no commit reached the database since it was last run.

        SQLite counts commits from every connection, this process's writer and other processes alike, in
        `PRAGMA data_version`; a change empties the cache, so a read never returns data older than the last
        commit. `snapshot`: `fn` runs several statements (as `read`). Other databases read every time.
        """
        if not self._cache.enabled:
            return await (self.read(fn, *args) if snapshot else self.read_one(fn, *args))
        self._cache.validate(self._read_inline(_data_version))
        key = (fn, args)
        found = self._cache.get(key)
        if found is not MISSING:
            return found
        value = self._read_inline(fn, *args, snapshot=snapshot)
        self._cache.put(key, value)
        return value

    async def read(self, fn: Callable[..., T], *args, scan: bool = False) -> T:
        """`fn(conn, *args)` in a read transaction: one snapshot for several statements.

        `scan`: the query may read the whole table (a text search), so even on SQLite it runs in the threadpool.
        """
        if self.inline and not scan:
            return self._read_inline(fn, *args, snapshot=True)
        return await run_in_threadpool(_with_connection, read_transaction, self.engine, fn, *args)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """`fn(conn)` in a write transaction, committed when it returns."""
        if self.inline:
            return await self._writes.submit(fn)
        return await run_in_threadpool(_with_connection, write_transaction, self.engine, fn)

    def close(self) -> None:
        """Release the loop's connections and the writer thread."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._writes.close()


MISSING = object()


def _data_version(conn: Connection) -> int:
    # On the DBAPI connection: SQLAlchemy's execute path costs ten times this one statement.
    return conn.connection.dbapi_connection.execute("PRAGMA data_version").fetchone()[0]


class ReadCache:
    """Read results keyed by (function, arguments), valid for one value of SQLite's data_version.

    Bounded twice, by entries and by the bytes of serialised bodies (a hundred-item page is about 25 KB, so
    clients asking for many distinct pages cannot grow a process past `max_bytes`).
    """

    def __init__(self, max_entries: int, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: dict[Hashable, Any] = {}
        self._bytes = 0
        self._version: int | None = None

    @property
    def enabled(self) -> bool:
        """False when configured with no entries (or not SQLite)."""
        return self.max_entries > 0

    def validate(self, version: int | None) -> None:
        """Forget everything if the database changed since the entries were read (None: it may have)."""
        if version is None or version != self._version:
            self._clear()
            self._version = version

    def get(self, key: Hashable) -> Any:
        """The cached value, or MISSING."""
        return self._entries.get(key, MISSING)

    def put(self, key: Hashable, value: Any) -> None:
        """Keep a value read after the last `validate`; when full, start over rather than track recency."""
        size = _size(value)
        if len(self._entries) >= self.max_entries or self._bytes + size > self.max_bytes:
            self._clear()
        self._entries[key] = value
        self._bytes += size

    def _clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


def _size(value: Any) -> int:
    """Roughly what a cached value holds: the length of a serialised body, a few hundred bytes for a row."""
    body = value[0] if isinstance(value, tuple) and value else value
    return len(body) if isinstance(body, bytes) else 512


def _with_connection(opener, engine: Engine, fn: Callable[..., T], *args) -> T:
    with opener(engine) as conn:
        return fn(conn, *args)
