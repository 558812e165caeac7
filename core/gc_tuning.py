"""Garbage-collector settings for a long-running server process."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def settled(gen0_threshold: int) -> Iterator[None]:
    """While serving: what startup built is frozen, and young objects are collected less often.

    A full collection walks every tracked object: with FastAPI, SQLAlchemy, pydantic and the app loaded that took
    about 70 ms per pass under write load, and no request is answered meanwhile (it was the writes' whole p99).
    Frozen objects are not walked again. A first threshold of 10,000 instead of 700 lets a request's short-lived
    objects go by reference counting before a collection starts. 0 leaves the collector as Python set it.
    """
    if not gen0_threshold:
        yield
        return
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, *previous[1:])
    try:
        yield
    finally:  # an app built again in this process (tests) starts from the same state
        gc.set_threshold(*previous)
        gc.unfreeze()
