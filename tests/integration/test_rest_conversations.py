"""Whole conversations through the running servers: REST webhook → Rasa → actions → DB.

The ticket database is SQLite (``running_bot``) and, for the tests taking ``bot``, also
PostgreSQL (``pg_bot``: its own action server and Rasa on a schema of DATABASE_URL_TEST).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
import requests

from bot.db import make_engine
from bot.launcher import Stack, default_env, embedded_services, free_port
from bot.paths import ROOT
from bot.tickets import STEPS, TicketService
from tests.conftest import MODEL, WECHAT_TEST_ENV, RunningBot
from tests.tickets.tickets_support import pg_schema

pytestmark = pytest.mark.server
TICKET_RE = re.compile(r"UB-\d{8}-\d{4}")
STOPPED = "好的，已停止登记，您刚才填写的信息不会提交。需要时说“我要解绑”就可以重新开始。"
ASK_MERCHANT = "请告诉我您的商户号（15位数字）。"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def pg_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """Action server and Rasa whose tickets live in a fresh PostgreSQL schema."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train`")
    with pg_schema("rest_test") as url:
        tmp = tmp_path_factory.mktemp("pg_bot")
        ports = {"rasa_port": free_port(), "actions_port": free_port(), "web_port": free_port()}
        env = default_env(ports["actions_port"])
        env.update(WECHAT_TEST_ENV)
        env["TRACKER_STORE_URL"] = f"sqlite:///{tmp / 'tracker.db'}"
        env["DATABASE_URL"] = url
        subprocess.run(
            [sys.executable, "-m", "bot.tickets", "migrate"], env=env, cwd=ROOT, check=True,
            capture_output=True,
        )
        services = [s for s in embedded_services(str(MODEL), **ports) if s.name != "web"]
        with Stack(services, env=env, log_dir=tmp / "logs"):
            yield RunningBot(
                rasa_url=f"http://127.0.0.1:{ports['rasa_port']}", web_url="",
                tracker_db=tmp / "tracker.db", tickets_url=url, log_dir=tmp / "logs",
            )


@pytest.fixture(params=BACKENDS)
def bot(request: pytest.FixtureRequest) -> RunningBot:
    """The running bot on SQLite, or the one on PostgreSQL."""
    return request.getfixturevalue("running_bot" if request.param == "sqlite" else "pg_bot")


@contextmanager
def tickets_table_gone(url: str) -> Iterator[None]:
    """The ticket table is unreachable (renamed away) until the block ends."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE tickets RENAME TO tickets_offline")
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE tickets_offline RENAME TO tickets")
        engine.dispose()


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


def test_happy_path_opens_a_ticket_then_status_lists_eight_steps(bot):
    chat = Chat(bot)
    fill_form(chat, "849581058120011")
    reply = chat.say("确认提交")
    number = TICKET_RE.search(reply).group()
    ticket = service(bot).get_ticket(number)
    assert ticket.merchant_id == "849581058120011"
    assert ticket.serial_number == "SN8A2B3C4D5" and ticket.contact_phone == "13812345678"
    assert ticket.reason_category == "更换设备" and ticket.sender_id == chat.sender
    assert ticket.channel == "rest"

    status = chat.say("我的解绑进度怎么样")
    assert number in status
    for position, step in enumerate(STEPS, start=1):
        line = rf"^{position}\. {step}：待处理（\d\d-\d\d \d\d:\d\d）$"
        assert re.search(line, status, re.M), (step, status)


def test_agent_change_is_seen_by_the_merchant(running_bot):
    """An agent marks a step in the console (its JSON API); the merchant asks the bot."""
    chat = Chat(running_bot)
    fill_form(chat, "849581058120012")
    number = TICKET_RE.search(chat.say("是的")).group()
    reply = requests.post(
        f"{running_bot.web_url}/api/tickets/{number}/steps/{quote('资料审核')}",
        headers={"Authorization": f"Bearer {running_bot.console_token}",
                 "X-Agent": quote("王坐席")},
        json={"status": "需补充材料", "note": "请补营业执照副本"}, timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["ticket"]["history"][-1]["actor"] == "console:王坐席"
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
    reply = chat.say("12345")
    assert "商户号应为15位数字，您输入的是5位" in reply and ASK_MERCHANT in reply
    assert "请问解绑的原因是什么" in chat.say("８４９５ 8105-8120 013")  # full width, gaps
    assert "请提供原POS机的序列号" in chat.say("业务调整")
    reply = chat.say("abc")
    assert "序列号应为8到20位字母或数字，您输入的是3位" in reply
    assert "请提供原POS机的序列号" in reply  # asked again
    assert "请留一个联系手机号" in chat.say("N910123456")
    reply = chat.say("1234")
    assert "手机号应为11位数字，您输入的是4位" in reply and "请核对" not in reply
    assert "请留一个联系手机号" in reply
    summary = chat.say("139 1234 5678")
    for line in ("商户号：849581058120013", "解绑原因：业务调整", "原POS机序列号：N910123456",
                 "联系手机号：13912345678"):
        assert line in summary


def test_three_failures_offer_a_person_and_keep_what_was_collected(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    chat.say("849581058120014")
    chat.say("设备故障")
    chat.say("12")
    chat.say("34")
    reply = chat.say("56")
    assert "“原POS机序列号”好像不太好填" in reply and "可以转人工处理" in reply
    # "好的" here is not a confirmation: nothing is submitted, nothing crashes.
    reply = chat.say("好的")
    assert "还缺少“原POS机序列号”、“联系手机号”，暂时不能提交" in reply
    assert service(running_bot).tickets_for_merchant("849581058120014") == ()
    resumed = chat.say("我要解绑")
    assert "请提供原POS机的序列号" in resumed  # merchant number and reason were kept


def test_a_guide_question_inside_the_form_is_answered_and_the_form_goes_on(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    reply = chat.say("在机器上要按哪个键进菜单")
    assert "F1" in reply and "商户号" in reply.splitlines()[-1]


@pytest.mark.parametrize("stop", ["算了不办了", "取消", "取消申请"])
def test_stop_inside_the_form(running_bot, stop):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    chat.say("849581058120015")
    assert chat.say(stop) == STOPPED
    assert ASK_MERCHANT in chat.say("我要解绑")  # the draft was cleared


def test_cancel_at_the_summary_submits_nothing(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120025")
    assert chat.say("取消") == STOPPED
    assert service(running_bot).tickets_for_merchant("849581058120025") == ()


def test_correcting_one_field_keeps_the_others(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120016")
    assert "哪一项" in chat.say("不对")
    assert "手机" in chat.say('/inform{"correction":"contact_phone"}')
    summary = chat.say("13900001111")
    assert "13900001111" in summary and "849581058120016" in summary


def test_correcting_by_typing_the_new_value_keeps_the_others(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120020")
    assert "请问要修改哪一项" in chat.say("不对")
    summary = chat.say("13900001111")  # the value, not the field's button
    for line in ("商户号：849581058120020", "解绑原因：更换设备", "原POS机序列号：SN8A2B3C4D5",
                 "联系手机号：13900001111"):
        assert line in summary
    assert "请核对" in summary
    number = TICKET_RE.search(chat.say("确认提交")).group()
    assert service(running_bot).get_ticket(number).contact_phone == "13900001111"


def test_naming_the_wrong_field_asks_only_for_it(running_bot):
    chat = Chat(running_bot)
    fill_form(chat, "849581058120022")
    chat.say("不对")
    assert "请提供原POS机的序列号" in chat.say("序列号错了")
    summary = chat.say("SN99887766")
    assert "原POS机序列号：SN99887766" in summary and "商户号：849581058120022" in summary
    assert "联系手机号：13812345678" in summary


def test_duplicate_request_returns_the_existing_ticket(bot):
    """The conversation that opened the ticket is told at once; another conversation
    only with the proof (tests/integration/test_ticket_privacy_channels.py)."""
    chat = Chat(bot)
    fill_form(chat, "849581058120017")
    number = TICKET_RE.search(chat.say("确认")).group()
    chat.say("我要解绑")
    reply = chat.say("849581058120017")
    assert number in reply and "无需重复" in reply
    # "好的" to that answer is not a confirmation of anything: it names the ticket.
    reply = chat.say("好的")
    assert f"您的解绑申请已经登记过了，工单号：{number}，无需重复提交" in reply
    assert len(service(bot).tickets_for_merchant("849581058120017")) == 1


def test_confirming_twice_names_the_ticket_and_opens_one(bot):
    chat = Chat(bot)
    fill_form(chat, "849581058120023")
    number = TICKET_RE.search(chat.say("确认")).group()
    for retry in ("确认", "确认"):  # a second tap, then the same message retried
        reply = chat.say(retry)
        assert f"您的解绑申请已经登记过了，工单号：{number}，无需重复提交" in reply
    tickets = service(bot).tickets_for_merchant("849581058120023")
    assert [t.ticket_no for t in tickets] == [number]


def test_database_down_at_confirmation_keeps_the_request_for_a_retry(bot):
    chat = Chat(bot)
    fill_form(chat, "849581058120024")
    with tickets_table_gone(bot.tickets_url):
        reply = chat.say("确认")
        assert "抱歉，工单系统暂时无法访问。您填写的信息我都保留着" in reply
        assert "请核对" in reply and "商户号：849581058120024" in reply  # summary again
        assert not TICKET_RE.search(reply)
    reply = chat.say("确认")
    number = TICKET_RE.search(reply).group()
    assert "已为您登记解绑申请" in reply
    [ticket] = service(bot).tickets_for_merchant("849581058120024")
    assert ticket.ticket_no == number and len(ticket.steps) == 8
    assert ticket.serial_number == "SN8A2B3C4D5" and ticket.contact_phone == "13812345678"


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
    assert denied == "抱歉，核对信息不一致，无法显示这个工单。请检查工单号、商户号和手机后四位。"
    # The merchant number typed as proof does not pre-fill a later request.
    assert ASK_MERCHANT in stranger.say("我要解绑")
    stranger.say("算了")
    unknown = Chat(running_bot)
    unknown.say("查工单 UB-20200101-0001 的进度")
    unknown.say("849581058120099")
    assert unknown.say("5678") == denied  # a missing ticket looks the same
    rightful = Chat(running_bot)
    rightful.say(f"查工单 {number} 的进度")
    rightful.say("849581058120018")
    assert "资料审核" in rightful.say("5678")


def test_guesses_from_many_senders_lock_the_ticket(running_bot):
    owner = Chat(running_bot)
    fill_form(owner, "849581058120026")
    number = TICKET_RE.search(owner.say("确认")).group()
    for _ in range(5):  # a fresh sender id for every guess
        guesser = Chat(running_bot)
        guesser.say(f"查工单 {number} 的进度")
        guesser.say("849581058120026")
        assert "核对信息不一致" in guesser.say("0000")
    late = Chat(running_bot)
    late.say(f"查工单 {number} 的进度")
    late.say("849581058120026")
    locked = late.say("5678")  # the right answer, but too late
    assert locked == "核对失败的次数太多，请稍后再试，或转人工处理。"
    assert number in owner.say("我的解绑进度")  # the owner's own view is not locked


def test_cancel_a_ticket_with_confirmation(bot):
    chat = Chat(bot)
    fill_form(chat, "849581058120019")
    number = TICKET_RE.search(chat.say("确认")).group()
    assert f"确定要取消工单 {number} 吗" in chat.say("帮我把解绑申请撤销")
    assert f"已取消工单 {number}" in chat.say("确认")
    ticket = service(bot).get_ticket(number)
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
    # As numbers of their own: the digits can occur inside a stored confidence
    # (6.518452108695373e-07 holds 845210), which is not the secret.
    leaked = [s for s in ("7731905", "845210") if re.search(rf"(?<!\d){s}(?!\d)", everything)]
    assert leaked == [], f"stored: {leaked}"


def test_no_message_inside_a_form_goes_unanswered(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    assert "正在登记" in chat.say("我要解绑")  # asked again: acknowledged, form goes on
    assert "商户号只能包含数字" in chat.say("我不知道")
    assert "正在登记" in chat.say("谢谢")
    proof = Chat(running_bot)
    proof.say("查工单 UB-20200101-0002 的进度")
    assert "不查了" in proof.say("算了")
