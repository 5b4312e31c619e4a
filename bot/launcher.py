"""Start the bot's processes, wait until each answers, print where they are.

`python -m bot.launcher` is what `make run` runs. Ctrl-C (or SIGTERM) stops every
process it started; if one process dies the others are stopped too, so a half-running
bot never goes unnoticed. Tests and `make bench` use `Stack` to start the same set.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.paths import ROOT, VAR
from bot.web.console.auth import TOKEN_ENV, console_token, token_file

PYTHON = sys.executable
RASA = str(Path(PYTHON).with_name("rasa"))


@dataclass(frozen=True)
class Service:
    """One process of the bot and the URL that answers when it is ready."""

    name: str
    argv: Sequence[str]
    health_url: str
    public_urls: Sequence[str] = ()


def default_env(actions_port: int = 5055) -> dict[str, str]:
    """The embedded default: SQLite under var/, no PostgreSQL or Redis needed."""
    env = dict(os.environ)
    # The embedded profile starts its own action server, so Rasa must call that one.
    env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{actions_port}/webhook"
    env.setdefault("TRACKER_STORE_URL", f"sqlite:///{VAR / 'tracker.db'}")
    env.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'tickets.db'}")
    env.setdefault("PYTHONPATH", str(ROOT))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    return env


def embedded_services(
    model: str = "models", rasa_port: int = 5005, actions_port: int = 5055,
    web_port: int = 8000, interface: str = "127.0.0.1", outbox_port: int | None = None,
) -> list[Service]:
    """Action server, Rasa (REST + socket.io, HTTP API on), the web app and the outbox
    worker (agent replies and step-change notices; its health on 127.0.0.1 only, on
    ``outbox_port`` or a free port)."""
    outbox_port = outbox_port or free_port()
    actions = Service(
        "actions",
        # Rasa SDK's own `rasa run actions` listens on every interface; ours on `interface`.
        [PYTHON, "-m", "bot.ops.action_server", "--actions", "actions",
         "--port", str(actions_port), "--host", interface],
        f"http://127.0.0.1:{actions_port}/health",
        [f"http://127.0.0.1:{actions_port}/webhook"],
    )
    rasa = Service(
        "rasa",
        [
            # Rasa's CLI with TensorFlow deferred: our model never runs it (bot/rasa_cli.py).
            PYTHON, "-m", "bot.rasa_cli", "run", "--enable-api", "--model", model,
            "--port", str(rasa_port), "-i", interface, "--endpoints", "endpoints.yml",
            "--credentials", "credentials.yml", "--cors", "http://localhost:8000",
        ],
        f"http://127.0.0.1:{rasa_port}/status",
        [
            f"http://{interface}:{rasa_port}/webhooks/rest/webhook",
            f"http://{interface}:{rasa_port}/socket.io",
        ],
    )
    web = Service(
        "web",
        [PYTHON, "-m", "bot.web", "--host", interface, "--port", str(web_port)],
        f"http://127.0.0.1:{web_port}/healthz",
        [f"http://{interface}:{web_port}/", f"http://{interface}:{web_port}/console"],
    )
    outbox = Service(
        "outbox",
        [PYTHON, "-m", "bot.outbox", "worker", "--rasa-url", f"http://127.0.0.1:{rasa_port}",
         "--port", str(outbox_port)],
        f"http://127.0.0.1:{outbox_port}/health",
        [f"http://127.0.0.1:{outbox_port}/health"],
    )
    return [actions, rasa, web, outbox]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_ready(url: str) -> bool:
    """True when ``url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Stack:
    """A set of running services."""

    services: Sequence[Service]
    env: dict[str, str] = field(default_factory=default_env)
    log_dir: Path | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, timeout: float = 240.0) -> None:
        """Start every service and wait until all answer; raise if one does not."""
        VAR.mkdir(exist_ok=True)
        for service in self.services:
            out = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                out = open(self.log_dir / f"{service.name}.log", "ab")  # noqa: SIM115
            self.processes[service.name] = subprocess.Popen(
                list(service.argv), cwd=ROOT, env=self.env, stdout=out,
                stderr=subprocess.STDOUT if out else None, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        pending = list(self.services)
        while pending:
            self.raise_if_dead()
            pending = [s for s in pending if not is_ready(s.health_url)]
            if pending and time.monotonic() > deadline:
                self.stop()
                names = ", ".join(s.name for s in pending)
                raise TimeoutError(f"not ready after {timeout:.0f}s: {names}")
            time.sleep(0.5)

    def raise_if_dead(self) -> None:
        """Stop everything and raise, with the end of its log, if a service has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{name} exited with code {process.returncode}"
                                   f"{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last ``lines`` lines of a service's log file, or "" without one."""
        if self.log_dir is None or not (self.log_dir / f"{name}.log").exists():
            return ""
        text = (self.log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        return "; its log ends:\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """Stop every process: SIGTERM to its group, SIGKILL after ``grace`` seconds."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.launcher")
    parser.add_argument("--model", default="models")
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--rasa-port", type=int, default=5005)
    parser.add_argument("--actions-port", type=int, default=5055)
    parser.add_argument("--web-port", type=int, default=8000)
    parser.add_argument("--outbox-port", type=int, default=5057)
    args = parser.parse_args(argv)
    services = embedded_services(
        args.model, rasa_port=args.rasa_port, actions_port=args.actions_port,
        web_port=args.web_port, interface=args.interface, outbox_port=args.outbox_port,
    )
    stack = Stack(services, env=default_env(args.actions_port))
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
        signal.signal(signum, _interrupt)
    try:
        token = console_token()  # before the web app starts, so both read the same token
        print("starting the action server and Rasa (the first start takes a minute)…")
        stack.start()
        print("\n解绑助手 is running:")
        for service in stack.services:
            for url in service.public_urls:
                print(f"  {service.name:<8} {url}")
        source = TOKEN_ENV if os.environ.get(TOKEN_ENV, "").strip() else token_file()
        print(f"  console token ({source}): {token}")
        print(f"  try: curl -s -XPOST http://127.0.0.1:{args.rasa_port}/webhooks/rest/webhook "
              "-H 'Content-Type: application/json' -d '{\"sender\":\"me\",\"message\":\"你好\"}'")
        print("Press Ctrl-C to stop.\n", flush=True)
        while True:
            stack.raise_if_dead()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    except (RuntimeError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("all processes stopped.")


if __name__ == "__main__":
    sys.exit(main())
