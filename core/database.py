"""Where database work runs, so the event loop never waits on a lock or the network."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from core.db import read_transaction, single_read

T = TypeVar("T")


class Database:
    """Runs reads and writes for the app: inline, on SQLite's writer thread, or in the threadpool.

    SQLite in WAL mode: a read never waits for a writer and takes microseconds, so single-statement reads run
    inline on one connection the event loop keeps (no pool checkout, no BEGIN). Writes run on one writer thread
    per process: writers queue there instead of contending for SQLite's lock, and a wait for another process's
    lock never blocks the loop. Other databases do everything in the threadpool.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._loop_connection: Connection | None = None
        self._writer: ThreadPoolExecutor | None = None

    def _read_inline(self, fn: Callable[..., T], *args, snapshot: bool = False) -> T:
        if self._loop_connection is None or self._loop_connection.closed:
            self._loop_connection = single_read(self.engine)
        conn = self._loop_connection
        try:
            if not snapshot:
                return fn(conn, *args)
            conn.exec_driver_sql("BEGIN")
            result = fn(conn, *args)
            conn.exec_driver_sql("COMMIT")
            return result
        except Exception:
            self._loop_connection.invalidate()  # start the next read on a fresh connection
            self._loop_connection = None
            raise

    async def read_one(self, fn: Callable[..., T], *args) -> T:
        """`fn(conn, *args)` for one SELECT."""
        if self.inline:
            return self._read_inline(fn, *args)
        return await run_in_threadpool(_with_connection, single_read, self.engine, fn, *args)

    async def read(self, fn: Callable[..., T], *args) -> T:
        """`fn(conn, *args)` in a read transaction: one snapshot for several statements."""
        if self.inline:
            return self._read_inline(fn, *args, snapshot=True)
        return await run_in_threadpool(_with_connection, read_transaction, self.engine, fn, *args)

    async def write(self, fn: Callable[[], T]) -> T:
        """`fn()` off the event loop; it opens its own write transaction."""
        if self.inline:
            if self._writer is None:  # made on first use, so an app can run, stop and run again
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn)
        return await run_in_threadpool(fn)

    def close(self) -> None:
        """Release the loop's connection and the writer thread."""
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None


def _with_connection(opener, engine: Engine, fn: Callable[..., T], *args) -> T:
    with opener(engine) as conn:
        return fn(conn, *args)
