"""Random secrets generated once into a private file under ``var/``.

The console's shared token and the audit log's HMAC key fall back to these when their
environment variable is unset (``make run``); production sets the variables, since
every replica must agree. The file is created with mode 0600 and linked into place
atomically, so concurrent processes agree on one value.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def read_or_create(path: Path) -> str:
    """The secret stored in ``path``; a new random one (mode 0600) if there is none."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(value + "\n")
        os.link(draft, path)  # atomic, and fails if another process got there first
    except FileExistsError:
        return _read(path)
    finally:
        draft.unlink(missing_ok=True)
    return value


def _read(path: Path) -> str:
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise ValueError(f"{path} is empty; delete it to generate a new secret")
    return value
