"""Bounded loopback load for the resilience tests: a fixed list of calls spread over threads."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests


class Outcome:
    """What the calls returned: status codes, connection errors, and the JSON of each 2xx."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.acked: list[dict] = []

    def add(self, response: requests.Response | None, error: Exception | None = None) -> None:
        with self.lock:
            if error is not None:
                self.errors.append(repr(error))
                return
            self.statuses.append(response.status_code)
            if response.ok and response.content:
                self.acked.append(response.json())

    @property
    def server_errors(self) -> list[int]:
        return [code for code in self.statuses if code >= 500]


def run_calls(calls: list[Callable[[requests.Session], requests.Response]], threads: int = 16) -> Outcome:
    """Run every call once across `threads` sessions; never raises for a failed call."""
    outcome = Outcome()
    local = threading.local()

    def run(call):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        try:
            outcome.add(call(session))
        except requests.RequestException as exc:
            outcome.add(None, exc)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, calls))
    return outcome


class Hammer:
    """Threads sending `GET /health` over fresh connections to `ports` until stopped; what came back."""

    def __init__(self, ports: list[int], threads: int) -> None:
        self.ports = ports
        self.count = threads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.threads: list[threading.Thread] = []

    def _run(self, port: int) -> None:
        while not self.stop.is_set():
            try:
                code = requests.get(f"http://127.0.0.1:{port}/health", timeout=10, headers={"Connection": "close"})
                status, error = code.status_code, None
            except requests.RequestException as exc:
                status, error = None, repr(exc)
            with self.lock:
                if error is None:
                    self.statuses.append(status)
                else:
                    self.errors.append(error)

    @property
    def sent(self) -> int:
        return len(self.statuses) + len(self.errors)

    def __enter__(self) -> "Hammer":
        self.threads = [
            threading.Thread(target=self._run, args=(self.ports[n % len(self.ports)],)) for n in range(self.count)
        ]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
