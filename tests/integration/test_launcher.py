"""`make run` (bot.launcher): prints what runs, and Ctrl-C stops every process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bot.paths import ROOT
from tests.conftest import MODEL, free_port

pytestmark = pytest.mark.server


def test_ctrl_c_stops_every_process(tmp_path):
    ports = [free_port(), free_port(), free_port()]
    env = dict(os.environ)
    env["TRACKER_STORE_URL"] = f"sqlite:///{tmp_path / 'tracker.db'}"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'tickets.db'}"
    env["CONSOLE_TOKEN"] = "test-token-for-launcher"
    subprocess.run([sys.executable, "-m", "bot.tickets", "migrate"], env=env, cwd=ROOT, check=True)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "bot.launcher", "--model", str(MODEL),
         "--rasa-port", str(ports[0]), "--actions-port", str(ports[1]),
         "--web-port", str(ports[2])],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        output.append(line)
        if "Press Ctrl-C" in line or launcher.poll() is not None:
            break
    printed = "".join(output)
    assert "Press Ctrl-C" in printed, printed
    assert f"http://127.0.0.1:{ports[0]}/webhooks/rest/webhook" in printed
    assert f"http://127.0.0.1:{ports[2]}/console" in printed
    children = psutil.Process(launcher.pid).children(recursive=True)
    assert len(children) >= 3

    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(timeout=60) == 0
    assert "all processes stopped" in launcher.stdout.read()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
