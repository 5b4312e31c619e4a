"""The REST channel answers every request visibly: no silent ``[]``."""

from __future__ import annotations

import itertools

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.rest import APOLOGY, RestInput
from bot.channels.screening import EMPTY_REPLY, MAX_MESSAGE_CHARS

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
