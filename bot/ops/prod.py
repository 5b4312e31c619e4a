"""``python -m bot.ops.prod``: the production profile on this machine (``make run-prod``).

1. Settings from the environment (``bot.ops.settings``; ``.env.example``).
2. The database: created if missing (``CREATE_DATABASE=1``, the local default), then
   checked to be exactly the one named in the URLs; Alembic migrations applied.
3. nginx and supervisord configurations rendered from ``deploy/*.template`` into
   ``$PROD_RUN_DIR`` (default ``var/prod``), nginx's checked with ``nginx -t``.
4. ``supervisord -n`` as a child: 2 Rasa replicas, 2 action servers, the web app, 2
   outbox workers and nginx, each restarted when it dies. The processes are ``bot.launcher.Service``
   definitions, the same type the embedded profile and the tests use.
5. Wait until every process is ready, print the URLs; Ctrl-C/SIGTERM stops all.

Why supervisord (Debian's ``supervisor``): it restarts a process that dies, which
honcho (stops everything when one process exits) and ``bot.launcher.Stack`` (same
policy, by design, for the embedded profile) do not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.launcher import PYTHON, Service, is_ready
from bot.ops.databases import check_database, ensure_database
from bot.ops.settings import ProdSettings, auth_token, load_env_file, repo_path
from bot.paths import ROOT

DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SUPERVISORD = shutil.which("supervisord") or "/usr/bin/supervisord"
SUPERVISORCTL = shutil.which("supervisorctl") or "/usr/bin/supervisorctl"
DEFAULT_LOCK_LIFETIME = "20"


def services(settings: ProdSettings) -> list[Service]:
    """Every process of the profile, in start order."""
    model = str(repo_path(settings.model))
    result: list[Service] = []
    for index, port in enumerate(settings.action_ports, 1):
        result.append(Service(
            f"actions-{index}",
            [PYTHON, "-m", "bot.ops.action_server", "--port", str(port)],
            f"http://127.0.0.1:{port}/ready",
        ))
    for index, port in enumerate(settings.rasa_ports, 1):
        result.append(Service(
            f"rasa-{index}",
            [
                PYTHON, "-m", "bot.ops.rasa_server", "--model", model, "--port", str(port),
                "-i", "127.0.0.1", "--endpoints", str(DEPLOY / "endpoints.prod.yml"),
                "--credentials", str(DEPLOY / "credentials.prod.yml"),
                "--logging-config-file", str(DEPLOY / "logging.prod.yml"),
            ],
            f"http://127.0.0.1:{port}/webhooks/ops/ready",
        ))
    result.append(Service(
        "web",
        [PYTHON, "-m", "bot.web", "--host", "127.0.0.1", "--port", str(settings.web_port)],
        f"http://127.0.0.1:{settings.web_port}/healthz",
    ))
    # Two outbox workers: the leases in the database keep them from sending a row twice.
    for index, port in enumerate(settings.outbox_ports, 1):
        result.append(Service(
            f"outbox-{index}",
            [PYTHON, "-m", "bot.outbox", "worker", "--port", str(port)],
            f"http://127.0.0.1:{port}/health",
        ))
    result.append(Service(
        "nginx",
        [NGINX, "-c", str(settings.run_dir / "nginx.conf"), "-p", str(settings.run_dir)],
        f"{settings.public_url}/nginx-health",
        [
            f"{settings.public_url}/",
            f"{settings.public_url}/webhooks/rest/webhook",
            f"{settings.public_url}/webhooks/wechat/webhook",
            f"{settings.public_url}/console",
        ],
    ))
    return result


def prod_env(settings: ProdSettings, token: str, base: Mapping[str, str]) -> dict[str, str]:
    """The environment every process of the profile gets."""
    env = dict(base)
    env.update({
        "DATABASE_URL": settings.database_url,
        "TRACKER_STORE_URL": settings.tracker_store_url,
        "REDIS_URL": settings.redis_url,
        "ACTION_ENDPOINT_URL": settings.action_endpoint_url,
        "RASA_URL": settings.internal_url,
        "RASA_AUTH_TOKEN": token,
        "PROD_RUN_DIR": str(settings.run_dir),
        "FAULT_INJECTION": "1" if settings.fault_injection else "0",
        "PYTHONPATH": str(ROOT),
    })
    env.update(settings.redis_parts())
    for name, default in (
        ("TICKET_LOCK_LIFETIME", DEFAULT_LOCK_LIFETIME), ("SANIC_WORKERS", "1"),
        ("TF_CPP_MIN_LOG_LEVEL", "2"), ("RASA_TELEMETRY_ENABLED", "false"),
        ("SQLALCHEMY_SILENCE_UBER_WARNING", "1"), ("LOG_LEVEL", "INFO"),
        ("SQL_POOL_SIZE", "10"), ("SQL_MAX_OVERFLOW", "20"),
        ("PROXIES_COUNT", "1"),  # nginx is the one proxy in front of the web app
    ):
        env.setdefault(name, default)
    return env


def render(template: str, values: Mapping[str, object]) -> str:
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", str(value))
    if "{{" in template:
        raise ValueError("unrendered placeholder: " + template[template.index("{{"):][:40])
    return template


def supervisor_program(service: Service, run_dir: Path) -> str:
    command = " ".join(_quote(part) for part in service.argv)
    return "\n".join([
        f"[program:{service.name}]",
        f"command={command}",
        f"directory={ROOT}",
        f'environment=SERVICE_NAME="{service.name}"',
        "autostart=true",
        "autorestart=true",
        "startsecs=5",
        "startretries=3",
        "stopasgroup=true",
        "killasgroup=true",
        "stopwaitsecs=15",
        "redirect_stderr=true",
        f"stdout_logfile={run_dir}/logs/{service.name}.log",
        "stdout_logfile_maxbytes=50MB",
        "stdout_logfile_backups=2",
        "",
    ])


def _quote(part: str) -> str:
    return f'"{part}"' if any(c in part for c in " ;#%") else part


def write_configs(settings: ProdSettings, token: str, public_host: str = "127.0.0.1") -> None:
    run = settings.run_dir
    for sub in ("logs", "faults", "nginx/body", "nginx/proxy", "nginx/fastcgi",
                "nginx/uwsgi", "nginx/scgi"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    upstream = "        server 127.0.0.1:{} max_fails=1 fail_timeout=3s;"
    nginx = render((DEPLOY / "nginx.conf.template").read_text(), {
        "run_dir": run,
        "rasa_servers": "\n".join(upstream.format(p) for p in settings.rasa_ports),
        "action_servers": "\n".join(upstream.format(p) for p in settings.action_ports),
        "web_port": settings.web_port,
        "public_listen": f"{public_host}:{settings.public_port}",
        "internal_port": settings.internal_port,
        "actions_proxy_port": settings.actions_proxy_port,
        "rasa_token": token,
    })
    path = run / "nginx.conf"
    path.write_text(nginx)
    path.chmod(0o600)
    programs = "\n".join(supervisor_program(s, run) for s in services(settings))
    conf = render((DEPLOY / "supervisord.conf.template").read_text(),
                  {"run_dir": run, "programs": programs})
    (run / "supervisord.conf").write_text(conf)
    check = subprocess.run([NGINX, "-t", "-q", "-c", str(path), "-p", str(run)],
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t failed: {check.stderr.strip()}")


def prepare_database(settings: ProdSettings, env: Mapping[str, str]) -> None:
    """Create (if allowed) and check the databases, then apply the ticket migrations."""
    for url in dict.fromkeys((settings.database_url, settings.tracker_store_url)):
        if settings.create_database:
            ensure_database(url)
        check_database(url, wait=30)
    subprocess.run([PYTHON, "-m", "bot.tickets", "migrate"], env=dict(env), cwd=ROOT,
                   check=True, capture_output=True)


@dataclass
class Profile:
    """The running profile: supervisord and what it manages."""

    settings: ProdSettings = field(default_factory=ProdSettings.from_env)
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.settings.run_dir / "supervisord.conf"

    def prepare(self) -> None:
        if not (ROOT / self.settings.model).exists() and not Path(self.settings.model).exists():
            raise RuntimeError(f"no trained model at {self.settings.model}: run `make train`")
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        token = auth_token(self.base_env, self.settings.run_dir)
        self.env = prod_env(self.settings, token, self.base_env)
        prepare_database(self.settings, self.env)
        from bot.web.console.auth import console_token

        console_token()
        write_configs(self.settings, token)

    def start(self, timeout: float = 300.0) -> None:
        self.prepare()
        if self.ctl("pid", check=False).strip().isdigit():
            raise RuntimeError(f"a profile is already running from {self.conf}")
        log = open(self.settings.run_dir / "logs" / "supervisord.out", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [SUPERVISORD, "-n", "-c", str(self.conf)], cwd=ROOT, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 300.0, names: Sequence[str] | None = None) -> float:
        """Wait until the named (default: all) services are ready; return the seconds."""
        started = time.monotonic()
        pending = [s for s in services(self.settings) if names is None or s.name in names]
        while pending:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"supervisord exited with code {self.process.returncode}")
            status = self.status()
            fatal = [n for n, state in status.items() if state in ("FATAL", "BACKOFF")
                     and any(s.name == n for s in pending)]
            if fatal and all(status[n] == "FATAL" for n in fatal):
                self.stop()
                raise RuntimeError(self._failure(fatal))
            pending = [s for s in pending if not is_ready(s.health_url)]
            if pending and time.monotonic() - started > timeout:
                names_left = [s.name for s in pending]
                self.stop()
                raise TimeoutError(f"not ready after {timeout:.0f}s: {names_left}\n"
                                   + self._failure(names_left))
            time.sleep(0.5)
        return time.monotonic() - started

    def _failure(self, names: Sequence[str]) -> str:
        lines = []
        for name in names:
            log = self.settings.run_dir / "logs" / f"{name}.log"
            tail = log.read_text(errors="replace").splitlines()[-8:] if log.exists() else []
            lines.append(f"{name} failed to start; last lines of {log}:")
            lines.extend(f"  {line}" for line in tail)
        return "\n".join(lines)

    def ctl(self, *args: str, check: bool = True) -> str:
        result = subprocess.run([SUPERVISORCTL, "-c", str(self.conf), *args],
                                capture_output=True, text=True)
        if check and result.returncode not in (0, 3):
            raise RuntimeError(f"supervisorctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def status(self) -> dict[str, str]:
        states = {}
        for line in self.ctl("status", check=False).splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.startswith("unix://"):
                states[parts[0]] = parts[1]
        return states

    def pid(self, name: str) -> int | None:
        out = self.ctl("pid", name, check=False).strip()
        return int(out) if out.isdigit() and out != "0" else None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Kill one process (not through supervisord: as a crash would); its pid."""
        pid = self.pid(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        os.kill(pid, sig)
        return pid

    def stop(self, grace: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Profile:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.ops.prod")
    parser.add_argument("--check", action="store_true",
                        help="prepare the database and render the configs, then exit")
    parser.add_argument("--env-file", default=str(ROOT / ".env"),
                        help="NAME=value lines used for variables the environment lacks")
    args = parser.parse_args(argv)
    env = load_env_file(Path(args.env_file), os.environ)
    profile = Profile(ProdSettings.from_env(env), base_env=env)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        if args.check:
            profile.prepare()
            print(f"configs in {profile.settings.run_dir}; database ready")
            return 0
        print("starting 2 action servers, 2 Rasa replicas, the web app, 2 outbox workers, nginx "
              "under supervisord (the first start takes a minute)…", flush=True)
        profile.start()
        s = profile.settings
        print("\n解绑助手 production profile is running:")
        for service in services(s):
            print(f"  {service.name:<10} {service.health_url}")
        print(f"  public     {s.public_url}/  (REST {s.public_url}/webhooks/rest/webhook)")
        print(f"  internal   {s.internal_url}/webhooks/ops/metrics (a replica's metrics)")
        print(f"  supervisor {SUPERVISORCTL} -c {profile.conf} status")
        print(f"  logs       {s.run_dir / 'logs'}")
        print("Press Ctrl-C to stop.\n", flush=True)
        assert profile.process is not None
        return profile.process.wait()
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    except (RuntimeError, TimeoutError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        profile.stop()


if __name__ == "__main__":
    sys.exit(main())
