"""A worker process killed mid-send (SIGKILL, as a crash or an OOM kill would): the next
worker never sends a WeChat message twice (it may have arrived: ``uncertain``), and
finishes a web chat message, whose delivery is idempotent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from outbox_support import OPENID

from bot.db import make_engine
from bot.outbox.store import OutboxStore, enqueue
from bot.paths import ROOT
from tests.fakes.rasa_outbound import FakeRasaOutbound
from tests.fakes.wechat_api import APPID, APPSECRET, FakeWeChatApi

WEB_SESSION = "b" * 32


def worker_env(db_url: str, api: FakeWeChatApi, rasa: FakeRasaOutbound, tmp) -> dict[str, str]:
    return {
        **os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": db_url,
        "TRACKER_STORE_URL": f"sqlite:///{tmp / 'tracker.db'}", "RASA_URL": rasa.url,
        "WECHAT_APPID": APPID, "WECHAT_APPSECRET": APPSECRET, "WECHAT_API_BASE": api.base_url,
        "WECHAT_KEY_PREFIX": f"crash:{tmp.name}", "OUTBOX_LEASE_SECONDS": "2",
        "OUTBOX_SEND_TIMEOUT": "120", "OUTBOX_POLL_SECONDS": "0.1",
    }


@contextmanager
def worker(env: dict[str, str], log) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen([sys.executable, "-m", "bot.outbox"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


def kill_mid_call(env: dict[str, str], log, api: FakeWeChatApi, called) -> None:
    """Start a worker, wait until ``called()`` (its request is out), SIGKILL it."""
    with worker(env, log) as first:
        assert api.wait_until(lambda: called() or first.poll() is not None, 120)
        assert first.poll() is None, "the worker died before its request went out"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)


def state(store: OutboxStore, row_id: int) -> str:
    view = store.get(row_id)
    assert view is not None
    return view.state


def test_a_wechat_send_cut_by_a_killed_worker_is_never_sent_twice(db_url, tmp_path):
    engine = make_engine(db_url)
    store = OutboxStore(engine)
    api, rasa = FakeWeChatApi(), FakeRasaOutbound()
    with api.in_thread(), rasa.in_thread(), open(tmp_path / "worker.log", "wb") as log:
        api.user_wrote(OPENID)
        api.hang = True
        with engine.begin() as conn:
            cut = enqueue(conn, kind="notice", channel="wechat", sender_id=OPENID,
                          text="工单 UB-20261208-0001 的「资料审核」已完成。")
        env = worker_env(db_url, api, rasa, tmp_path)
        kill_mid_call(env, log, api, lambda: len(api.attempts) == 1)
        api.hang = False
        with worker(env, log):
            assert api.wait_until(lambda: state(store, cut) == "uncertain", 120)
            with engine.begin() as conn:
                later = enqueue(conn, kind="notice", channel="wechat", sender_id=OPENID,
                                text="工单 UB-20261208-0001 的「账户冻结」正在处理中。")
            assert api.wait_until(lambda: state(store, later) == "sent", 120)
        assert "可能已送达" in store.get(cut).last_error
        assert [a["body"]["text"]["content"] for a in api.attempts].count(
            "工单 UB-20261208-0001 的「资料审核」已完成。") == 1
        # The cut request did reach WeChat (the fake answers once released): once, not twice.
        assert api.contents(OPENID) == ["工单 UB-20261208-0001 的「资料审核」已完成。",
                                        "工单 UB-20261208-0001 的「账户冻结」正在处理中。"]
    engine.dispose()


def test_a_web_chat_message_cut_by_a_killed_worker_is_finished_once(db_url, tmp_path):
    engine = make_engine(db_url)
    store = OutboxStore(engine)
    api, rasa = FakeWeChatApi(), FakeRasaOutbound()
    with api.in_thread(), rasa.in_thread(), open(tmp_path / "worker.log", "wb") as log:
        rasa.hang = True
        with engine.begin() as conn:
            row = enqueue(conn, kind="agent", channel="socketio", sender_id=WEB_SESSION,
                          text="您好，我是人工客服张三。", agent="张三")
        env = worker_env(db_url, api, rasa, tmp_path)
        kill_mid_call(env, log, api, lambda: len(rasa.calls) == 1)
        rasa.hang = False
        with worker(env, log):
            assert api.wait_until(lambda: state(store, row) == "sent", 120)
        assert len(rasa.calls) == 2  # the second worker finished it …
        assert rasa.texts(WEB_SESSION) == ["您好，我是人工客服张三。"]  # … stored once
    engine.dispose()
