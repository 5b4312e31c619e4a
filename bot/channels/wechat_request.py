"""What a WeChat-style callback request is made of, before the channel acts on it.

Settings (credentials.yml with environment fallbacks), signature checks, query
parameters, a size-limited body, safe XML parsing and the caller's address for logs,
shared by the Official Account and WeCom channels (``bot.channels.wechat_base``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanic.request import Request

from bot.channels.wechat_xml import MAX_BODY_BYTES, XmlRejected, parse_xml
from bot.db import database_url

DEFAULT_REPLY_TIMEOUT = 4.0
_ENV_REF = re.compile(r"^\$\{(\w+)\}$")


class Rejected(Exception):
    """A callback refused with an HTTP status and a short reason (never a secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Envelope:
    """A verified callback: its fields, and how the reply must be wrapped."""

    message: dict[str, str]
    encrypted: bool
    nonce: str
    timestamp: str


@dataclass(frozen=True)
class CommonSettings:
    """Settings every WeChat-style channel shares."""

    api_base: str
    redis_url: str | None
    key_prefix: str
    reply_timeout: float = DEFAULT_REPLY_TIMEOUT
    menu_file: Path | None = None
    database_url: str | None = None
    """Where retry claims are recorded (the ticket database); None only in tests."""
    proxies_count: int = 0
    """Trusted reverse proxies in front (``PROXIES_COUNT``): logs then name the caller
    from ``X-Forwarded-For`` instead of the proxy's address."""


def setting(
    credentials: Mapping[str, Any] | None, key: str, env: str, default: str | None = None
) -> str | None:
    """``credentials[key]`` (a ``${ENV}`` reference is read from the environment), else ``$env``."""
    value = (credentials or {}).get(key)
    if isinstance(value, str):
        ref = _ENV_REF.match(value.strip())
        value = os.environ.get(ref.group(1)) if ref else value
    if value is None or (isinstance(value, str) and not value.strip()):
        value = os.environ.get(env)
    if value is None or not str(value).strip():
        return default
    return str(value).strip()


def common_settings(
    credentials: Mapping[str, Any] | None, env_prefix: str, default_api_base: str
) -> CommonSettings:
    """Settings read from credentials.yml with environment fallbacks."""
    timeout = setting(credentials, "reply_timeout", f"{env_prefix}_REPLY_TIMEOUT")
    menu_file = setting(credentials, "menu_file", f"{env_prefix}_MENU_FILE")
    proxies = setting(credentials, "proxies_count", "PROXIES_COUNT") or "0"
    return CommonSettings(
        api_base=(
            setting(credentials, "api_base", f"{env_prefix}_API_BASE") or default_api_base
        ).rstrip("/"),
        redis_url=setting(credentials, "redis_url", "REDIS_URL"),
        key_prefix=setting(credentials, "key_prefix", f"{env_prefix}_KEY_PREFIX")
        or f"jiebang:{env_prefix.lower()}",
        reply_timeout=float(timeout) if timeout else DEFAULT_REPLY_TIMEOUT,
        menu_file=Path(menu_file) if menu_file else None,
        database_url=database_url(),
        proxies_count=int(proxies) if proxies.isdigit() else 0,
    )


def flag(credentials: Mapping[str, Any] | None, key: str, env: str) -> bool:
    """A yes/no setting (``1``, ``true``, ``yes`` or ``on`` mean yes)."""
    value = setting(credentials, key, env) or ""
    return value.lower() in {"1", "true", "yes", "on"}


def signature_ok(signature: str, *parts: str) -> bool:
    """WeChat's SHA1 of the sorted parts, compared in constant time."""
    expected = hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def required_args(request: Request, *names: str) -> tuple[str, ...]:
    """Query parameters that must be present, else 400 naming the first one missing."""
    values = []
    for name in names:
        value = request.args.get(name)
        if not value:
            raise Rejected(400, f"missing query parameter: {name}")
        values.append(value)
    return tuple(values)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 400 as soon as it exceeds ``limit`` bytes."""
    too_large = Rejected(400, f"body larger than {limit} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    if request.stream is None:
        if len(request.body or b"") > limit:
            raise too_large
        return request.body or b""
    buf = bytearray()
    async for chunk in request.stream:
        buf += chunk
        if len(buf) > limit:
            raise too_large
    return bytes(buf)


def caller_ip(request: Request, proxies_count: int) -> str:
    """The caller's address for logs: with ``proxies_count`` trusted proxies in front,
    the entry they vouch for in ``X-Forwarded-For``; otherwise the socket peer."""
    if proxies_count > 0:
        forwarded = [
            part.strip()
            for part in request.headers.get("x-forwarded-for", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies_count:
            return forwarded[-proxies_count][:64]
    return request.ip or "unknown"


def parse_or_reject(data: Any) -> dict[str, str]:
    """:func:`parse_xml` with its refusals turned into 400s."""
    try:
        return parse_xml(data)
    except XmlRejected as exc:
        raise Rejected(400, str(exc)) from None
