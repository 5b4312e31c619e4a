"""WeCom channel over real HTTP, with callbacks encrypted by wechatpy's enterprise crypto."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from wechat_support import (
    AES_KEY,
    AGENT_ID,
    CORP_ID,
    CORP_SECRET,
    TOKEN,
    WECOM_USER,
    FakeApi,
    FakeBot,
    WeComServer,
    serve,
    sign,
    wecom_app,
    wecom_xml,
)
from yarl import URL

from bot.channels.wechat_inbound import NON_TEXT_REPLY

WECOM = WeComServer()


async def test_get_verification_decrypts_echostr(api: FakeApi, bot: FakeBot) -> None:
    params = WECOM.verification("4961253712871236187")
    async with serve(wecom_app(api), bot) as served:
        status, body = await served.get(params)
    assert status == 200
    assert body == b"4961253712871236187"


async def test_get_verification_survives_an_unescaped_plus(api: FakeApi, bot: FakeBot) -> None:
    params = WECOM.verification("1")
    while "+" not in params["echostr"]:
        params = WECOM.verification("1")
    raw_query = "&".join(f"{k}={v}" for k, v in params.items())  # "+" left as is
    async with serve(wecom_app(api), bot) as served:
        status, body = await served.get(URL(f"{served.url}?{raw_query}", encoded=True))
    assert (status, body) == (200, b"1")


async def test_get_verification_bad_signature_or_corp_is_403(
    api: FakeApi, bot: FakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forged = WECOM.verification("123")
    forged["msg_signature"] = sign("guessed", forged["timestamp"], forged["nonce"], "x")
    other_corp = WeComServer(corp_id="ww_other_corp_0000").verification("123")
    async with serve(wecom_app(api), bot) as served:
        assert (await served.get(forged))[0] == 403
        assert await served.get(other_corp) == (403, b"CorpID mismatch")
        status, body = await served.get({"timestamp": "1"})
    assert status == 400 and b"msg_signature" in body
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and AES_KEY not in logged and CORP_SECRET not in logged


async def test_text_message_gets_an_encrypted_passive_reply(api: FakeApi, bot: FakeBot) -> None:
    async with serve(wecom_app(api), bot) as served:
        status, body = await served.post(WECOM.encrypted(wecom_xml("text", {"Content": "你好"}, 1)))
    assert status == 200
    reply = WECOM.open_reply(body)
    assert reply["Content"] == "已收到您的消息（第1条）。"
    assert reply["ToUserName"] == WECOM_USER
    assert reply["FromUserName"] == CORP_ID
    assert reply["AgentID"] == AGENT_ID
    [turn] = bot.turns
    assert (turn.sender_id, turn.input_channel, turn.text) == (WECOM_USER, "wecom", "你好")
    assert turn.output_channel.name() == "wecom"
    assert turn.metadata["agent_id"] == AGENT_ID


async def test_wrong_corp_forged_signature_and_wrong_agent_are_refused(
    api: FakeApi, bot: FakeBot
) -> None:
    other_corp = WeComServer(corp_id="ww_other_corp_0000")
    forged = WECOM.encrypted(wecom_xml("text", {"Content": "x"}, 2))
    forged.params["msg_signature"] = sign("guessed", "1", "2", "3")
    wrong_agent = WECOM.encrypted(wecom_xml("text", {"Content": "x"}, 3, agent_id="9999"))
    async with serve(wecom_app(api), bot) as served:
        assert await served.post(other_corp.encrypted(wecom_xml("text", {"Content": "x"}, 1))) == (
            403,
            b"CorpID mismatch",
        )
        assert (await served.post(forged))[0] == 403
        assert await served.post(wrong_agent) == (403, b"AgentID mismatch")
        plain = await served.post_raw(forged.params, b"<xml><Content>x</Content></xml>")
        laughs = await served.post_raw(
            forged.params, b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
        )
        huge = await served.post_raw(forged.params, b"<xml>" + b"a" * 70_000 + b"</xml>")
    assert plain == (400, b"missing field: Encrypt")
    assert laughs[0] == 400 and huge[0] == 400
    assert bot.turns == []


async def test_events_and_non_text(api: FakeApi, bot: FakeBot) -> None:
    async with serve(wecom_app(api), bot) as served:
        subscribe = await served.post(WECOM.encrypted(wecom_xml("event", {"Event": "subscribe"})))
        enter = await served.post(WECOM.encrypted(wecom_xml("event", {"Event": "enter_agent"})))
        click = await served.post(
            WECOM.encrypted(
                wecom_xml(
                    "event", {"Event": "click", "EventKey": "UNBIND_REQUEST"}, create_time="7"
                )
            )
        )
        image = await served.post(
            WECOM.encrypted(wecom_xml("image", {"PicUrl": "http://x", "MediaId": "m"}, 4))
        )
    assert "解绑助手" in WECOM.open_reply(subscribe[1])["Content"]
    assert enter == (200, b"")
    assert click[0] == 200
    assert WECOM.open_reply(image[1])["Content"] == NON_TEXT_REPLY
    assert bot.texts == ["/greet", "/request_unbind"]


async def test_slow_answer_goes_through_the_application_message_api(api: FakeApi) -> None:
    bot = FakeBot(delay=0.6)
    channel = wecom_app(api, reply_timeout=0.2)
    xml = wecom_xml("text", {"Content": "查询进度"}, 10)
    async with serve(channel, bot) as served:
        results = await asyncio.gather(*(served.post(WECOM.encrypted(xml)) for _ in range(3)))
        await channel.wait_idle()
    assert results == [(200, b"")] * 3
    assert len(bot.turns) == 1
    assert api.token_fetches == [{"corpid": CORP_ID, "corpsecret": CORP_SECRET}]
    [sent] = api.messages
    assert sent["path"] == "/cgi-bin/message/send"
    assert sent["body"] == {  # as wechatpy's WeCom client builds it
        "touser": WECOM_USER,
        "toparty": "",
        "totag": "",
        "msgtype": "text",
        "agentid": int(AGENT_ID),
        "text": {"content": "已收到您的消息（第1条）。"},
        "safe": 0,
    }


async def test_unsubscribe_gets_an_empty_reply_and_never_reaches_rasa(
    api: FakeApi, bot: FakeBot
) -> None:
    async with serve(wecom_app(api), bot) as served:
        result = await served.post(WECOM.encrypted(wecom_xml("event", {"Event": "unsubscribe"})))
    assert result == (200, b"")
    assert bot.turns == []


async def test_malformed_and_entity_xml_inside_the_envelope_is_400(
    api: FakeApi, bot: FakeBot
) -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        '"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>{WECOM_USER}</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol2;</Content>"
        f"<AgentID>{AGENT_ID}</AgentID></xml>"
    )
    async with serve(wecom_app(api), bot) as served:
        malformed = await served.post(WECOM.encrypted("<xml><ToUserName>ww</ToUserName><Content>"))
        entity = await served.post(WECOM.encrypted(laughs))
        outer = WECOM.encrypted(wecom_xml("text", {"Content": "x"}, 20))
        broken_outer = await served.post_raw(outer.params, outer.body[:-8])
        still_ok = await served.post(WECOM.encrypted(wecom_xml("text", {"Content": "在吗"}, 21)))
    assert malformed == (400, b"malformed XML")
    assert entity == (400, b"DTD or entity declarations are not allowed")
    assert broken_outer == (400, b"malformed XML")
    assert still_ok[0] == 200
    assert bot.texts == ["在吗"]


async def test_oversized_chunked_body_is_400_without_content_length(
    api: FakeApi, bot: FakeBot
) -> None:
    callback = WECOM.encrypted(wecom_xml("text", {"Content": "x"}, 30))

    async def chunks() -> AsyncIterator[bytes]:
        yield b"<xml><Encrypt><![CDATA["
        for _ in range(10):
            yield b"A" * 8192  # 80 KB in all, and no Content-Length announces it
        yield b"]]></Encrypt></xml>"

    async with serve(wecom_app(api), bot) as served:
        status, body = await served.post_raw(callback.params, chunks())
        still_ok = await served.post(WECOM.encrypted(wecom_xml("text", {"Content": "在吗"}, 31)))
    assert (status, body) == (400, b"body larger than 65536 bytes")
    assert still_ok[0] == 200
    assert bot.texts == ["在吗"]
