"""Group commit: one writer thread commits queued SQLite writes together, one transaction per batch."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from core.db import write_transaction

Write = Callable[[Connection], Any]
Outcome = tuple[bool, Any]  # (True, result) or (False, exception)


def commit_batch(engine: Engine, writes: list[Write]) -> list[Outcome]:
    """Run `writes` in order in one transaction; if any fails, run each in its own so the others still commit."""
    try:
        with write_transaction(engine) as conn:
            results = [write(conn) for write in writes]
        return [(True, result) for result in results]
    except Exception as exc:  # noqa: BLE001 - handed to the request that made the write
        if len(writes) == 1:
            return [(False, exc)]
    return [commit_batch(engine, [write])[0] for write in writes]


class WriteQueue:
    """Writes of one process, committed by one thread in batches.

    While the thread commits a batch, new writes wait here and go together in the next transaction: under load
    one BEGIN/COMMIT and one thread round trip serve many requests, and writers never contend for SQLite's lock.
    Every write of a batch is acknowledged only after its COMMIT returned.
    """

    def __init__(self, engine: Engine, max_batch: int = 64) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[tuple[Write, asyncio.Future]] = []
        self._busy = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def submit(self, write: Write) -> Any:
        """`write(conn)`'s result once it is committed; its exception if it failed."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop and (self._loop is None or self._loop.is_closed()):
            # A loop that stopped mid-batch (a test client closed, say) never delivers: start over on this one.
            self._pending, self._busy, self._loop = [], False, loop
        future = loop.create_future()
        self._pending.append((write, future))
        if not self._busy:
            self._busy = True
            loop.call_soon(self._next_batch, loop)  # writes arriving in this turn of the loop join the batch
        return await future

    def _next_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        if not batch:
            self._busy = False
            return
        if self._thread is None:  # made on first use, so an app can run, stop and run again
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        done = loop.run_in_executor(self._thread, commit_batch, self.engine, [write for write, _ in batch])
        done.add_done_callback(lambda finished: self._deliver(loop, batch, finished))

    def _deliver(self, loop: asyncio.AbstractEventLoop, batch: list, finished: asyncio.Future) -> None:
        error = RuntimeError("the writer thread stopped") if finished.cancelled() else finished.exception()
        outcomes = [(False, error)] * len(batch) if error else finished.result()
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if not future.done():  # a client that went away still had its write committed
                future.set_result(value) if ok else future.set_exception(value)
        self._next_batch(loop)

    def close(self) -> None:
        """Finish the batch in progress and stop the thread."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
