"""Start, time, measure and profile the servers under test.

A `Server` is one process tree started in its own session (so stopping it stops its Sanic
workers too), timed from launch until its health URL answers 2xx. Memory is the resident
set of the process plus all its children. Profiles are py-spy samples (raw collapsed stacks).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bot.launcher import RASA, default_env, embedded_services, free_port, is_ready
from bot.paths import ROOT
from bot.web.console.auth import TOKEN_ENV

PY_SPY = str(Path(sys.executable).with_name("py-spy"))


@dataclass
class Server:
    """One server process tree."""

    name: str
    argv: Sequence[str]
    health_url: str
    env: dict[str, str]
    cwd: Path
    log: Path
    process: subprocess.Popen | None = None
    startup_seconds: list[float] = field(default_factory=list)

    def launch(self) -> subprocess.Popen:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                list(self.argv), cwd=self.cwd, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self.process

    def wait_ready(self, started: float, timeout: float = 300.0) -> float:
        """Seconds from ``started`` until the health URL answers; raise if it never does."""
        assert self.process is not None
        while not is_ready(self.health_url):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"see {self.log}")
            if time.perf_counter() - started > timeout:
                self.stop()
                raise TimeoutError(f"{self.name} not ready after {timeout:.0f} s; see {self.log}")
            time.sleep(0.05)
        return time.perf_counter() - started

    def start(self, timeout: float = 300.0) -> float:
        """Launch and wait; record and return the start-up time."""
        started = time.perf_counter()
        self.launch()
        seconds = self.wait_ready(started, timeout)
        self.startup_seconds.append(seconds)
        return seconds

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_mb(self) -> float:
        """Resident memory of the process and all its children, in MiB."""
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return float("nan")
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total / 2**20

    def stop(self, grace: float = 20.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def base_env(start: dict[str, str] | None = None) -> dict[str, str]:
    """``start`` (default: this process's environment) without training-cache settings."""
    env = {k: v for k, v in (start or os.environ).items() if not k.startswith("RASA_CACHE")}
    env.pop("RASA_MAX_CACHE_SIZE", None)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", RASA_TELEMETRY_ENABLED="false",
               SQLALCHEMY_SILENCE_UBER_WARNING="1")
    return env


@dataclass
class OurBot:
    """Our action server, Rasa and web app, with temporary SQLite tracker and ticket DBs."""

    actions: Server
    rasa: Server
    web: Server

    @property
    def rest_url(self) -> str:
        return self.rasa.health_url.replace("/status", "/webhooks/rest/webhook")

    @property
    def web_url(self) -> str:
        return self.web.health_url.removesuffix("/healthz")

    @property
    def console_token(self) -> str:
        """The shared console token the web app was given."""
        return self.web.env[TOKEN_ENV]


def lock_store_endpoints(work: Path, prefix: str) -> Path:
    """endpoints.yml plus a Redis lock store (required by Rasa for >1 Sanic worker)."""
    from bot.bench.settings import REDIS_HOST, REDIS_PORT

    text = (ROOT / "endpoints.yml").read_text(encoding="utf-8")
    text += (
        f"\nlock_store:\n  type: redis\n  url: {REDIS_HOST}\n  port: {REDIS_PORT}\n"
        f"  db: 0\n  key_prefix: {prefix}\n"
    )
    path = work / f"endpoints-{prefix}.yml"
    path.write_text(text, encoding="utf-8")
    return path


def our_bot(
    work: Path, model: Path, name: str = "ours", workers: int = 1, redis_lock: bool = False,
    actions: Server | None = None,
) -> OurBot:
    """Servers as `make run` starts them (bot.launcher), on free ports, with fresh DBs."""
    work.mkdir(parents=True, exist_ok=True)
    actions_port = actions.health_url.split(":")[2].split("/")[0] if actions else free_port()
    services = embedded_services(
        str(model), rasa_port=free_port(), actions_port=int(actions_port), web_port=free_port()
    )
    # default_env points Rasa at this action server, whatever `make` exported.
    env = base_env(default_env(int(actions_port)))
    env["TRACKER_STORE_URL"] = f"sqlite:///{work / f'{name}-tracker.db'}"
    env["DATABASE_URL"] = f"sqlite:///{work / 'tickets.db'}"
    env["PYTHONPATH"] = str(ROOT)
    if actions is None:
        subprocess.run([sys.executable, "-m", "bot.tickets", "migrate"], env=env, cwd=ROOT,
                       check=True, capture_output=True)
    action_service, rasa_service, web_service = services[:3]  # the bench needs no outbox
    rasa_argv = list(rasa_service.argv)
    rasa_env = dict(env)
    rasa_env["SANIC_WORKERS"] = str(workers)
    if redis_lock or workers > 1:
        endpoints = lock_store_endpoints(work, f"bench{os.getpid()}{name}")
        rasa_argv[rasa_argv.index("endpoints.yml")] = str(endpoints)
    actions = actions or Server(
        "actions", action_service.argv, action_service.health_url, env, ROOT,
        work / "logs" / "actions.log",
    )
    rasa = Server(name, rasa_argv, rasa_service.health_url, rasa_env, ROOT,
                  work / "logs" / f"{name}.log")
    # As the launcher starts it, but pointed at this Rasa and given a token of its own.
    web_env = dict(env)
    web_env["RASA_URL"] = rasa_service.health_url.removesuffix("/status")
    web_env[TOKEN_ENV] = secrets.token_urlsafe(32)
    web = Server(f"{name} web", web_service.argv, web_service.health_url, web_env, ROOT,
                 work / "logs" / f"{name}-web.log")
    return OurBot(actions, rasa, web)


def reference_server(project: Path, work: Path, endpoints: Path | None = None) -> Server:
    """The `rasa init` bot served with its own default endpoints (or ``endpoints``) and
    credentials."""
    port = free_port()
    argv = [
        RASA, "run", "--enable-api", "--model", str(project / "models"), "--port", str(port),
        "-i", "127.0.0.1", "--endpoints", str(endpoints or project / "endpoints.yml"),
        "--credentials", str(project / "credentials.yml"),
    ]
    env = base_env()
    env.pop("PYTHONPATH", None)
    return Server("reference", argv, f"http://127.0.0.1:{port}/status", env, project,
                  work / "logs" / "reference.log")


# --- profiling ------------------------------------------------------------------------

CATEGORIES: list[tuple[str, str]] = [
    ("TensorFlow", r"tensorflow|keras"),
    ("SQL tracker store (SQLAlchemy/sqlite)", r"sqlalchemy|sqlite3|tracker_store"),
    ("redaction of stored events", r"bot/redaction|bot/stores"),
    ("spaCy entity extraction", r"spacy|thinc|bot/nlu/entities|spacy_entity_extractor"),
    ("jieba tokenizer", r"jieba"),
    ("scikit-learn / numpy classifier", r"sklearn|scipy|numpy|tfidf_classifier"),
    ("OpenCC normaliser", r"opencc|normaliser"),
    ("policies (RulePolicy / ensemble)", r"rasa/core/policies"),
    ("NLU graph (other)", r"rasa/nlu|rasa/engine"),
    ("action server call (aiohttp)", r"aiohttp|rasa/core/actions|rasa/utils/endpoints"),
    ("event (de)serialisation", r"rasa/shared/core/events|rasa/shared/core/trackers|json"),
    ("Sanic / HTTP", r"sanic|httptools|uvloop"),
    ("rasa processor (other)", r"rasa/"),
    ("imports", r"importlib|<frozen"),
]


def py_spy_record(pid: int, out: Path, seconds: float | None = None) -> subprocess.Popen:
    """Start py-spy on ``pid`` (raw collapsed stacks, 100 Hz); stop with SIGINT if no limit."""
    argv = [PY_SPY, "record", "-p", str(pid), "-r", "100", "-f", "raw", "-o", str(out)]
    argv += ["-d", str(int(seconds))] if seconds else []
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")
_BORING = re.compile(r"importlib\._bootstrap|<frozen|runpy|asyncio/|threading\.py|"
                     r"concurrent/futures|site-packages/rasa/__main__|/bin/rasa|bot/rasa_cli|uvloop")


@dataclass
class Profile:
    """Where the sampled time went."""

    samples: int
    categories: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]
    leaves: list[tuple[str, float]]


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/work/main/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path})"


def summarise_profile(path: Path, top: int = 12) -> Profile | None:
    """Categories, top inclusive frames and top leaf frames of a raw py-spy file."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    categories: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaves[_short(frames[-1])] += count
        for name in {_short(f) for f in frames if not _BORING.search(f)}:
            inclusive[name] += count
        category = "other"
        for frame in reversed(frames):
            hit = next((c for c, pattern in CATEGORIES if re.search(pattern, frame)), None)
            if hit:
                category = hit
                break
        categories[category] += count
    if not total:
        return None

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in counter.most_common(top)]

    return Profile(total, share(categories), share(inclusive), share(leaves))


def copy_project(target: Path) -> Path:
    """The files `rasa train` reads, copied to ``target`` (the code stays in ROOT)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.yml", "domain.yml", "endpoints.yml", "credentials.yml"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "data", target / "data", dirs_exist_ok=True)
    return target
