"""Every setting of the production profile, read from the environment.

``.env.example`` documents each variable; the defaults below are the local servers of
a development machine (PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379) with a
database of the bot's own (``jiebang``), so that nothing else in PostgreSQL is touched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.paths import ROOT, VAR

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/jiebang"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MIN_TOKEN_CHARS = 24


def _ports(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in value.replace(" ", "").split(",") if p)


@dataclass(frozen=True)
class ProdSettings:
    """The profile's settings; ``from_env`` is the only constructor used in practice."""

    database_url: str = DEFAULT_DATABASE_URL
    tracker_store_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    public_port: int = 8080
    internal_port: int = 8081
    actions_proxy_port: int = 8082
    rasa_ports: tuple[int, ...] = (5105, 5106)
    action_ports: tuple[int, ...] = (5155, 5156)
    web_port: int = 8100
    outbox_ports: tuple[int, ...] = (5157, 5158)
    model: str = "models/bot.tar.gz"
    run_dir: Path = field(default=VAR / "prod")
    create_database: bool = True
    fault_injection: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> ProdSettings:
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        database_url = get("DATABASE_URL", DEFAULT_DATABASE_URL)
        values: dict[str, object] = {
            "database_url": database_url,
            "tracker_store_url": get("TRACKER_STORE_URL", database_url),
            "redis_url": get("REDIS_URL", DEFAULT_REDIS_URL),
            "public_port": int(get("PUBLIC_PORT", "8080")),
            "internal_port": int(get("INTERNAL_PORT", "8081")),
            "actions_proxy_port": int(get("ACTIONS_PROXY_PORT", "8082")),
            "rasa_ports": _ports(get("RASA_PORTS", "5105,5106")),
            "action_ports": _ports(get("ACTION_PORTS", "5155,5156")),
            "web_port": int(get("WEB_PORT", "8100")),
            "outbox_ports": _ports(get("OUTBOX_PORTS", "5157,5158")),
            "model": get("RASA_MODEL", "models/bot.tar.gz"),
            "run_dir": Path(get("PROD_RUN_DIR", str(VAR / "prod"))),
            "create_database": get("CREATE_DATABASE", "1") == "1",
            "fault_injection": get("FAULT_INJECTION", "0") == "1",
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def action_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_proxy_port}/webhook"

    @property
    def faults_dir(self) -> Path:
        return self.run_dir / "faults"

    def redis_parts(self) -> dict[str, str]:
        """Host, port, db and password of ``REDIS_URL`` for Rasa's lock store settings."""
        from redis.connection import parse_url

        parts = parse_url(self.redis_url)
        return {
            "REDIS_HOST": str(parts.get("host", "127.0.0.1")),
            "REDIS_PORT": str(parts.get("port", 6379)),
            "REDIS_DB": str(parts.get("db", 0)),
        }


def load_env_file(path: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus the ``NAME=value`` lines of ``path`` (a ``.env``) that ``env`` lacks.

    Empty values in the file are ignored, so an unfilled copy of ``.env.example``
    changes nothing.
    """
    merged = dict(env)
    if not path.exists():
        return merged
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        value = value.strip("'\"")
        if value and not merged.get(name, "").strip():
            merged[name] = value
    return merged


def auth_token(env: Mapping[str, str], run_dir: Path) -> str:
    """``RASA_AUTH_TOKEN``, or a random one kept in ``<run_dir>/rasa-token`` (mode 600)."""
    token = env.get("RASA_AUTH_TOKEN", "").strip()
    if token:
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"RASA_AUTH_TOKEN must have at least {MIN_TOKEN_CHARS} characters")
        return token
    path = run_dir / "rasa-token"
    if path.exists():
        return path.read_text().strip()
    run_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def database_name(url: str) -> str:
    """The database named in ``url``; a URL without one is refused (no silent default)."""
    parsed = make_url(url)
    if not parsed.database:
        raise ValueError(f"no database name in {parsed.render_as_string(hide_password=True)}")
    return parsed.database


def repo_path(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else ROOT / path
