"""Whole conversations through the running servers: REST webhook → Rasa → actions → DB."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid

import pytest
import requests

from bot.tickets import TicketService

pytestmark = pytest.mark.server
TICKET_RE = re.compile(r"UB-\d{8}-\d{4}")


class Chat:
    """One merchant's conversation over the REST channel."""

    def __init__(self, bot, sender: str | None = None) -> None:
        self.bot = bot
        self.sender = sender or f"test-{uuid.uuid4().hex[:10]}"

    def say(self, text: str) -> str:
        response = requests.post(
            self.bot.rest_url, json={"sender": self.sender, "message": text}, timeout=30
        )
        response.raise_for_status()
        messages = response.json()
        assert messages, f"no reply to {text!r}: a silent failure"
        return "\n".join(m.get("text", "") for m in messages)

    def buttons(self, text: str) -> list[str]:
        response = requests.post(
            self.bot.rest_url, json={"sender": self.sender, "message": text}, timeout=30
        )
        return [b["title"] for m in response.json() for b in m.get("buttons", [])]


def fill_form(chat: Chat, merchant: str = "849581058120003") -> str:
    assert "商户号" in chat.say("我要解绑")
    assert "原因" in chat.say(merchant)
    assert "序列号" in chat.say('/inform{"unbind_reason":"更换设备"}')
    assert "手机" in chat.say("SN8A2B3C4D5")
    summary = chat.say("13812345678")
    assert "请核对" in summary and merchant in summary
    return summary


def service(bot) -> TicketService:
    return TicketService.from_url(bot.tickets_url)


def test_greeting_and_a_guide_answer(running_bot):
    chat = Chat(running_bot)
    assert "解绑助手" in chat.say("你好")
    answer = chat.say("解绑要带什么资料啊")
    for item in ("营业执照副本", "税务登记证", "法人身份证明", "原POS机序列号"):
        assert item in answer


def test_happy_path_opens_a_ticket_then_status_lists_eight_steps(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120011")
    reply = chat.say("确认提交")
    number = TICKET_RE.search(reply).group()
    ticket = service(running_bot).get_ticket(number)
    assert ticket.merchant_id == "849581058120011"
    assert ticket.serial_number == "SN8A2B3C4D5" and ticket.contact_phone == "13812345678"
    assert ticket.reason_category == "更换设备" and ticket.sender_id == chat.sender
    assert ticket.channel == "rest"

    status = chat.say("我的解绑进度怎么样")
    assert number in status
    for step in ("资料审核", "账户冻结", "数据迁移", "设备注销", "正式解绑"):
        assert step in status


def test_agent_change_is_seen_by_the_merchant(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120012")
    number = TICKET_RE.search(chat.say("是的")).group()
    service(running_bot).advance_step(number, "资料审核", "需补充材料", note="请补营业执照副本")
    status = chat.say("查一下进度")
    assert "资料审核：需补充材料" in status and "请补营业执照副本" in status


def test_prefilled_first_message_does_not_ask_for_the_merchant_number_again(running_bot):
    chat = Chat(running_bot)
    reply = chat.say("商户号849581058120003，机器要换新的，帮我解绑")
    assert "商户号" not in reply
    assert "序列号" in reply  # the reason was understood too


def test_invalid_values_get_a_clear_reason_and_are_asked_again(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    assert "商户号应为15位数字，您输入的是5位" in chat.say("12345")
    assert "原因" in chat.say("８４９５ 8105-8120 013")  # full-width, spaces and hyphens
    chat.say("业务调整")
    reply = chat.say("abc")
    assert "序列号" in reply
    chat.say("N910123456")
    assert "手机" in chat.say("1234")
    assert "请核对" in chat.say("139 1234 5678")


def test_three_failures_offer_a_person_and_keep_what_was_collected(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    chat.say("849581058120014")
    chat.say("设备故障")
    chat.say("12")
    chat.say("34")
    reply = chat.say("56")
    assert "转人工" in reply or "人工" in reply
    resumed = chat.say("我要解绑")
    assert "序列号" in resumed  # merchant number and reason were kept


def test_a_guide_question_inside_the_form_is_answered_and_the_form_goes_on(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    reply = chat.say("在机器上要按哪个键进菜单")
    assert "F1" in reply and "商户号" in reply.splitlines()[-1]


def test_stop_inside_the_form(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    chat.say("849581058120015")
    assert "已停止" in chat.say("算了不办了")
    assert "商户号" in chat.say("我要解绑")  # the draft was cleared


def test_correcting_one_field_keeps_the_others(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120016")
    assert "哪一项" in chat.say("不对")
    assert "手机" in chat.say('/inform{"correction":"contact_phone"}')
    summary = chat.say("13900001111")
    assert "13900001111" in summary and "849581058120016" in summary


def test_duplicate_request_returns_the_existing_ticket(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120017")
    number = TICKET_RE.search(chat.say("确认")).group()
    again = Chat(running_bot)
    again.say("我要解绑")
    reply = again.say("849581058120017")
    assert number in reply and "无需重复" in reply
    assert len(service(running_bot).tickets_for_merchant("849581058120017")) == 1


def test_status_without_tickets(running_bot):
    reply = Chat(running_bot).say("我的解绑进度怎么样")
    assert "还没有登记过" in reply


def test_a_strangers_lookup_is_denied_without_revealing_anything(running_bot):
    owner = Chat(running_bot)
    fill_form(owner, "849581058120018")
    number = TICKET_RE.search(owner.say("确认")).group()
    stranger = Chat(running_bot)
    assert "核实身份" in stranger.say(f"查工单 {number} 的进度")
    stranger.say("849581058120099")
    denied = stranger.say("5678")
    assert number not in denied and "资料审核" not in denied
    unknown = Chat(running_bot)
    unknown.say("查工单 UB-20200101-0001 的进度")
    unknown.say("849581058120099")
    assert unknown.say("5678") == denied  # a missing ticket looks the same
    rightful = Chat(running_bot)
    rightful.say(f"查工单 {number} 的进度")
    rightful.say("849581058120018")
    assert "资料审核" in rightful.say("5678")


def test_cancel_a_ticket_with_confirmation(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120019")
    number = TICKET_RE.search(chat.say("确认")).group()
    assert number in chat.say("帮我把解绑申请撤销")
    assert "已取消" in chat.say("确认")
    ticket = service(running_bot).get_ticket(number)
    assert ticket.status == "cancelled"
    assert {s.status for s in ticket.steps} == {"已取消"}


def test_a_typed_password_is_warned_about_never_echoed_never_stored(running_bot):
    chat = Chat(running_bot)
    reply = chat.say("我的密码是 Pw7731905")
    assert "不要在聊天中发送密码" in reply and "7731905" not in reply
    chat.say("我要解绑")
    reply = chat.say("验证码 845210")
    assert "845210" not in reply and "商户号" in reply
    with sqlite3.connect(running_bot.tracker_db) as db:
        mine = db.execute("select data from events where sender_id = ?", (chat.sender,))
        texts = [json.loads(row[0]).get("text") or "" for row in mine]
        everything = "".join(row[0] for row in db.execute("select data from events"))
    assert "我的密码是 [已隐藏]" in texts  # the conversation was stored, minus the secret
    assert "7731905" not in everything and "845210" not in everything


def test_no_message_inside_a_form_goes_unanswered(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    assert "正在登记" in chat.say("我要解绑")  # asked again: acknowledged, form goes on
    assert "商户号只能包含数字" in chat.say("我不知道")
    assert "正在登记" in chat.say("谢谢")
    proof = Chat(running_bot)
    proof.say("查工单 UB-20200101-0002 的进度")
    assert "不查了" in proof.say("算了")
