"""Garbage-collector settings for a long-running server process."""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_serving = 0  # apps inside `settled` in this process
_previous: tuple[int, int, int] | None = None


@contextmanager
def settled(gen0_threshold: int) -> Iterator[None]:
    """While serving: what startup built is frozen, and young objects are collected less often.

    A full collection walks every tracked object: with FastAPI, SQLAlchemy, pydantic and the app loaded that took
    about 70 ms per pass under write load, and no request is answered meanwhile (it was the writes' whole p99).
    Frozen objects are not walked again. A first threshold of 10,000 instead of 700 lets a request's short-lived
    objects go by reference counting before a collection starts. 0 leaves the collector as Python set it. Apps
    serving at once in one process (tests) share the setting; the last to stop restores Python's.
    """
    if not gen0_threshold:
        yield
        return
    _enter(gen0_threshold)
    try:
        yield
    finally:
        _leave()


def _enter(gen0_threshold: int) -> None:
    global _serving, _previous
    with _lock:
        if _serving == 0:
            _previous = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(gen0_threshold, *_previous[1:])
        _serving += 1


def _leave() -> None:
    global _serving
    with _lock:
        _serving -= 1
        if _serving == 0 and _previous is not None:
            gc.set_threshold(*_previous)
            gc.unfreeze()
