"""Merchant, bot and agent as one conversation, through the running bot (Rasa, actions,
web app, outbox worker) and the fake WeChat/WeCom platform API.

- REST: 转人工 queues, an agent claims, the bot falls silent and the merchant's messages
  go to the agent, the agent's reply is stored with the agent's name, hand-back lets the
  bot answer again.
- WeChat Official Account: a ticket opened over callbacks gets its step-change notice
  through the customer-service API; a live handoff over callbacks both ways.
- WeCom: the agent's reply through the application message API.
"""

from __future__ import annotations

import re
import uuid

import pytest
from handoff_support import (
    Console,
    WeChatMerchant,
    bot_events,
    rest,
    tracker_events,
    unique_merchant,
    wait_for,
)

from bot.audit import AuditLog
from bot.db import make_engine
from bot.tickets import TicketService

pytestmark = pytest.mark.server


@pytest.fixture
def console(running_bot) -> Console:
    return Console(running_bot.web_url, running_bot.console_token)


def test_rest_merchant_reaches_an_agent_and_comes_back_to_the_bot(running_bot, console):
    sender = f"handoff-{uuid.uuid4().hex[:10]}"
    [queued] = rest(running_bot.rasa_url, sender, "转人工")
    assert "正在为您转接人工客服" in queued["text"]
    handoff = console.handoff_of(sender)
    assert (handoff["reason"], handoff["state"]) == ("requested", "queued")
    assert any(e["event"] == "action" and e["name"] == "action_human_handoff"
               for e in tracker_events(running_bot.rasa_url, sender))

    claimed = console.post(f"/api/handoffs/{handoff['id']}/claim")
    assert claimed.status_code == 200
    other = Console(running_bot.web_url, running_bot.console_token, agent="李四")
    refused = other.post(f"/api/handoffs/{handoff['id']}/claim")
    assert refused.status_code == 409 and refused.json()["holder"] == "张三"
    # The agent's greeting goes out through the outbox worker: wait until it is stored,
    # so that the merchant's next message is the latest turn of the transcript.
    wait_for(lambda: len(bot_events(running_bot.rasa_url, sender, "handoff")) == 1,
             "the agent's greeting stored")

    # While claimed the bot says nothing; the message goes to the agent.
    silent = rest(running_bot.rasa_url, sender, "我要解绑")
    assert silent == [{"recipient_id": sender,
                       "custom": {"handoff": "with_agent", "agent": "张三"}}]
    [last_user] = [e for e in tracker_events(running_bot.rasa_url, sender)
                   if e["event"] == "user"][-1:]
    assert last_user["text"] == "我要解绑"
    assert last_user["metadata"]["handoff"] == {"id": handoff["id"], "agent": "张三"}
    assert "action_unbind_form" not in str(tracker_events(running_bot.rasa_url, sender)[-3:])
    turns = console.detail(handoff["id"])["turns"]
    assert turns[-1]["text"] == "我要解绑" and turns[-1]["to_agent"] is True

    sent = console.post(f"/api/handoffs/{handoff['id']}/messages",
                        {"text": "您好，请问是哪台机器要解绑？", "client_id": "rest-reply-1"})
    assert sent.status_code == 202
    outbox_id = sent.json()["message"]["id"]
    wait_for(lambda: console.delivered(handoff["id"], outbox_id), "the reply delivered")
    agent_says = bot_events(running_bot.rasa_url, sender, "agent")
    assert [(e["text"], e["metadata"]["agent"]) for e in agent_says] == [
        ("您好，请问是哪台机器要解绑？", "张三")]
    joined = bot_events(running_bot.rasa_url, sender, "handoff")
    assert joined[0]["text"] == "您好，我是人工客服张三，接下来由我为您服务。"

    released = console.post(f"/api/handoffs/{handoff['id']}/release", {"action": "handback"})
    assert released.status_code == 200
    wait_for(lambda: len(bot_events(running_bot.rasa_url, sender, "handoff")) == 2,
             "the hand-back message stored")
    answer = rest(running_bot.rasa_url, sender, "需要准备哪些资料")
    assert answer and "资料" in answer[0]["text"]  # the bot answers again

    engine = make_engine(running_bot.tickets_url)
    actions = {row.action for row in AuditLog(engine).recent(50)}
    engine.dispose()
    assert {"handoffs.claim", "handoffs.reply", "handoffs.release"} <= actions


def test_wechat_ticket_gets_its_step_change_notice_through_the_customer_service_api(
    running_bot, console
):
    merchant = WeChatMerchant(running_bot.rasa_url, running_bot.platform_api)
    assert "商户号" in merchant.send("我要解绑")[1]["Content"]
    merchant.send(unique_merchant())
    merchant.send("1")
    merchant.send("SN8A2B3C4D5")
    merchant.send("13812345678")
    _, confirmed = merchant.send("1")
    number = re.search(r"UB-\d{8}-\d{4}", confirmed["Content"]).group()
    changed = console.post(f"/api/tickets/{number}/steps/资料审核",
                           {"status": "已完成", "note": "资料齐全"})
    assert changed.status_code == 200
    notice = (f"工单 {number} 的「资料审核」已完成。\n备注：资料齐全\n下一步：「账户冻结」。\n"
              "回复“不要再通知我”可关闭工单进度通知。")
    wait_for(lambda: notice in merchant.received(), "the notice through the API")
    [sent] = [m for m in running_bot.platform_api.messages
              if m["body"]["touser"] == merchant.openid]
    assert sent["path"] == "/cgi-bin/message/custom/send"
    service = TicketService.from_url(running_bot.tickets_url)
    ticket = service.get_ticket(number)
    service.dispose()
    assert (ticket.channel, ticket.sender_id) == ("wechat", merchant.openid)
    state = lambda: console.get(f"/api/notices?ticket={number}").json()["notices"]  # noqa: E731
    assert wait_for(lambda: state()[0]["state"] == "sent", "the notice marked sent")

    # 不要再通知我: the next change is recorded, not sent.
    assert "不再主动通知" in merchant.send("不要再通知我")[1]["Content"]
    console.post(f"/api/tickets/{number}/steps/账户冻结", {"status": "进行中"})
    assert state()[0]["state"] == "opted_out"
    assert merchant.received() == [notice]


def test_wechat_live_handoff_both_ways_over_callbacks(running_bot, console):
    merchant = WeChatMerchant(running_bot.rasa_url, running_bot.platform_api)
    _, queued = merchant.send("人工客服")
    assert "正在为您转接人工客服" in queued["Content"]
    handoff = console.handoff_of(merchant.openid)
    assert handoff["channel_label"] == "微信公众号"
    console.post(f"/api/handoffs/{handoff['id']}/claim")
    wait_for(lambda: merchant.received() == ["您好，我是人工客服张三，接下来由我为您服务。"],
             "the 接入 message through the API")
    status, passive = merchant.send("我的POS机屏幕坏了，还能解绑吗")
    assert (status, passive) == (200, None)  # no bot answer: the agent has it
    assert console.detail(handoff["id"])["handoff"]["window"]["open"] is True
    sent = console.post(f"/api/handoffs/{handoff['id']}/messages",
                        {"text": "可以的，请先准备营业执照。"}).json()["message"]
    wait_for(lambda: console.delivered(handoff["id"], sent["id"]), "the reply delivered")
    assert merchant.received()[-1] == "可以的，请先准备营业执照。"
    console.post(f"/api/handoffs/{handoff['id']}/release", {"action": "close"})
    wait_for(lambda: len(merchant.received()) == 3, "the closing message")
    assert "本次人工服务已结束" in merchant.received()[-1]
    _, answered = merchant.send("需要哪些资料")
    assert answered is not None and "资料" in answered["Content"]


def test_wechat_reply_outside_the_48_hour_window_fails_and_says_why(running_bot, console):
    api = running_bot.platform_api
    merchant = WeChatMerchant(running_bot.rasa_url, api)
    merchant.send("转人工")
    handoff = console.handoff_of(merchant.openid)
    console.post(f"/api/handoffs/{handoff['id']}/claim")
    wait_for(lambda: merchant.received(), "the 接入 message")
    api.user_wrote(merchant.openid, at=api.clock() - 49 * 3600)  # WeChat sees an old chat
    sent = console.post(f"/api/handoffs/{handoff['id']}/messages", {"text": "还在吗？"})
    outbox_id = sent.json()["message"]["id"]
    wait_for(lambda: console.reply_state(handoff["id"], outbox_id) == "failed",
             "the reply marked failed")
    [row] = [r for r in console.detail(handoff["id"])["outbox"] if r["id"] == outbox_id]
    assert "45015" in row["error"] and "48小时" in row["error"]
    assert "还在吗？" not in merchant.received()


def test_wecom_agent_reply_goes_through_the_application_message_api(running_bot, console):
    merchant = WeChatMerchant(running_bot.rasa_url, running_bot.platform_api, wecom=True,
                              openid=f"WeComUser{uuid.uuid4().hex[:8]}")
    _, queued = merchant.send("转人工")
    assert "正在为您转接人工客服" in queued["Content"]
    handoff = console.handoff_of(merchant.openid)
    assert handoff["channel"] == "wecom"
    console.post(f"/api/handoffs/{handoff['id']}/claim")
    sent = console.post(f"/api/handoffs/{handoff['id']}/messages",
                        {"text": "您好，企业微信这边由我来跟进。"}).json()["message"]
    wait_for(lambda: console.delivered(handoff["id"], sent["id"]), "the reply delivered")
    [reply] = [m for m in running_bot.platform_api.messages
               if m["body"]["touser"] == merchant.openid
               and m["body"]["text"]["content"] == "您好，企业微信这边由我来跟进。"]
    assert reply["path"] == "/cgi-bin/message/send" and reply["body"]["agentid"] == 1000002
    console.post(f"/api/handoffs/{handoff['id']}/release", {"action": "handback"})
