"""Conversations live in the SQL tracker store: a restart does not lose them."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from bot.launcher import Stack, default_env, embedded_services
from bot.paths import ROOT
from tests.conftest import MODEL, free_port

pytestmark = pytest.mark.server


def test_a_form_goes_on_after_the_servers_restart(tmp_path):
    ports = {"rasa_port": free_port(), "actions_port": free_port()}
    env = default_env(ports["actions_port"])
    env["TRACKER_STORE_URL"] = f"sqlite:///{tmp_path / 'tracker.db'}"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'tickets.db'}"
    subprocess.run([sys.executable, "-m", "bot.tickets", "migrate"], env=env, cwd=ROOT, check=True)
    services = [s for s in embedded_services(str(MODEL), **ports) if s.name != "web"]
    url = f"http://127.0.0.1:{ports['rasa_port']}/webhooks/rest/webhook"

    def say(text: str) -> str:
        reply = requests.post(url, json={"sender": "restart-1", "message": text}, timeout=30)
        reply.raise_for_status()
        return "\n".join(m.get("text", "") for m in reply.json())

    with Stack(services, env=env, log_dir=tmp_path / "logs-1"):
        assert "商户号" in say("我要解绑")
        assert "原因" in say("849581058120021")
    with Stack(services, env=env, log_dir=tmp_path / "logs-2"):
        assert "序列号" in say("业务调整")
