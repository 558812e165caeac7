"""Log lines: batched per event-loop turn, whole and in order; request ids unique without a syscall each."""

import asyncio
import logging
import os

from core.logging import LoopBatchedStreamHandler, _ids


class Stream:
    """A stream that records each write."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def _logger(stream: Stream) -> logging.Logger:
    logger = logging.getLogger(f"test.batched.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = LoopBatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers = [handler]
    return logger


def test_lines_of_one_loop_turn_are_one_write_made_in_the_next_turn():
    stream = Stream()
    log = _logger(stream)

    async def serve() -> list[list[str]]:
        seen = []
        for turn in range(3):
            for n in range(5):
                log.info("turn %d line %d", turn, n)
            seen.append(list(stream.writes))
            await asyncio.sleep(0)
        return seen

    seen = asyncio.run(serve())
    assert seen[0] == []  # nothing written while the turn runs
    assert stream.writes == ["".join(f"turn {t} line {n}\n" for n in range(5)) for t in range(3)]


def test_lines_off_the_loop_are_written_at_once_after_pending_ones():
    stream = Stream()
    log = _logger(stream)

    async def serve() -> None:
        log.info("on the loop")
        await asyncio.to_thread(log.info, "from a thread")  # the loop's line first, then the thread's
        assert stream.writes == ["on the loop\nfrom a thread\n"]

    asyncio.run(serve())
    log.info("no loop")
    assert stream.writes[-1] == "no loop\n"


def test_lines_pending_when_a_loop_closes_are_written_with_the_next_ones():
    stream = Stream()
    log = _logger(stream)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(asyncio.sleep(0))
    loop.call_soon(lambda: log.info("last of a loop that stops"))
    loop.stop()
    loop.run_forever()  # runs the callback; the flush it scheduled never runs
    loop.close()
    assert stream.writes == []
    asyncio.run(asyncio.sleep(0, log.info("first of the next loop")))
    assert "".join(stream.writes) == "last of a loop that stops\nfirst of the next loop\n"


def test_a_failing_stream_loses_the_lines_but_not_the_request(capsys):
    class Broken(Stream):
        def write(self, text: str) -> None:
            raise OSError("pipe closed")

    log = _logger(Broken())
    log.info("lost")  # no exception
    assert "1 lines could not be written" in capsys.readouterr().err


def test_request_ids_are_unique_hex_and_differ_after_fork():
    ids = {_ids.next() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: as a gunicorn worker forked from a preloaded app
        os.write(write, _ids.next().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child[:16] != _ids.next()[:16]
