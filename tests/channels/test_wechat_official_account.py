"""Official Account channel over real HTTP, with callbacks signed and encrypted by wechatpy."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from wechat_support import (
    ACCOUNT,
    AES_KEY,
    APPSECRET,
    OPENID,
    TOKEN,
    FakeApi,
    FakeBot,
    OfficialAccount,
    event_xml,
    message_xml,
    official_account,
    serve,
    sign,
    text_xml,
    xml_fields,
)

from bot.channels.wechat import WeChatInput
from bot.channels.wechat_inbound import NON_TEXT_REPLY, UNKNOWN_MENU_REPLY

PLATFORM = OfficialAccount()


def _secrets_absent(caplog: pytest.LogCaptureFixture) -> None:
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (TOKEN, AES_KEY, APPSECRET):
        assert secret not in logged


# -- URL verification ----------------------------------------------------------------


async def test_get_verification_returns_echostr_exactly(api: FakeApi, bot: FakeBot) -> None:
    timestamp, nonce, echo = str(int(time.time())), "n0nce", "6871234567890123456"
    params = {
        "signature": sign(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echo,
    }
    async with serve(official_account(api), bot) as served:
        status, body = await served.get(params)
    assert status == 200
    assert body == echo.encode()


async def test_get_verification_with_wrong_signature_is_403_and_logged_without_secrets(
    api: FakeApi, bot: FakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    timestamp, nonce = str(int(time.time())), "n0nce"
    params = {
        "signature": sign("not-the-token", timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": "123",
    }
    async with serve(official_account(api), bot) as served:
        status, body = await served.get(params)
        missing_status, missing_body = await served.get({"timestamp": timestamp, "nonce": nonce})
    assert status == 403
    assert b"signature" in body
    assert missing_status == 400
    assert b"missing query parameter: signature" in missing_body
    assert any("rejected (403)" in r.getMessage() for r in caplog.records)
    _secrets_absent(caplog)


# -- messages ----------------------------------------------------------------------------


async def test_plaintext_text_message_gets_passive_reply(
    api: FakeApi, bot: FakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(PLATFORM.plaintext(text_xml("解绑要带什么证件", 5001)))
    assert status == 200
    reply = xml_fields(body)
    assert reply["MsgType"] == "text"
    assert reply["FromUserName"] == ACCOUNT
    assert reply["ToUserName"] == OPENID
    assert reply["Content"] == "已收到您的消息（第1条）。"
    [turn] = bot.turns
    assert turn.text == "解绑要带什么证件"
    assert turn.sender_id == OPENID
    assert turn.input_channel == "wechat"
    assert turn.output_channel.name() == "wechat"
    assert turn.metadata["msg_type"] == "text"
    assert turn.metadata["msg_id"] == "5001"
    assert isinstance(turn.metadata["create_time"], int)
    assert api.messages == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert OPENID in logged and "5001" in logged  # sender and message ids only
    assert "解绑要带什么证件" not in logged and "已收到" not in logged


async def test_aes_message_gets_encrypted_reply(api: FakeApi, bot: FakeBot) -> None:
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(PLATFORM.encrypted(text_xml("你好", 5002)))
    assert status == 200
    assert b"<Encrypt>" in body and "已收到".encode() not in body
    reply = PLATFORM.open_reply(body)
    assert reply["Content"] == "已收到您的消息（第1条）。"
    assert reply["ToUserName"] == OPENID
    assert bot.texts == ["你好"]


async def test_aes_request_without_configured_key_is_refused(api: FakeApi, bot: FakeBot) -> None:
    async with serve(official_account(api, aes=False), bot) as served:
        status, body = await served.post(PLATFORM.encrypted(text_xml("你好", 5003)))
        plain_status, _ = await served.post(PLATFORM.plaintext(text_xml("你好", 5004)))
    assert status == 400
    assert b"WECHAT_ENCODING_AES_KEY" in body
    assert plain_status == 200
    assert bot.texts == ["你好"]


# -- hostile input --------------------------------------------------------------------------

XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f"<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{OPENID}</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content>"
    "<MsgId>1</MsgId></xml>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + f"]><xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{OPENID}</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content></xml>"
)


BAD_BODIES = [
    ("malformed", b"<xml><ToUserName>gh</ToUserName><Content>", b"malformed XML"),
    ("not xml", "解绑".encode(), b"malformed XML"),
    ("empty", b"", b"empty body"),
    ("xxe", XXE.encode(), b"DTD or entity"),
    ("billion laughs", LAUGHS.encode(), b"DTD or entity"),
    ("oversized", text_xml("长" * 30_000, 1).encode(), b"body larger than 65536 bytes"),
    ("wrong root", b"<root><a>1</a></root>", b"root element"),
    ("missing fields", b"<xml><Content>hi</Content></xml>", b"missing field: ToUserName"),
]


@pytest.mark.parametrize(("name", "body", "reason"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_plaintext_bodies_are_400(
    api: FakeApi, bot: FakeBot, name: str, body: bytes, reason: bytes
) -> None:
    callback = PLATFORM.plaintext("")
    async with serve(official_account(api), bot) as served:
        status, answer = await served.post_raw(callback.params, body)
        # the channel keeps serving afterwards
        ok_status, _ = await served.post(PLATFORM.plaintext(text_xml("还在吗", 6000)))
    assert status == 400, name
    assert reason in answer
    assert ok_status == 200
    assert bot.texts == ["还在吗"]


async def test_entity_payload_inside_the_encrypted_envelope_is_400(
    api: FakeApi, bot: FakeBot
) -> None:
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(PLATFORM.encrypted(LAUGHS))
    assert status == 400
    assert b"DTD or entity" in body
    assert bot.turns == []


async def test_forged_signatures_are_403(
    api: FakeApi, bot: FakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forged_plain = OfficialAccount().plaintext(text_xml("伪造", 6001), token="guessed-token")
    forged_aes = PLATFORM.encrypted(text_xml("伪造", 6002))
    forged_aes.params["msg_signature"] = sign("guessed-token", "1", "2", "3")
    attacker = OfficialAccount(token="guessed-token")
    other_key = attacker.encrypted(text_xml("伪造", 6003))
    async with serve(official_account(api), bot) as served:
        results = [
            await served.post(forged_plain),
            await served.post(forged_aes),
            await served.post(other_key),
        ]
        missing = await served.post_raw({"timestamp": "1", "nonce": "2"}, b"<xml/>")
    assert [status for status, _ in results] == [403, 403, 403]
    assert missing[0] == 400 and b"missing query parameter: signature" in missing[1]
    assert bot.turns == []
    _secrets_absent(caplog)


async def oversized_chunks() -> AsyncIterator[bytes]:
    """80 KB sent chunked: no Content-Length announces the size."""
    yield b"<xml><Content><![CDATA["
    for _ in range(10):
        yield "长".encode() * 2730
    yield b"]]></Content></xml>"


async def test_forged_signature_is_403_before_the_body_is_parsed(
    api: FakeApi, bot: FakeBot
) -> None:
    """A hostile body under a forged signature is refused for the signature (403), not
    parsed (which would give 400 for the DTD or the size)."""
    forged = OfficialAccount().plaintext("", token="guessed-token").params
    forged_aes = PLATFORM.encrypted(text_xml("x", 6010)).params
    forged_aes["signature"] = forged["signature"]
    async with serve(official_account(api), bot) as served:
        results = [
            await served.post_raw(forged, XXE.encode()),
            await served.post_raw(forged, LAUGHS.encode()),
            await served.post_raw(forged, text_xml("长" * 30_000, 6011).encode()),
            await served.post_raw(forged, oversized_chunks()),
            await served.post_raw(forged_aes, XXE.encode()),
        ]
    assert results == [(403, b"invalid signature")] * 5
    assert bot.turns == []


async def test_oversized_chunked_body_with_a_good_signature_is_400(
    api: FakeApi, bot: FakeBot
) -> None:
    async with serve(official_account(api), bot) as served:
        status, body = await served.post_raw(PLATFORM.plaintext("").params, oversized_chunks())
        ok_status, _ = await served.post(PLATFORM.plaintext(text_xml("还在吗", 6012)))
    assert (status, body) == (400, b"body larger than 65536 bytes")
    assert ok_status == 200
    assert bot.texts == ["还在吗"]


async def test_wrong_appid_in_the_envelope_is_403(api: FakeApi, bot: FakeBot) -> None:
    other_app = OfficialAccount(appid="wx_someone_else_000")
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(other_app.encrypted(text_xml("你好", 6004)))
    assert status == 403
    assert body == b"AppID mismatch"
    assert bot.turns == []


async def test_garbage_ciphertext_is_rejected_without_crashing(api: FakeApi, bot: FakeBot) -> None:
    callback = PLATFORM.encrypted(text_xml("你好", 6005))
    timestamp, nonce = callback.params["timestamp"], callback.params["nonce"]
    for garbage in ("not base64 at all!!", "QUJD", "A" * 64):
        body = f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>".encode()
        callback.params["msg_signature"] = sign(TOKEN, timestamp, nonce, garbage)
        async with serve(official_account(api), bot) as served:
            status, _ = await served.post_raw(callback.params, body)
        assert status in (400, 403), garbage
    assert bot.turns == []


async def test_unconfigured_channel_answers_503() -> None:
    channel = WeChatInput.from_credentials({})
    assert channel.missing_settings() == ["WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_APPSECRET"]
    async with serve(channel, FakeBot()) as served:
        status, body = await served.post(PLATFORM.plaintext(text_xml("你好", 1)))
    assert status == 503
    assert b"WECHAT_TOKEN" in body


# -- events and non-text messages ------------------------------------------------------------


async def test_subscribe_sends_greet_and_replies_with_the_bots_welcome(
    api: FakeApi, bot: FakeBot
) -> None:
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(PLATFORM.encrypted(event_xml("subscribe")))
    assert status == 200
    assert bot.texts == ["/greet"]
    assert bot.turns[0].metadata["event"] == "subscribe"
    assert "解绑助手" in PLATFORM.open_reply(body)["Content"]


async def test_unsubscribe_gets_no_reply_and_never_reaches_rasa(api: FakeApi, bot: FakeBot) -> None:
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(PLATFORM.encrypted(event_xml("unsubscribe")))
        view = await served.post(PLATFORM.encrypted(event_xml("VIEW", "https://example.com")))
    assert (status, body) == (200, b"success")
    assert view == (200, b"success")
    assert bot.turns == []


async def test_menu_click_maps_to_intent(api: FakeApi, bot: FakeBot) -> None:
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(PLATFORM.encrypted(event_xml("CLICK", "UNBIND_GUIDE")))
        unknown = await served.post(PLATFORM.encrypted(event_xml("CLICK", "NO_SUCH_KEY")))
        status_click = await served.post(PLATFORM.plaintext(event_xml("CLICK", "CHECK_STATUS")))
    assert status == 200
    assert PLATFORM.open_reply(body)["Content"] == "在终端上按 F1+F4 进入菜单，选择 系统设置。"
    assert unknown[0] == 200
    assert PLATFORM.open_reply(unknown[1])["Content"] == UNKNOWN_MENU_REPLY
    assert status_click[0] == 200
    assert bot.texts == ["/faq_terminal_steps", "/check_status"]


async def test_two_events_from_one_user_in_different_seconds_are_both_handled(
    api: FakeApi, bot: FakeBot
) -> None:
    async with serve(official_account(api), bot) as served:
        await served.post(PLATFORM.plaintext(event_xml("CLICK", "HUMAN", create_time="100")))
        await served.post(PLATFORM.plaintext(event_xml("CLICK", "HUMAN", create_time="100")))
        await served.post(PLATFORM.plaintext(event_xml("CLICK", "HUMAN", create_time="101")))
    assert bot.texts == ["/human_handoff", "/human_handoff"]


async def test_voice_with_recognition_is_a_text_message(api: FakeApi, bot: FakeBot) -> None:
    voice = message_xml(
        "voice", {"MediaId": "m1", "Format": "amr", "Recognition": "我要解绑"}, msg_id=8001
    )
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(PLATFORM.encrypted(voice))
    assert status == 200
    assert bot.texts == ["我要解绑"]
    assert bot.turns[0].metadata["msg_type"] == "voice"
    assert "回复数字选择" in PLATFORM.open_reply(body)["Content"]


@pytest.mark.parametrize(
    ("msg_type", "fields"),
    [
        ("image", {"PicUrl": "http://mmbiz.qpic.cn/x", "MediaId": "m2"}),
        ("voice", {"MediaId": "m3", "Format": "amr"}),
        ("location", {"Location_X": "39.9", "Location_Y": "116.3", "Scale": "15", "Label": "x"}),
        ("link", {"Title": "t", "Description": "d", "Url": "http://example.com"}),
        ("video", {"MediaId": "m4", "ThumbMediaId": "t4"}),
        ("shortvideo", {"MediaId": "m5", "ThumbMediaId": "t5"}),
        ("file", {"Title": "营业执照.pdf", "FileTotalLen": "1024"}),
    ],
)
async def test_non_text_messages_get_a_polite_text(
    api: FakeApi, bot: FakeBot, msg_type: str, fields: dict[str, str]
) -> None:
    async with serve(official_account(api), bot) as served:
        status, body = await served.post(PLATFORM.encrypted(message_xml(msg_type, fields, 8100)))
    assert status == 200
    content = PLATFORM.open_reply(body)["Content"]
    assert content == NON_TEXT_REPLY
    assert "文字" in content and "我要解绑" in content
    assert bot.turns == []


# -- replies WeChat can render ----------------------------------------------------------------


@pytest.mark.parametrize("choice", ["1", "１", "第1个", "第一个", " 1 "])
async def test_numbered_reply_sends_the_buttons_payload(
    api: FakeApi, bot: FakeBot, choice: str
) -> None:
    async with serve(official_account(api), bot) as served:
        _, body = await served.post(PLATFORM.plaintext(text_xml("我要解绑", 9001)))
        await served.post(PLATFORM.plaintext(text_xml(choice, 9002)))
        await served.post(PLATFORM.plaintext(text_xml("2", 9003)))  # no buttons pending now
    assert xml_fields(body)["Content"] == (
        "请问解绑的原因是什么？\n回复数字选择：\n1. 更换设备\n2. 业务调整\n3. 设备故障"
    )
    assert bot.texts == ["我要解绑", '/inform{"unbind_reason":"更换设备"}', "2"]


async def test_long_answer_is_split_and_the_rest_sent_through_the_api(api: FakeApi) -> None:
    sentence = "请在终端上按F1加F4进入菜单，选择系统设置并找到终端管理。"
    long_text = "## 操作步骤\n" + sentence * 60
    bot = FakeBot(replies={"怎么操作": [{"text": long_text}]})
    channel = official_account(api)
    async with serve(channel, bot) as served:
        _, body = await served.post(PLATFORM.plaintext(text_xml("怎么操作", 9101)))
        await channel.wait_idle()
    first = xml_fields(body)["Content"]
    parts = [first, *api.contents()]
    assert len(parts) >= 2
    assert all(len(p.encode("utf-8")) <= 2048 for p in parts)
    assert all(p.endswith("。") for p in parts)
    assert first.startswith("操作步骤\n")
    assert "".join(parts).replace("操作步骤\n", "") == sentence * 60


async def test_reply_text_with_a_cdata_end_arrives_intact(api: FakeApi) -> None:
    answer = "代码示例：a]]>b，以及 ]]]]> 结尾"
    bot = FakeBot(replies={"示例": [{"text": answer}]})
    async with serve(official_account(api), bot) as served:
        _, plain = await served.post(PLATFORM.plaintext(text_xml("示例", 9201)))
        _, safe = await served.post(PLATFORM.encrypted(text_xml("示例", 9202)))
    assert xml_fields(plain)["Content"] == answer
    assert PLATFORM.open_reply(safe)["Content"] == answer
