"""Bad input in every channel of the running bot: a clear answer, never a crash, and the
bot keeps serving everyone else. Per-sender rate limits, SQL-shaped input, web headers."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import uuid

import pytest
import requests

from bot.channels.screening import EMPTY_REPLY, MAX_MESSAGE_CHARS, TOO_LONG_REPLY
from bot.ratelimit import SENDER_REPLY
from tests.channels.wechat_support import (
    AGENT_ID,
    CORP_ID,
    OfficialAccount,
    WeComServer,
    message_xml,
    text_xml,
    xml_fields,
)
from tests.web.test_socketio_channel import Client, run

pytestmark = pytest.mark.server
HOSTILE = {
    "empty": "", "whitespace": " \t\n　 ", "control": "\x00\x07\x1b\x7f", "rtl": "\u202e\u200f",
    "emoji": "😀🙏👍", "rtl-text": "\u202e我要解绑\u202c", "100KB": "解绑" * 50_000,
}
SQL = "'; DROP TABLE tickets; -- 我要解绑"
TOO_LONG = TOO_LONG_REPLY.format(limit=MAX_MESSAGE_CHARS)
# What each hostile text must be answered with (None: a real answer of the bot's).
EXPECTED = {"empty": EMPTY_REPLY, "whitespace": EMPTY_REPLY, "control": EMPTY_REPLY,
            "rtl": EMPTY_REPLY, "emoji": None, "rtl-text": None, "100KB": TOO_LONG}


def rest(bot, sender: str, message: object) -> requests.Response:
    return requests.post(bot.rest_url, json={"sender": sender, "message": message}, timeout=60)


def msg_id() -> int:
    return random.randint(10**18, 10**19)


def post_wechat(bot, content: str, encrypted: bool = False) -> requests.Response:
    account = OfficialAccount()
    xml = text_xml(content, msg_id(), sender=f"o_{uuid.uuid4().hex[:12]}")
    callback = account.encrypted(xml) if encrypted else account.plaintext(xml)
    return requests.post(f"{bot.rasa_url}/webhooks/wechat/webhook", params=callback.params,
                         data=callback.body, timeout=60)


def post_wecom(bot, content: str, sender: str | None = None) -> requests.Response:
    xml = message_xml("text", {"Content": content}, msg_id(),
                      sender=sender or f"u{uuid.uuid4().hex[:8]}",
                      to=CORP_ID).replace("</xml>", f"<AgentID>{AGENT_ID}</AgentID></xml>")
    callback = WeComServer().encrypted(xml)
    return requests.post(f"{bot.rasa_url}/webhooks/wecom/webhook", params=callback.params,
                         data=callback.body, timeout=60)


@pytest.mark.parametrize("kind", HOSTILE)
def test_rest_answers_hostile_text_clearly(running_bot, kind: str) -> None:
    reply = rest(running_bot, f"hostile-{uuid.uuid4().hex[:8]}", HOSTILE[kind])
    assert reply.status_code == 200
    text = reply.json()[0]["text"]
    if EXPECTED[kind] is None:  # the bot itself answered (no screening reply)
        assert text and text not in (EMPTY_REPLY, TOO_LONG)
    else:
        assert text == EXPECTED[kind]


@pytest.mark.parametrize("body", [b'{"sender":"x","message":"\xff\xfe"}', b"\xff", b"[1]",
                                  b'{"sender":"x"}', b'{"sender":"x","message":{"a":1}}'])
def test_rest_refuses_malformed_bodies_without_crashing(running_bot, body: bytes) -> None:
    reply = requests.post(running_bot.rest_url, data=body, timeout=30,
                          headers={"Content-Type": "application/json"})
    assert reply.status_code in (200, 400)
    if reply.status_code == 200:
        assert reply.json()[0]["text"] == EMPTY_REPLY


def test_socketio_answers_hostile_text_clearly(running_bot) -> None:
    async def scenario() -> list[str]:
        client = await Client.connect(running_bot.web_url)
        session = await client.session(None)
        answers = []
        for n, text in enumerate([*HOSTILE.values(), 42, None]):
            before = len(client.replies)
            await client.call("user_uttered", {"message": text, "session_id": session,
                                               "metadata": "not json {"
                                               if n == 0 else {"client_id": f"h{n}"}})
            answers.append(" ".join(r.get("text", "") for r in client.replies[before:]))
        await client.ws.close()
        return answers

    answers = run(scenario())
    assert all(answers), answers
    assert EMPTY_REPLY in answers[0] and TOO_LONG in answers[6]


@pytest.mark.parametrize("text", [v for k, v in HOSTILE.items() if k != "100KB"],
                         ids=[k for k in HOSTILE if k != "100KB"])
def test_wechat_and_wecom_answer_hostile_text(running_bot, text: str) -> None:
    for reply in (post_wechat(running_bot, text), post_wechat(running_bot, text, True),
                  post_wecom(running_bot, text)):
        if text == HOSTILE["control"]:  # not allowed in XML 1.0: WeChat cannot send them
            assert reply.status_code == 400 and b"malformed XML" in reply.content
        else:
            assert reply.status_code == 200 and reply.content


def test_wechat_refuses_100kb_and_invalid_utf8_with_a_clear_status(running_bot) -> None:
    assert post_wechat(running_bot, HOSTILE["100KB"]).status_code == 400
    assert post_wecom(running_bot, HOSTILE["100KB"]).status_code == 400
    account = OfficialAccount()
    callback = account.plaintext(text_xml("x", msg_id()))
    reply = requests.post(f"{running_bot.rasa_url}/webhooks/wechat/webhook",
                          params=callback.params, data=callback.body.replace(b"x", b"\xff\xfe"),
                          timeout=30)
    assert reply.status_code == 400


def test_wechat_and_wecom_answer_a_too_long_text_with_the_too_long_reply(running_bot) -> None:
    """Under the 64 KB body limit but over MAX_MESSAGE_CHARS: a reply, not a bare 400."""
    text = "解绑" * MAX_MESSAGE_CHARS
    plain = post_wechat(running_bot, text)
    assert plain.status_code == 200 and xml_fields(plain.content)["Content"] == TOO_LONG
    wecom = post_wecom(running_bot, text)
    assert wecom.status_code == 200
    assert WeComServer().open_reply(wecom.content)["Content"] == TOO_LONG


def test_a_normal_conversation_is_served_while_hostile_input_floods_in(running_bot) -> None:
    stop = threading.Event()
    errors: list[str] = []

    def flood(send) -> None:
        while not stop.is_set():
            try:
                send()
            except requests.RequestException as exc:  # a slow answer is fine, a crash is not
                errors.append(type(exc).__name__)

    floods = [
        lambda: rest(running_bot, f"flood-{uuid.uuid4().hex[:6]}", HOSTILE["100KB"]),
        lambda: rest(running_bot, f"flood-{uuid.uuid4().hex[:6]}", "\x00\u202e"),
        lambda: post_wechat(running_bot, "\u202e😀"),
        lambda: post_wechat(running_bot, HOSTILE["100KB"]),
        lambda: requests.post(running_bot.rest_url, data=b"\xff" * 100_000, timeout=30),
    ]
    threads = [threading.Thread(target=flood, args=(f,), daemon=True) for f in floods * 2]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        sender = f"calm-{uuid.uuid4().hex[:8]}"
        for question in ("你好", "解绑需要哪些资料"):
            started = time.monotonic()
            reply = rest(running_bot, sender, question)
            assert reply.status_code == 200 and reply.json()[0]["text"]
            assert time.monotonic() - started < 15
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors[:5]
    assert requests.get(f"{running_bot.rasa_url}/status", timeout=10).status_code == 200


def test_rest_sender_over_the_limit_gets_a_polite_429(running_bot) -> None:
    sender = f"chatty-{uuid.uuid4().hex[:8]}"
    codes = [rest(running_bot, sender, "").status_code for _ in range(20)]
    assert codes == [200] * 20
    limited = rest(running_bot, sender, "你好")
    assert limited.status_code == 429 and limited.json()[0]["text"] == SENDER_REPLY
    assert limited.headers["Retry-After"] == "60"
    assert rest(running_bot, f"other-{uuid.uuid4().hex[:8]}", "你好").status_code == 200


def test_socketio_and_wechat_senders_over_the_limit_are_told_politely(running_bot) -> None:
    async def scenario() -> list[str]:
        client = await Client.connect(running_bot.web_url)
        session = await client.session(None)
        for _ in range(21):
            await client.call("user_uttered", {"message": " ", "session_id": session})
        await client.ws.close()
        return [r.get("text") for r in client.replies]

    assert run(scenario())[-1] == SENDER_REPLY
    account, openid = OfficialAccount(), f"o_{uuid.uuid4().hex[:12]}"
    replies = []
    for _ in range(21):
        callback = account.plaintext(text_xml("\u200b", msg_id(), sender=openid))
        replies.append(requests.post(f"{running_bot.rasa_url}/webhooks/wechat/webhook",
                                     params=callback.params, data=callback.body, timeout=30))
    assert SENDER_REPLY in replies[-1].content.decode("utf-8")
    assert SENDER_REPLY not in replies[-2].content.decode("utf-8")


def test_wecom_senders_over_the_limit_are_told_politely(running_bot) -> None:
    server, user = WeComServer(), f"u{uuid.uuid4().hex[:8]}"
    answers = [server.open_reply(post_wecom(running_bot, "\u200b", sender=user).content)
               for _ in range(21)]
    assert answers[-1]["Content"] == SENDER_REPLY
    assert answers[-2]["Content"] != SENDER_REPLY
    other = post_wecom(running_bot, "\u200b")
    assert server.open_reply(other.content)["Content"] != SENDER_REPLY


def test_sql_shaped_input_in_every_form_field_is_data(running_bot) -> None:
    with sqlite3.connect(running_bot.tracker_db) as db:
        db.execute("select count(*) from events").fetchone()
    sender = f"sqli-{uuid.uuid4().hex[:8]}"
    for text in (SQL, "849581058120' OR '1'='1", "849581058120095",
                 '/inform{"unbind_reason":"更换设备"}', "换机'); DELETE FROM tickets; --",
                 "SN'; DROP TABLE ticket_steps; --", "SN8A2B3C4D95",
                 "138' OR 1=1 --", "13912340095", "确认提交"):
        reply = rest(running_bot, sender, text)
        assert reply.status_code == 200 and reply.json()[0]["text"], (text, reply.text)
    with sqlite3.connect(running_bot.tickets_url.removeprefix("sqlite:///")) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
        assert {"tickets", "ticket_steps", "ticket_events"} <= tables
        rows = db.execute("select serial_number, contact_phone, reason_detail from tickets "
                          "where sender_id = ?", (sender,)).fetchall()
    assert rows and rows[0][:2] == ("SN8A2B3C4D95", "13912340095")


@pytest.mark.parametrize("path", ["/", "/chat/static/main.js", "/chat/health", "/healthz",
                                  "/chat/history/" + "0" * 32, "/no-such-page", "/console"])
def test_every_web_page_has_the_security_headers(running_bot, path: str) -> None:
    reply = requests.get(f"{running_bot.web_url}{path}", timeout=30)
    csp = reply.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in reply.headers
