"""Official Account channel over real HTTP: WeChat's retries, the 5-second rule and the
customer-service API for answers that come later."""

from __future__ import annotations

import asyncio

from wechat_support import (
    OPENID,
    FakeApi,
    FakeBot,
    OfficialAccount,
    official_account,
    serve,
    text_xml,
    xml_fields,
)

PLATFORM = OfficialAccount()


# -- retries and the 5-second rule --------------------------------------------------------


async def test_triple_retry_gives_one_turn_and_one_answer(api: FakeApi) -> None:
    bot = FakeBot(delay=0.3)
    xml = text_xml("我的解绑进度怎么样", 7001)
    async with serve(official_account(api, reply_timeout=2.0), bot) as served:
        callbacks = [PLATFORM.encrypted(xml) for _ in range(3)]  # fresh nonce each, as WeChat
        results = await asyncio.gather(*(served.post(cb) for cb in callbacks))
        late_status, late_body = await served.post(PLATFORM.encrypted(xml))
    assert len(bot.turns) == 1
    answers = set()
    for status, body in [*results, (late_status, late_body)]:
        assert status == 200
        answers.add(body if body == b"success" else PLATFORM.open_reply(body)["Content"])
    assert answers == {"已收到您的消息（第1条）。"}
    assert api.messages == []


async def test_slow_answer_goes_through_the_customer_service_api_once(api: FakeApi) -> None:
    bot = FakeBot(delay=0.8)
    xml = text_xml("我要解绑", 7002)
    channel = official_account(api, reply_timeout=0.3)
    async with serve(channel, bot) as served:
        status, body = await served.post(PLATFORM.encrypted(xml))
        retry_status, retry_body = await served.post(PLATFORM.encrypted(xml))
        await channel.wait_idle()
    assert (status, body) == (200, b"success")  # acknowledged, not answered passively
    assert (retry_status, retry_body) == (200, b"success")
    assert len(bot.turns) == 1
    assert len(api.token_fetches) == 1
    assert api.token_fetches[0]["appid"] == "wx1234567890abcdef"
    [sent] = api.messages
    assert sent["path"] == "/cgi-bin/message/custom/send"
    assert sent["body"]["touser"] == OPENID
    assert sent["body"]["msgtype"] == "text"
    assert sent["body"]["text"]["content"].startswith("请问解绑的原因是什么？\n回复数字选择：")


async def test_failed_api_send_is_retried_once(api: FakeApi) -> None:
    api.send_errcodes = [-1]  # "system busy" once
    bot = FakeBot(delay=0.4)
    channel = official_account(api, reply_timeout=0.1)
    async with serve(channel, bot) as served:
        assert (await served.post(PLATFORM.plaintext(text_xml("你好", 7003))))[1] == b"success"
        await channel.wait_idle()
    assert len(api.attempts) == 2
    assert len(api.messages) == 1


async def test_api_send_that_fails_twice_is_not_sent_a_third_time(api: FakeApi) -> None:
    api.send_errcodes = [-1, -1, -1]
    channel = official_account(api, reply_timeout=0.05)
    async with serve(channel, FakeBot(delay=0.2)) as served:
        await served.post(PLATFORM.plaintext(text_xml("你好", 7004)))
        await channel.wait_idle()
    assert len(api.attempts) == 2
    assert api.messages == []


async def test_rejected_token_is_refetched(api: FakeApi) -> None:
    channel = official_account(api, reply_timeout=0.05)
    async with serve(channel, FakeBot(delay=0.2)) as served:
        await served.post(PLATFORM.plaintext(text_xml("第一条", 7005)))
        await channel.wait_idle()
        api.valid_tokens.clear()  # WeChat expired the token early
        await served.post(PLATFORM.plaintext(text_xml("第二条", 7006)))
        await channel.wait_idle()
    assert len(api.token_fetches) == 2
    assert len(api.messages) == 2
    assert [m["token"] for m in api.messages] == ["ACCESS_TOKEN_1", "ACCESS_TOKEN_2"]


async def test_bot_failure_still_answers_politely(api: FakeApi) -> None:
    async def broken(message: object) -> None:
        raise RuntimeError("tracker store down")

    async with serve(official_account(api), broken) as served:
        status, body = await served.post(PLATFORM.plaintext(text_xml("你好", 7007)))
    assert status == 200
    assert "系统暂时繁忙" in xml_fields(body)["Content"]
