"""Where blocking database work runs, so the event loop never waits on a lock or the network."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

# SQLite allows one writer at a time: one thread per process does every write, in order, so writers queue here
# instead of contending for the lock, and a busy wait on another process's lock never touches the event loop.
_SQLITE_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")


async def run_read(engine: Engine, fn: Callable[..., T], *args) -> T:
    """Run a read. SQLite in WAL mode: inline (a read never waits for writers and takes microseconds)."""
    if engine.dialect.name == "sqlite":
        return fn(*args)
    return await run_in_threadpool(fn, *args)


async def run_write(engine: Engine, fn: Callable[..., T], *args) -> T:
    """Run a write off the event loop: SQLite's writer thread, or the threadpool for other databases."""
    if engine.dialect.name == "sqlite":
        return await asyncio.get_running_loop().run_in_executor(_SQLITE_WRITER, fn, *args)
    return await run_in_threadpool(fn, *args)
