"""Browser fixtures: Debian's chromium driven by Playwright, and a TCP link the test can
cut, or hold so that nothing comes back through it.

``playwright install`` is not used (no downloads): the tests drive /usr/bin/chromium.
Without it they skip, which CI (REQUIRE_SERVICES=1) turns into a failure.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # a reconnect or a busy Rasa can take a few seconds

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@contextmanager
def new_page(browser, **options: object) -> Iterator[object]:
    """A page in a fresh context (empty localStorage: a new merchant), phone-sized unless
    ``options`` say otherwise; ``page.problems`` collects errors and dialogs."""
    options = {"viewport": PHONE, "device_scale_factor": 2, **options}
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)
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
    try:
        yield new_page
    finally:
        context.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A phone-sized page for a new merchant."""
    with new_page(browser) as opened:
        yield opened


@pytest.fixture
def open_page(browser) -> Callable[..., AbstractContextManager]:
    """``with open_page(**context_options) as page:`` for other devices or several pages."""
    return functools.partial(new_page, browser)


class Link:
    """A TCP forwarder from a free local port to ``target`` that can be cut and restored.

    Cutting closes every connection and the listening socket, so the browser gets
    "connection refused", as when a phone loses its network. Holding lets bytes through
    towards the target only: what the target answers waits until ``release()``, or is
    lost if the link is cut meanwhile.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.answers = threading.Event()  # set: answers from the target flow
        self.answers.set()
        self.listener: socket.socket | None = None
        self.port = free_port()
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self) -> None:
        self.answers.clear()

    def release(self) -> None:
        self.answers.set()

    def restore(self) -> None:
        """Listen again; answers flow (those held before a cut went with the cut)."""
        self.release()
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
            for source, sink, gate in ((client, upstream, None),
                                       (upstream, client, self.answers)):
                threading.Thread(
                    target=self._pump, args=(source, sink, gate), daemon=True
                ).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, gate: threading.Event | None) -> None:
        try:
            while data := source.recv(65536):
                if gate is not None:
                    gate.wait()
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


@contextmanager
def web_app(rasa_url: str, log_dir: Path) -> Iterator[str]:
    """Another web app (chat page and proxy) talking to the Rasa at ``rasa_url``."""
    port = free_port()
    env = dict(os.environ, RASA_URL=rasa_url, PYTHONPATH=str(ROOT))
    with open(log_dir / "web.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.web", "--port", str(port)], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while not is_ready(f"{url}/healthz"):
                assert process.poll() is None and time.monotonic() < deadline, (
                    "web app did not start"
                )
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            process.wait(15)


@pytest.fixture(scope="module")
def web_without_rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second web app whose Rasa is not running."""
    with web_app(f"http://127.0.0.1:{free_port()}", tmp_path_factory.mktemp("web")) as url:
        yield url


@pytest.fixture(scope="module")
def rasa_link(running_bot) -> Iterator[Link]:
    """A link to the running Rasa: cut, Rasa is down; held, Rasa hangs."""
    forwarder = Link(int(running_bot.rasa_url.rsplit(":", 1)[1]))
    yield forwarder
    forwarder.cut()


@pytest.fixture(scope="module")
def web_via_rasa_link(
    rasa_link: Link, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second web app that reaches the running Rasa through ``rasa_link``."""
    with web_app(rasa_link.url, tmp_path_factory.mktemp("web")) as url:
        yield url


@pytest.fixture
def rasa_trouble(rasa_link: Link, web_via_rasa_link: str) -> Iterator[Link]:
    """``rasa_link``, whole again after the test."""
    yield rasa_link
    if rasa_link.listener is None:
        rasa_link.restore()
    rasa_link.release()
