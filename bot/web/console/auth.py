"""Agent authentication: personal tokens that name the agent, or one shared token.

- Personal tokens: ``CONSOLE_AGENTS="name:token,name2:token2"`` and/or the file
  ``var/console-agents`` (``CONSOLE_AGENTS_FILE``), one ``name:sha256(token)`` a line,
  written by ``python -m bot.web.console.auth add-agent NAME``. The audited agent name
  comes from the token. A ``:admin`` suffix (``add-agent NAME --admin``; in
  ``CONSOLE_AGENTS`` ``name:token:admin``) makes the agent an admin, who alone may see
  the 统计 page (``/api/stats*``).
- The shared token: ``CONSOLE_TOKEN``; without it a random token is generated once and
  kept in ``var/console-token`` (``CONSOLE_TOKEN_FILE``, mode 0600) so that the launcher
  can print it and the web process reads the same value. Its users name themselves in
  the ``X-Agent`` header, and the audit log marks those names as not verified.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from bot.paths import VAR
from bot.secretfile import read_or_create

TOKEN_ENV = "CONSOLE_TOKEN"
TOKEN_FILE = VAR / "console-token"
AGENTS_ENV = "CONSOLE_AGENTS"
AGENTS_FILE_ENV = "CONSOLE_AGENTS_FILE"
AGENTS_FILE = VAR / "console-agents"
AGENT_HEADER = "X-Agent"
AGENT_MAX = 32
# Printable, without bidirectional or zero-width marks that could disguise a name in
# the audit log (e.g. U+202E turning "李四" around).
_AGENT_RE = re.compile(
    r"[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]{1,32}"
)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def token_file(env: Mapping[str, str] | None = None) -> Path:
    """Where the generated shared token is kept (``CONSOLE_TOKEN_FILE`` or the default)."""
    env = os.environ if env is None else env
    return Path(env.get(f"{TOKEN_ENV}_FILE", "").strip() or TOKEN_FILE)


def console_token(path: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """``CONSOLE_TOKEN`` if set, else the token stored in ``path`` (created if missing)."""
    env = os.environ if env is None else env
    return env.get(TOKEN_ENV, "").strip() or read_or_create(path or token_file(env))


def digest(token: str) -> str:
    """The SHA-256 hex digest under which a personal token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, given = (header or "").partition(" ")
    given = given.strip()
    return given if scheme.lower() == "bearer" and given else None


def token_matches(header: str | None, token: str) -> bool:
    """True if ``header`` is ``Bearer <token>`` (constant-time comparison)."""
    given = bearer(header)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def agent_name(header: str | None) -> str | None:
    """The agent's name from the percent-encoded ``X-Agent`` header, or None if invalid."""
    if not header:
        return None
    try:
        name = unquote(header, errors="strict").strip()
    except UnicodeDecodeError:
        return None
    return valid_name(name)


def valid_name(name: str) -> str | None:
    """``name`` stripped if it is a valid agent name (1 to 32 printable characters)."""
    name = name.strip()
    return name if _AGENT_RE.fullmatch(name) else None


ADMIN = "admin"


@dataclass(frozen=True)
class Agent:
    """A personal token's owner."""

    name: str
    admin: bool = False


@dataclass(frozen=True)
class Identity:
    """Who presented a valid token: ``agent`` is None for the shared token, which is
    never an admin."""

    agent: str | None
    admin: bool = False

    @property
    def verified(self) -> bool:
        """True if the agent's name comes from a personal token."""
        return self.agent is not None


@dataclass(frozen=True)
class Credentials:
    """The shared token and the personal tokens' digests (digest → agent)."""

    shared: str
    agents: Mapping[str, Agent] = field(default_factory=dict)

    @classmethod
    def load(cls, shared: str | None = None, env: Mapping[str, str] | None = None) -> Credentials:
        """Shared token (given, or from the environment) and every configured agent."""
        env = os.environ if env is None else env
        agents = parse_agent_tokens(env.get(AGENTS_ENV, ""))
        path = Path(env.get(AGENTS_FILE_ENV, "").strip() or AGENTS_FILE)
        if path.exists():
            agents = merge(agents, parse_agents_file(path.read_text(encoding="utf-8"), path))
        return cls(shared or console_token(env=env), agents)

    def identify(self, header: str | None) -> Identity | None:
        """The identity behind an ``Authorization`` header, or None if no token matches."""
        given = bearer(header)
        if given is None:
            return None
        # Looking up the token's digest leaks nothing useful through timing: finding a
        # token from a digest prefix is as hard as inverting SHA-256.
        agent = self.agents.get(digest(given))
        if agent is not None:
            return Identity(agent.name, agent.admin)
        if hmac.compare_digest(given.encode(), self.shared.encode()):
            return Identity(None)
        return None


def _role(entry: str) -> tuple[str, bool]:
    """``entry`` without a trailing ``:admin``, and whether it had one."""
    head, _, last = entry.rpartition(":")
    if head and last.strip() == ADMIN:
        return head, True
    return entry, False


def parse_agent_tokens(text: str) -> dict[str, Agent]:
    """``CONSOLE_AGENTS`` (``name:token[:admin],…``) as digest → agent."""
    out: dict[str, Agent] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        entry, admin = _role(item)
        name, _, token = entry.rpartition(":")
        out = merge(out, {digest(_token(token, item)): Agent(_name(name, item), admin)})
    return out


def parse_agents_file(text: str, path: Path | str = AGENTS_FILE) -> dict[str, Agent]:
    """The agents file (``name:sha256hex[:admin]`` lines, ``#`` comments) as digest →
    agent."""
    out: dict[str, Agent] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry, admin = _role(line)
        name, _, hashed = entry.rpartition(":")
        if not _SHA256_RE.match(hashed.strip().lower()):
            raise ValueError(f"{path}:{number}: expected name:sha256hex[:admin]")
        agent = Agent(_name(name, f"{path}:{number}"), admin)
        out = merge(out, {hashed.strip().lower(): agent})
    return out


def merge(first: Mapping[str, Agent], second: Mapping[str, Agent]) -> dict[str, Agent]:
    """Both maps; the same token may not belong to two entries."""
    clash = first.keys() & second.keys()
    if clash:
        raise ValueError("the same console token is configured twice")
    return {**first, **second}


def _name(name: str, where: str) -> str:
    valid = valid_name(name)
    if valid is None:
        raise ValueError(f"bad agent name in {where!r}: 1 to {AGENT_MAX} printable characters")
    return valid


def _token(token: str, where: str) -> str:
    if len(token.strip()) < 16:
        raise ValueError(f"agent token too short in {AGENTS_ENV} entry {where.split(':')[0]!r}")
    return token.strip()


def add_agent(name: str, path: Path, admin: bool = False) -> str:
    """Append a new personal token for ``name`` (an admin if ``admin``) to the agents
    file; return the token."""
    name = _name(name, "add-agent")
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    role = f":{ADMIN}" if admin else ""
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(f"{name}:{digest(token)}{role}\n")
    return token


def main(argv: Sequence[str] | None = None) -> int:
    """``add-agent NAME [--admin]``: create a personal console token (printed once,
    stored hashed)."""
    parser = argparse.ArgumentParser(prog="python -m bot.web.console.auth")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-agent", help="create a personal token for an agent")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may see the 统计 page")
    args = parser.parse_args(argv)
    path = Path(os.environ.get(AGENTS_FILE_ENV, "").strip() or AGENTS_FILE)
    try:
        token = add_agent(args.name, path, admin=args.admin)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    role = " (admin)" if args.admin else ""
    print(f"console token for {args.name.strip()}{role} (stored hashed in {path}): {token}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
