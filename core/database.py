"""Where database work runs, so the event loop never waits on a lock or the network."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from core.db import read_transaction, single_read, write_transaction

T = TypeVar("T")


class Database:
    """Runs reads and writes for the app: inline on the event loop, on a writer thread, or in the threadpool.

    SQLite in WAL mode: reads never wait for a writer and take microseconds, so they run inline on a connection
    the loop keeps (no pool checkout, no BEGIN for a single SELECT). Writes run on one writer thread per process:
    writers queue there instead of contending for SQLite's lock, and a wait for another process's lock never blocks
    the loop. Other databases do everything in the threadpool.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._reader: Connection | None = None
        self._writer: ThreadPoolExecutor | None = None

    def _reader_connection(self) -> Connection:
        if self._reader is None or self._reader.closed:
            self._reader = single_read(self.engine)
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
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._writer_pool(), _with_connection, write_transaction, self.engine, fn)
        return await run_in_threadpool(_with_connection, write_transaction, self.engine, fn)

    def _writer_pool(self) -> ThreadPoolExecutor:
        if self._writer is None:  # made on first use, so an app can run, stop and run again
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        return self._writer

    def close(self) -> None:
        """Release the loop's connections and the writer thread."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None


def _with_connection(opener, engine: Engine, fn: Callable[..., T], *args) -> T:
    with opener(engine) as conn:
        return fn(conn, *args)
