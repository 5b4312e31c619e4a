"""Live handoff across two Rasa replicas of the production profile (PostgreSQL, Redis,
``bot.ops.rasa_server`` with deploy/endpoints.prod.yml and credentials.prod.yml).

A chat page's socket is on replica 1 while the outbox worker delivers through replica 2:
the agent's messages still reach the page (the push goes through Redis). A claimed
conversation stays silent whichever replica a message reaches, and answers again on
either after the hand-back. A message resent with the same client message id (REST
through nginx, or the chat page on the other replica) is processed once.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import queue
import secrets
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest
import requests
import socketio

from bot.channels.rest import turn_message_id
from bot.db import make_engine
from bot.handoff.service import HandoffService
from bot.handoff.settings import DutyHours
from bot.launcher import Service, Stack, free_port
from bot.ops.prod import NGINX, prod_env, services, write_configs
from bot.ops.settings import ProdSettings
from bot.paths import ROOT
from bot.tickets.migrate import upgrade

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.redis]
MODEL = ROOT / "models" / "bot.tar.gz"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str]]:
    """Two Rasa replicas, one action server, an outbox worker that talks to the second
    replica only, and nginx in front of the replicas (``urls[2]`` is its public URL,
    ``urls[3]`` its internal one, which adds the Rasa token to tracker reads).
    Yields the URLs and the ticket database URL."""
    from tests.prod.conftest import _postgres_url

    redis_url = os.environ.get("REDIS_URL_TEST", "").strip()
    if not redis_url:
        pytest.skip("Redis test: REDIS_URL_TEST is not set")
    database = _postgres_url()
    upgrade(database)
    tmp = tmp_path_factory.mktemp("replicas")
    rasa_ports, action_port, outbox_port = (free_port(), free_port()), free_port(), free_port()
    settings = ProdSettings(database_url=database, tracker_store_url=database,
                            redis_url=redis_url, rasa_ports=rasa_ports,
                            action_ports=(action_port,), run_dir=tmp, model=str(MODEL),
                            public_port=free_port(), internal_port=free_port(),
                            actions_proxy_port=free_port(), web_port=free_port())
    token = secrets.token_urlsafe(32)
    write_configs(settings, token)
    env = prod_env(settings, token, os.environ)
    env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{action_port}/webhook"
    env.update(HANDOFF_HOURS="always", OUTBOX_POLL_SECONDS="0.2",
               RATE_LIMIT_SENDER="1000", LOG_LEVEL="INFO")
    wanted = [s for s in services(settings) if s.name in ("actions-1", "rasa-1", "rasa-2")]
    urls = [f"http://127.0.0.1:{port}" for port in rasa_ports]
    worker = Service("outbox", [sys.executable, "-m", "bot.outbox", "worker", "--rasa-url",
                                urls[1], "--port", str(outbox_port)],
                     f"http://127.0.0.1:{outbox_port}/health")
    nginx = Service("nginx", [NGINX, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                    f"{settings.public_url}/nginx-health")
    with Stack([*wanted, worker, nginx], env=env, log_dir=tmp / "logs"):
        yield [*urls, settings.public_url, settings.internal_url], database


def rest(url: str, sender: str, text: str) -> list[dict]:
    reply = requests.post(f"{url}/webhooks/rest/webhook", timeout=60,
                          json={"sender": sender, "message": text})
    assert reply.status_code == 200, reply.text
    return reply.json()


def next_message(inbox: queue.Queue, kind: str) -> dict:
    while True:
        message = inbox.get(timeout=60)
        if message.get("kind") == kind:
            return message


def test_agent_messages_reach_a_page_on_the_other_replica(replicas):
    urls, database = replicas
    handoffs = HandoffService(make_engine(database), hours=DutyHours(None))
    session = uuid.uuid4().hex
    client = socketio.Client()
    inbox: queue.Queue = queue.Queue()
    confirmed = threading.Event()
    client.on("bot_uttered", inbox.put)
    client.on("session_confirm", lambda _: confirmed.set())
    client.connect(urls[0], transports=["websocket"])  # the page is on replica 1
    try:
        client.emit("session_request", {"session_id": session})
        assert confirmed.wait(30)
        client.call("user_uttered", {"message": "转人工", "session_id": session,
                                     "metadata": {"client_id": "c1"}}, timeout=60)
        queued = handoffs.active("socketio", session)
        assert queued is not None and queued.state == "queued"
        handoffs.claim(queued.id, "张三")
        joined = next_message(inbox, "handoff")  # delivered through replica 2
        assert joined["text"] == "您好，我是人工客服张三，接下来由我为您服务。"
        handoffs.reply(queued.id, "张三", "您好，请问哪台机器要解绑？")
        said = next_message(inbox, "agent")
        assert (said["text"], said["agent"]) == ("您好，请问哪台机器要解绑？", "张三")
    finally:
        client.disconnect()
        handoffs.engine.dispose()


def test_a_claim_silences_the_bot_on_every_replica_and_hand_back_restores_it(replicas):
    urls, database = replicas
    handoffs = HandoffService(make_engine(database), hours=DutyHours(None))
    sender = f"replicas-{uuid.uuid4().hex[:10]}"
    try:
        assert "转接人工客服" in rest(urls[0], sender, "转人工")[0]["text"]
        handoff = handoffs.active("rest", sender)
        handoffs.claim(handoff.id, "李四")
        for turn in range(4):  # alternate replicas: each asks the database
            reply = rest(urls[turn % 2], sender, f"第{turn}条：我的机器开不了机")
            assert reply == [{"recipient_id": sender,
                              "custom": {"handoff": "with_agent", "agent": "李四"}}]
        handoffs.release(handoff.id, "李四", "handback")
        for url in urls:
            answer = rest(url, sender, "解绑需要哪些资料")
            assert answer and "营业执照" in "".join(m.get("text", "") for m in answer)
    finally:
        handoffs.engine.dispose()


def user_events(internal_url: str, sender: str) -> list[dict]:
    tracker = requests.get(f"{internal_url}/conversations/{sender}/tracker", timeout=30).json()
    return [e for e in tracker["events"] if e["event"] == "user"]


def user_turns(internal_url: str, sender: str) -> list[str]:
    return [e["text"] for e in user_events(internal_url, sender)]


def test_a_rest_resend_through_nginx_is_processed_once(replicas, tmp_path_factory):
    urls, _ = replicas
    public = urls[2]
    sender = f"resend-{uuid.uuid4().hex[:10]}"
    body = {"sender": sender, "message": "解绑需要哪些资料", "message_id": "m-1"}
    log = next(tmp_path_factory.getbasetemp().glob("replicas*/logs/nginx-access.log"))
    before = len(log.read_text().splitlines())

    def post() -> requests.Response:
        return requests.post(f"{public}/webhooks/rest/webhook", json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # round robin: both replicas
        first, second = pool.map(lambda _: post(), range(2))
    third = post()  # after both were answered
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json() == second.json() == third.json()
    assert "营业执照" in "".join(m.get("text", "") for m in first.json())
    lines = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    upstreams = {r["upstream"] for r in lines if r["uri"] == "/webhooks/rest/webhook"}
    assert len(upstreams) == 2  # the copies reached both replicas
    [stored] = user_events(urls[3], sender)
    assert stored["text"] == "解绑需要哪些资料"
    # Rasa's id of the turn comes from the client's: a resend after a failure finds it.
    assert stored["message_id"] == turn_message_id(sender, "m-1")


def test_a_chat_page_resend_on_the_other_replica_is_processed_once(replicas):
    urls, _ = replicas
    session = uuid.uuid4().hex
    message = {"message": "谢谢", "session_id": session, "metadata": {"client_id": "c-1"}}
    acks = []
    for url in urls[:2]:  # the page reconnects to the other replica and resends
        client = socketio.Client()
        confirmed = threading.Event()
        client.on("session_confirm", lambda _, done=confirmed: done.set())
        client.connect(url, transports=["websocket"])
        try:
            client.emit("session_request", {"session_id": session})
            assert confirmed.wait(30)
            acks.append(client.call("user_uttered", message, timeout=60))
        finally:
            client.disconnect()
    assert acks == [None, {"duplicate": True}]
    assert user_turns(urls[3], session) == ["谢谢"]
