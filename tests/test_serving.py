"""The hardened HTTP protocol (core.serving), as pm2 and gunicorn run it: header size and header deadline."""

import socket
import time

import pytest
import requests

from tests.procs import free_ports, manage, service_env, uvicorn_processes

pytestmark = pytest.mark.slow


@pytest.fixture
def port(tmp_path):
    (port,) = free_ports(1)
    env = service_env(tmp_path, HEADER_TIMEOUT_SECONDS="1", MAX_HEADER_BYTES="16384")
    manage(env, "init")
    with uvicorn_processes(env, [port], extra=("--http", "core.serving:DrainingHttpToolsProtocol")):
        yield port


def read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def test_oversized_headers_get_431(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        answer = read_all(sock, 5)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'{"detail": "Request headers larger than 16384 bytes"}' in answer
    assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200


def test_normal_headers_and_large_bodies_still_pass(port):
    headers = {"X-Padding": "p" * 8000}
    assert requests.get(f"http://127.0.0.1:{port}/health", headers=headers, timeout=5).status_code == 200
    body = b'{"username": "x"}' + b" " * 500_000
    response = requests.post(f"http://127.0.0.1:{port}/aaa/users", data=body, timeout=5)
    assert response.status_code == 401  # the body was read in full and the request reached the app


def test_slow_headers_get_408_and_silent_connections_are_closed(port):
    with socket.create_connection(("127.0.0.1", port)) as slow, socket.create_connection(("127.0.0.1", port)) as mute:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        answer = read_all(slow, 5)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 3
        assert read_all(mute, 5) == b""  # closed without an answer
    assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200


def test_keep_alive_requests_still_work(port):
    with requests.Session() as session:
        for _ in range(5):
            assert session.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
            time.sleep(0.3)
