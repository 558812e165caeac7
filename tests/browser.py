"""Debian's headless Chromium for browser tests: installed with apt-get on first use, driven by Selenium."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver")
APT_TIMEOUT = 900
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
NETWORK_SCHEMES = {"http", "https", "ws", "wss", "ftp"}
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1900",
    # Offline for real: any host but loopback fails to resolve, so a CDN reference cannot load by accident.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)


def ensure_chromium() -> str | None:
    """Install chromium and chromium-driver with apt-get if missing; None when ready, else why not."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} or {CHROMEDRIVER} missing and apt-get not found"
    if os.geteuid() != 0:
        return f"{CHROMIUM} or {CHROMEDRIVER} missing and not root: apt-get install -y {' '.join(APT_PACKAGES)}"
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *APT_PACKAGES]):
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(command)} failed: {exc}"
        if result.returncode != 0:
            return f"{' '.join(command)} exited {result.returncode}: {(result.stderr or result.stdout)[-800:]}"
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return f"apt-get installed {' '.join(APT_PACKAGES)} but {CHROMIUM} or {CHROMEDRIVER} is still missing"
    return None


def _pids_using(profile: Path) -> list[int]:
    """Pids whose command line names `profile`: the Chromium processes of one session."""
    marker = f"--user-data-dir={profile}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
    return pids


@contextlib.contextmanager
def chrome(profile: Path) -> Iterator:
    """A headless Chromium with a fresh profile and the performance log on; every process ends on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(str(CHROMEDRIVER), log_output=str(profile.parent / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        with contextlib.suppress(Exception):
            driver.quit()
        for pid in _pids_using(profile):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class RequestLog:
    """Every request the page made, from Chromium's performance log, and which ones the browser itself refused."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.requests: dict[str, dict] = {}
        self.refused: dict[str, str] = {}

    def collect(self) -> list[dict]:
        """Drain the performance log; return every request so far: `method`, `url`, `headers`."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.setdefault(params["requestId"], params["request"])
            elif message.get("method") == "Network.loadingFailed" and params.get("blockedReason"):
                self.refused[params["requestId"]] = params["blockedReason"]
        return list(self.requests.values())

    def urls(self) -> list[str]:
        """Every URL requested so far."""
        return [request["url"] for request in self.collect()]

    def _off_host(self, refused: bool) -> list[str]:
        self.collect()
        return [
            request["url"]
            for request_id, request in self.requests.items()
            if urlsplit(request["url"]).scheme in NETWORK_SCHEMES
            and urlsplit(request["url"]).hostname not in LOOPBACK_HOSTS
            and (request_id in self.refused) == refused
        ]

    def off_host(self) -> list[str]:
        """Network URLs on any host but loopback that the browser tried to fetch (chrome:, data:, blob: are local)."""
        return self._off_host(refused=False)

    def refused_off_host(self) -> list[str]:
        """Off-host URLs the browser refused before sending, e.g. by the page's Content-Security-Policy."""
        return self._off_host(refused=True)
