"""A headless Chromium driven over the DevTools protocol (websockets, already a dependency), for tests
that assert on what a page shows: its text once scripts ran, and the pixels of a screenshot.

Chromium is Debian's package (scripts/setup.sh installs it when run as root)."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def serving(port: int) -> bool:
    """Whether an HTTP server answers on this local port yet (a page opened before that is Chromium's
    error page, which reloads itself later, racing the test's reads)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HeadlessChromium:
    """One headless browser with one page; `close()` ends the process."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        from websockets.sync.client import connect

        executable = chromium_path()
        if executable is None:
            raise FileNotFoundError(f"no Chromium found (tried {CANDIDATES})")
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-")
        port = free_port()
        self.process = subprocess.Popen(
            [
                executable, "--headless", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
                "--enable-unsafe-swiftshader", "--use-angle=swiftshader", f"--window-size={width},{height}",
                f"--remote-debugging-port={port}", f"--user-data-dir={self.profile.name}", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._ids = itertools.count(1)
        self.events: list[str] = []
        """names of the DevTools events received since the last `open`"""
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as reply:
                    pages = [t for t in json.load(reply) if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not offer a DevTools page within 30 s")
            time.sleep(0.2)
        self.socket = connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 2**20)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result (the names of events in between are kept in `events`)."""
        ident = next(self._ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply["method"])

    def open(self, url: str, timeout: float = 60.0) -> None:
        """Navigate and return once the page has loaded: a page still navigating answers
        Runtime.evaluate with "Inspected target navigated or closed"."""
        self.call("Page.enable")
        self.events = []
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while "Page.loadEventFired" not in self.events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load within {timeout} s")
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in message:
                self.events.append(message["method"])

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            if getattr(self, "socket", None) is not None:
                self.socket.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.profile.cleanup()
