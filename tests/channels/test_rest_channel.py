"""The REST channel answers every request visibly: no silent ``[]``."""

from __future__ import annotations

import itertools
import uuid

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.once import Once
from bot.channels.rest import APOLOGY, RestInput, stored_answer
from bot.channels.screening import EMPTY_REPLY, MAX_MESSAGE_CHARS
from bot.channels.wechat_sqlstore import dedup_store
from bot.channels.wechat_store import MemoryStore

_ids = itertools.count()


def make_app(handler) -> Sanic:
    app = Sanic(f"rest_test_{next(_ids)}")
    app.blueprint(RestInput().blueprint(handler), url_prefix="/webhooks/rest")
    return app


async def echo(message: UserMessage) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")


async def boom(message: UserMessage) -> None:
    raise RuntimeError("database exploded")


async def silent(message: UserMessage) -> None:
    return None


def post(app: Sanic, **kwargs):
    _, response = app.test_client.post("/webhooks/rest/webhook", **kwargs)
    return response


def test_a_normal_message_is_answered():
    response = post(make_app(echo), json={"sender": "m1", "message": "你好"})
    assert response.status == 200
    assert response.json == [{"recipient_id": "m1", "text": "收到：你好"}]


def test_a_processing_failure_is_a_visible_500_with_an_apology():
    response = post(make_app(boom), json={"sender": "m1", "message": "你好"})
    assert response.status == 500
    assert response.json[0]["text"] == APOLOGY


def test_no_reply_at_all_is_a_visible_503():
    response = post(make_app(silent), json={"sender": "m1", "message": "你好"})
    assert response.status == 503
    assert response.json[0]["text"] == APOLOGY


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\xfa", b"[1, 2]", b'"text"'])
def test_malformed_requests_get_400(body):
    response = post(make_app(echo), data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "error" in response.json


@pytest.mark.parametrize("sender", [None, "", 12, "x" * 129])
def test_bad_sender_gets_400(sender):
    response = post(make_app(echo), json={"sender": sender, "message": "你好"})
    assert response.status == 400


@pytest.mark.parametrize("message", ["", "   ", "\u200f\u200e", "\x00\x07", None, 5])
def test_empty_messages_get_a_clear_reply_and_never_reach_the_bot(message):
    reached = []

    async def record(msg: UserMessage) -> None:
        reached.append(msg)

    response = post(make_app(record), json={"sender": "m1", "message": message})
    assert response.status == 200 and response.json[0]["text"] == EMPTY_REPLY
    assert reached == []


def test_an_oversized_message_gets_a_clear_reply_and_never_reaches_the_bot():
    reached = []

    async def record(msg: UserMessage) -> None:
        reached.append(msg)

    response = post(make_app(record), json={"sender": "m1", "message": "解" * 100_000})
    assert response.status == 200
    assert str(MAX_MESSAGE_CHARS) in response.json[0]["text"]
    assert reached == []


def test_control_and_direction_marks_are_removed_before_the_bot_sees_the_text():
    response = post(make_app(echo), json={"sender": "m1", "message": "\u202e你\x00好\u200b"})
    assert response.json[0]["text"] == "收到：你好"


# -- a resend with the same message_id is processed once ------------------------------


def replica(database: str, handler, prefix: str, history=None) -> Sanic:
    """One Rasa replica's REST channel: its own cache, the database shared."""
    once = Once(dedup_store(MemoryStore(), database), prefix)
    channel = RestInput(once=once, history=history or getattr(handler, "history", None))
    app = Sanic(f"rest_once_{next(_ids)}")
    app.blueprint(channel.blueprint(handler), url_prefix="/webhooks/rest")
    return app


class Counting:
    """A bot that answers with how many turns it handled and keeps the events a tracker
    store would; ``fail_first`` turns fail (before or, ``stored``, after storing)."""

    def __init__(self, fail_first: int = 0, stored: bool = False) -> None:
        self.turns: list[str] = []
        self.events: list[dict] = []
        self.fail_first = fail_first
        self.stored = stored
        self.history_down = False

    async def __call__(self, message: UserMessage) -> None:
        self.turns.append(message.text)
        failing = len(self.turns) <= self.fail_first
        if failing and not self.stored:
            raise RuntimeError("tracker store down")
        text = f"第{len(self.turns)}次处理：{message.text}"
        self.events += [{"event": "user", "text": message.text, "message_id": message.message_id},
                        {"event": "bot", "text": text, "data": {}},
                        {"event": "action", "name": "action_listen"}]
        if failing:
            raise RuntimeError("the connection broke after the commit")
        await message.output_channel.send_text_message(message.sender_id, text)

    async def history(self, request, sender: str) -> list[dict]:
        if self.history_down:
            raise ConnectionError("database restarting")
        return self.events


def test_a_resend_to_another_replica_gets_the_same_answer(callbacks_db_url_sqlite):
    prefix = f"test:once:{uuid.uuid4().hex}"
    bot = Counting()
    one, two = (replica(callbacks_db_url_sqlite, bot, prefix) for _ in range(2))
    body = {"sender": "m1", "message": "你好", "message_id": "c-1"}
    first, resent = post(one, json=body), post(two, json=body)
    assert first.status == resent.status == 200
    assert resent.json == first.json == [{"recipient_id": "m1", "text": "第1次处理：你好"}]
    assert bot.turns == ["你好"]
    post(two, json={**body, "message_id": "c-2"})  # a new message is a new turn
    post(two, json={**body, "sender": "m2"})  # the same id from another sender too
    assert bot.turns == ["你好"] * 3


def test_a_resend_after_a_failed_turn_is_processed(callbacks_db_url_sqlite):
    prefix = f"test:once:{uuid.uuid4().hex}"
    bot = Counting(fail_first=1)
    one, two = (replica(callbacks_db_url_sqlite, bot, prefix) for _ in range(2))
    body = {"sender": "m1", "message": "你好", "message_id": "c-1"}
    assert post(one, json=body).status == 500
    resent = post(two, json=body)
    assert resent.status == 200 and resent.json[0]["text"] == "第2次处理：你好"


@pytest.mark.parametrize("message_id", ["", "  ", 7, ["a"], "x" * 129])
def test_a_malformed_message_id_gets_400(message_id, callbacks_db_url_sqlite):
    bot = Counting()
    response = post(replica(callbacks_db_url_sqlite, bot, "test:once:bad"),
                    json={"sender": "m1", "message": "你好", "message_id": message_id})
    assert response.status == 400 and "message_id" in response.json["error"]
    assert bot.turns == []


def test_a_turn_stored_before_its_failure_is_answered_from_the_conversation(
    callbacks_db_url_sqlite,
):
    prefix = f"test:once:{uuid.uuid4().hex}"
    bot = Counting(fail_first=1, stored=True)
    one, two = (replica(callbacks_db_url_sqlite, bot, prefix) for _ in range(2))
    body = {"sender": "m1", "message": "你好", "message_id": "c-1"}
    assert post(one, json=body).status == 500  # stored, then the store said it failed
    bot.history_down = True  # the database is still restarting: cannot tell yet
    assert post(two, json=body).status == 500
    bot.history_down = False
    resent = post(two, json=body)
    assert resent.status == 200
    assert resent.json == [{"recipient_id": "m1", "text": "第1次处理：你好"}]
    assert bot.turns == ["你好"]  # never processed again
    assert post(one, json=body).json == resent.json  # and kept for later resends


def test_a_stored_turn_is_rebuilt_as_the_channel_answered_it():
    events = [
        {"event": "user", "text": "你好", "message_id": "a"},
        {"event": "bot", "text": "您好", "data": {"buttons": [{"title": "解绑", "payload": "/x"}]}},
        {"event": "bot", "text": None, "data": {"custom": {"kind": "card"}}},
        {"event": "action", "name": "action_listen"},
        {"event": "bot", "text": "步骤更新通知", "data": {}},  # later, not this turn's
        {"event": "user", "text": "在吗", "message_id": "b",
         "metadata": {"handoff": {"id": 3, "agent": "张三"}}},
        {"event": "user", "text": "？", "message_id": "c"},
    ]
    assert stored_answer(events, "m1", "a") == (200, [
        {"recipient_id": "m1", "text": "您好", "buttons": [{"title": "解绑", "payload": "/x"}]},
        {"recipient_id": "m1", "custom": {"kind": "card"}},
    ])
    assert stored_answer(events, "m1", "b") == (200, [
        {"recipient_id": "m1", "custom": {"handoff": "with_agent", "agent": "张三"}}])
    assert stored_answer(events, "m1", "c") == (503, [{"recipient_id": "m1", "text": APOLOGY}])
    assert stored_answer(events, "m1", "never sent") is None
