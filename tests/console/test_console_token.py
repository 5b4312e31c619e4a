"""Without ``CONSOLE_TOKEN``, ``make run``'s launcher generates a token, keeps it in a
private file, prints it, and the web app it starts accepts it.

The launcher's own ``main()`` runs in a subprocess; only its service list is cut down to
the web app (Rasa and the action server need a trained model and a minute to start, and
play no part in the token).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.launcher import free_port
from bot.paths import ROOT
from bot.tickets.migrate import upgrade

WEB_ONLY = (
    "import sys, bot.launcher as launcher\n"
    "everything = launcher.embedded_services\n"
    "launcher.embedded_services = lambda *a, **k: "
    "[s for s in everything(*a, **k) if s.name == 'web']\n"
    "sys.exit(launcher.main(sys.argv[1:]))\n"
)
LINE = re.compile(r"console token \((?P<source>[^)]*)\): (?P<token>\S+)")


def status_of(url: str, token: str) -> int:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "X-Agent": "ci"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_generated_token_is_stored_privately_printed_and_accepted(tmp_path: Path) -> None:
    token_file = tmp_path / "var" / "console-token"
    tickets_url = f"sqlite:///{tmp_path / 'tickets.db'}"
    upgrade(tickets_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}
    env.update(
        CONSOLE_TOKEN_FILE=str(token_file), CONSOLE_AGENTS_FILE=str(tmp_path / "no-agents"),
        DATABASE_URL=tickets_url, TRACKER_STORE_URL=f"sqlite:///{tmp_path / 'tracker.db'}",
        AUDIT_HMAC_KEY="token-test-audit-key-0123456789", RASA_URL="http://127.0.0.1:9",
        PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
    )
    web_port = free_port()
    launcher = subprocess.Popen(
        [sys.executable, "-c", WEB_ONLY, "--web-port", str(web_port),
         "--rasa-port", str(free_port()), "--actions-port", str(free_port())],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = launcher.stdout.readline()  # type: ignore[union-attr]
            printed.append(line)
            if "Press Ctrl-C" in line or launcher.poll() is not None:
                break
        output = "".join(printed)
        match = LINE.search(output)
        assert match, output
        token = match["token"]
        assert match["source"] == str(token_file)
        assert token_file.read_text(encoding="ascii").strip() == token
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert len(token) >= 40
        session = f"http://127.0.0.1:{web_port}/api/session"
        assert status_of(session, token) == 200
        assert status_of(session, token + "x") == 401
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=60)
    assert launcher.returncode == 0
    # A second start keeps the token: the agent's login stays valid across restarts.
    from bot.web.console.auth import console_token

    assert console_token(env={"CONSOLE_TOKEN_FILE": str(token_file)}) == token
