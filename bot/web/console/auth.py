"""Agent authentication: one bearer token, compared in constant time, plus an agent name.

The token comes from ``CONSOLE_TOKEN``; without it a random token is generated once and
kept in ``var/console-token`` (mode 0600) so that the launcher can print it and the web
process reads the same value.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from pathlib import Path
from urllib.parse import unquote

from bot.paths import VAR

TOKEN_ENV = "CONSOLE_TOKEN"
TOKEN_FILE = VAR / "console-token"
AGENT_HEADER = "X-Agent"
AGENT_MAX = 32
_AGENT_RE = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,32}$")


def console_token(path: Path = TOKEN_FILE) -> str:
    """``CONSOLE_TOKEN`` if set, else the token stored in ``path`` (created if missing)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    return token


def _read(path: Path) -> str:
    token = path.read_text(encoding="ascii").strip()
    if not token:
        raise ValueError(f"{path} is empty; delete it to generate a new token")
    return token


def token_matches(header: str | None, token: str) -> bool:
    """True if ``header`` is ``Bearer <token>`` (constant-time comparison)."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def agent_name(header: str | None) -> str | None:
    """The agent's name from the percent-encoded ``X-Agent`` header, or None if invalid."""
    if not header:
        return None
    try:
        name = unquote(header, errors="strict").strip()
    except UnicodeDecodeError:
        return None
    return name if _AGENT_RE.match(name) else None
