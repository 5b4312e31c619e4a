"""`make run`'s launcher, persistence across restarts, and Rasa's quiet failure modes.

One conversation, three phases, on the same SQLite files:
1. `python -m bot.launcher` prints what runs; the merchant starts a form; Ctrl-C stops
   every process.
2. Rasa alone comes back (its action endpoint points where nothing listens): the
   conversation is still there, and a turn that needs the action server gets a visible
   apology instead of Rasa's empty HTTP 200.
3. The tracker store breaks under Rasa's fail-safe wrapper: again a visible apology.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest
import requests

from bot.channels.delivery import APOLOGY
from bot.launcher import Stack, default_env, embedded_services
from bot.paths import ROOT
from tests.conftest import MODEL, free_port

pytestmark = pytest.mark.server
SENDER = "restart-1"


def say(rasa_port: int, text: str, sender: str = SENDER) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
        json={"sender": sender, "message": text}, timeout=30,
    )


def run_launcher_until_ready(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    launcher = subprocess.Popen(
        [sys.executable, "-m", "bot.launcher", *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output, deadline = [], time.monotonic() + 240
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        output.append(line)
        if "Press Ctrl-C" in line or launcher.poll() is not None:
            break
    return launcher, "".join(output)


def test_launcher_restart_and_visible_failures(tmp_path):
    rasa_port, actions_port, web_port, outbox_port = (free_port() for _ in range(4))
    env = dict(os.environ)
    env["TRACKER_STORE_URL"] = f"sqlite:///{tmp_path / 'tracker.db'}"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'tickets.db'}"
    env["CONSOLE_TOKEN"] = "test-token-for-launcher"
    subprocess.run([sys.executable, "-m", "bot.tickets", "migrate"], env=env, cwd=ROOT, check=True)

    # 1. The launcher, a form started, Ctrl-C.
    launcher, printed = run_launcher_until_ready(
        ["--model", str(MODEL), "--rasa-port", str(rasa_port),
         "--actions-port", str(actions_port), "--web-port", str(web_port),
         "--outbox-port", str(outbox_port)], env,
    )
    try:
        assert "Press Ctrl-C" in printed, printed
        assert f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook" in printed
        assert f"http://127.0.0.1:{web_port}/console" in printed
        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 3
        listening = {
            c.laddr.port: c.laddr.ip for child in children
            for c in child.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
        }
        # Every process answers on loopback only (the action server runs any action
        # for any conversation it is asked about).
        assert {rasa_port, actions_port, web_port, outbox_port} <= set(listening), listening
        assert set(listening.values()) == {"127.0.0.1"}, listening
        assert "商户号" in say(rasa_port, "我要解绑").json()[0]["text"]
        assert "原因" in say(rasa_port, "849581058120021").json()[0]["text"]
    finally:
        launcher.send_signal(signal.SIGINT)
    assert launcher.wait(timeout=60) == 0
    assert "all processes stopped" in launcher.stdout.read()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []

    # 2. Rasa alone, on the same database.
    lonely_env = default_env(actions_port=free_port())
    lonely_env["TRACKER_STORE_URL"] = env["TRACKER_STORE_URL"]
    rasa = [s for s in embedded_services(str(MODEL), rasa_port=rasa_port) if s.name == "rasa"]
    with Stack(rasa, env=lonely_env, log_dir=tmp_path / "logs"):
        tracker = requests.get(
            f"http://127.0.0.1:{rasa_port}/conversations/{SENDER}/tracker", timeout=30
        ).json()
        assert tracker["slots"]["merchant_id"] == "849581058120021"
        assert tracker["active_loop"]["name"] == "unbind_form"

        # A response needs no action server; an answer from the guide does.
        assert say(rasa_port, "你好", sender="fresh-1").status_code == 200
        broken = say(rasa_port, "解绑需要哪些资料", sender="fresh-1")
        assert broken.status_code in (500, 503) and broken.json()[0]["text"] == APOLOGY

        # 3. The tracker store cannot write.
        with sqlite3.connect(tmp_path / "tracker.db") as db:
            db.execute("drop table events")
        lost = say(rasa_port, "你好", sender="fresh-2")
        assert lost.status_code == 500 and lost.json()[0]["text"] == APOLOGY
