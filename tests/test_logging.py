"""Log lines: batched per event-loop turn, whole and in order; request ids unique without a syscall each."""

import asyncio
import logging
import os
import signal
import subprocess
import sys

import pytest
import requests

from core.logging import PIPE_BUF, LoopBatchedStreamHandler, _chunks, _ids
from tests.procs import ROOT, free_ports, manage, service_env, terminate, wait_healthy


class Stream:
    """A stream that records each write."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def _logger(stream: Stream, other: str = "") -> logging.Logger:
    """A logger whose lines are batched; `other`: a second logger of that name on the same handler, not batched."""
    batched = f"test.batched.{id(stream)}"
    handler = LoopBatchedStreamHandler(stream, batched=(batched,))
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in filter(None, (batched, other)):
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.handlers = [handler]
    return logging.getLogger(batched)


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


def test_other_lines_are_written_at_once_after_pending_access_lines():
    stream = Stream()
    access = _logger(stream, other=f"test.other.{id(stream)}")
    other = logging.getLogger(f"test.other.{id(stream)}")

    async def serve() -> None:
        access.info("access 1")
        access.info("access 2")
        other.info("stopping")  # not batched: written now, after the pending ones
        assert stream.writes == ["access 1\naccess 2\nstopping\n"]

    asyncio.run(serve())


def test_a_flush_writes_whole_lines_in_chunks_a_pipe_keeps_atomic():
    lines = [f"line {n:05d} " + "x" * 90 + "\n" for n in range(200)] + ["é" * 3000 + "\n", "y" * 5000 + "\n"]
    chunks = _chunks(lines)
    assert "".join(chunks) == "".join(lines)
    assert all(chunk.endswith("\n") for chunk in chunks)
    assert all(len(chunk.encode()) <= PIPE_BUF or chunk.count("\n") == 1 for chunk in chunks)  # long lines alone
    assert chunks[-2:] == ["é" * 3000 + "\n", "y" * 5000 + "\n"]
    assert len(chunks) == 2 + -(-200 * 101 // PIPE_BUF)


def test_a_forked_child_does_not_write_the_parents_pending_lines():
    stream = Stream()
    log = _logger(stream)
    read, write = os.pipe()

    async def serve() -> None:
        log.info("parent's line")
        pid = os.fork()
        if pid == 0:
            log.info("child's line")  # off the batch: flushes what the child has pending
            os.write(write, "".join(stream.writes).encode())
            os._exit(0)
        os.waitpid(pid, 0)

    asyncio.run(serve())
    os.close(write)
    assert os.read(read, 1024).decode() == "child's line\n"  # the parent's pending line was dropped in the child
    os.close(read)
    assert stream.writes == ["parent's line\n"]


@pytest.mark.slow
def test_a_server_stopped_by_sigterm_writes_every_line(tmp_path):
    (port,) = free_ports(1)
    env = service_env(tmp_path)
    manage(env, "init")
    out = (tmp_path / "out.log").open("wb")
    command = [sys.executable, "-m", "uvicorn", "main:app", "--app-dir", str(ROOT), "--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env | {"APP_PORT": str(port)}, stdout=out, stderr=out)
    try:
        wait_healthy(port)
        assert requests.get(f"http://127.0.0.1:{port}/items/1", timeout=5).status_code == 404
        proc.send_signal(signal.SIGTERM)  # uvicorn re-raises it after shutdown: the process ends by the signal
        proc.wait(15)
    finally:
        terminate(proc)
        out.close()
    log = (tmp_path / "out.log").read_text()
    assert '"GET /items/1" 404' in log
    assert log.rstrip().endswith(f"Finished server process [{proc.pid}]")


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
