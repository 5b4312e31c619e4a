"""Browser fixtures: Debian's chromium driven by Playwright, and a cuttable TCP link.

``playwright install`` is not used (no downloads): the tests drive /usr/bin/chromium.
Without it they skip, which CI (REQUIRE_SERVICES=1) turns into a failure.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.launcher import free_port, is_ready
from bot.paths import ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium fonts-wqy-microhei")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A phone-sized page in a fresh context (empty localStorage: a new merchant)."""
    context = browser.new_context(
        viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", device_scale_factor=2
    )
    context.set_default_timeout(30_000)
    new_page = context.new_page()
    problems: list[str] = []  # page errors, console errors (CSP too) and dialogs
    new_page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    new_page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )

    def on_dialog(dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    new_page.on("dialog", on_dialog)
    new_page.problems = problems
    yield new_page
    context.close()


class Link:
    """A TCP forwarder from a free local port to ``target`` that can be cut and restored.

    Cutting closes every connection and the listening socket, so the browser gets
    "connection refused", as when a phone loses its network.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.port = free_port()
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self.lock:
            connections, self.connections = self.connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def link(running_bot) -> Iterator[Link]:
    """The web app behind a link the test can cut."""
    forwarder = Link(int(running_bot.web_url.rsplit(":", 1)[1]))
    yield forwarder
    forwarder.cut()


@pytest.fixture(scope="module")
def web_without_rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second web app whose Rasa is not running."""
    port = free_port()
    env = dict(os.environ, RASA_URL=f"http://127.0.0.1:{free_port()}", PYTHONPATH=str(ROOT))
    log = open(tmp_path_factory.mktemp("web") / "web.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.web", "--port", str(port)], cwd=ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not is_ready(f"{url}/healthz"):
        assert process.poll() is None and time.monotonic() < deadline, "web app did not start"
        time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(15)
    log.close()
