"""Issue 20 through the running bot: every path that could reveal a ticket, walked as a
stranger (another REST session, another WeChat openid) and as the owner.

A reply to a stranger never names the ticket number, a step with its status, a note,
a digit of the contact phone, or says that a request already exists for the merchant
number. The list of paths and the proof each needs is in docs/security.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import quote

import pytest
import requests
from test_rest_conversations import TICKET_RE, Chat, fill_form, service

from bot.tickets import STEPS
from tests.channels.wechat_support import OfficialAccount, text_xml

pytestmark = pytest.mark.server
PHONE = "13812345678"  # the owner's contact phone (fill_form)
NOTE = "请补营业执照副本"
EXISTS = ("已经有", "已有", "已经登记过", "无需重复")  # how the owner is told


def leaks(reply: str, number: str) -> list[str]:
    """Everything in ``reply`` that gives the ticket away."""
    found = [w for w in (number, number.replace("-", ""), PHONE, PHONE[-4:], NOTE, *EXISTS)
             if w in reply]
    return found + [f"{step}：" for step in STEPS if f"{step}：" in reply]


def owners_ticket(bot, merchant: str) -> tuple[Chat, str]:
    """The owner's conversation and its ticket, with a step changed by an agent."""
    owner = Chat(bot)
    fill_form(owner, merchant)
    number = TICKET_RE.search(owner.say("确认")).group()
    if bot.web_url:
        response = requests.post(
            f"{bot.web_url}/api/tickets/{number}/steps/{quote('资料审核')}",
            headers={"Authorization": f"Bearer {bot.console_token}",
                     "X-Agent": quote("王坐席")},
            json={"status": "需补充材料", "note": NOTE}, timeout=30,
        )
        assert response.status_code == 200, response.text
    return owner, number


def duplicate_request_with_another_phone(chat: Chat, merchant: str, number: str) -> list[str]:
    chat.say("我要解绑")
    replies = [chat.say(merchant), chat.say("业务调整"), chat.say("SN77665544")]
    replies.append(chat.say("13900001111"))
    replies += [chat.say("确认"), chat.say("好的"), chat.say("我的解绑进度")]
    return replies


def duplicate_by_correcting_the_merchant_number(chat: Chat, merchant: str,
                                                number: str) -> list[str]:
    for text in ("我要解绑", "849581058120399", "业务调整", "SN77665544"):
        chat.say(text)  # the stranger's own merchant number first …
    assert "请核对" in chat.say("13900001111")
    chat.say("不对")
    replies = [chat.say('/inform{"correction":"merchant_id"}')]
    replies.append(chat.say(merchant))  # … then the owner's, at the summary
    return [*replies, chat.say("确认"), chat.say("确认")]


def status_by_merchant_number(chat: Chat, merchant: str, number: str) -> list[str]:
    return [chat.say(f"查一下商户号{merchant}的解绑进度"), chat.say("0000")]


def status_by_ticket_number(chat: Chat, merchant: str, number: str) -> list[str]:
    return [chat.say(f"查工单 {number} 的进度"), chat.say(merchant), chat.say("0000")]


def status_of_this_conversation(chat: Chat, merchant: str, number: str) -> list[str]:
    return [chat.say("我的解绑进度怎么样"), chat.say(f"{merchant}的进度呢")]


def cancel_by_ticket_number(chat: Chat, merchant: str, number: str) -> list[str]:
    return [chat.say(f"帮我取消工单 {number}"), chat.say("确认")]


def cancel_without_a_number(chat: Chat, merchant: str, number: str) -> list[str]:
    return [chat.say(f"商户号{merchant}的解绑申请不要了，取消掉"), chat.say("确认")]


STRANGER_PATHS: list[Callable[[Chat, str, str], list[str]]] = [
    duplicate_request_with_another_phone,
    duplicate_by_correcting_the_merchant_number,
    status_by_merchant_number,
    status_by_ticket_number,
    status_of_this_conversation,
    cancel_by_ticket_number,
    cancel_without_a_number,
]


@pytest.mark.parametrize("path", STRANGER_PATHS, ids=lambda p: p.__name__)
def test_a_stranger_learns_nothing_on_any_path(running_bot, path):
    merchant = f"8495810581203{STRANGER_PATHS.index(path):02d}"
    owner, number = owners_ticket(running_bot, merchant)
    stranger = Chat(running_bot)
    replies = path(stranger, merchant, number)
    for reply in replies:
        assert leaks(reply, number) == [], reply
    tickets = service(running_bot).tickets_for_merchant(merchant)
    assert [(t.ticket_no, t.status) for t in tickets] == [(number, "open")]  # unchanged
    # The owner's own view is unchanged, note included.
    status = owner.say("我的解绑进度")
    assert number in status and NOTE in status and "资料审核：需补充材料" in status


def test_a_refused_duplicate_offers_a_person_and_confirms_nothing(running_bot):
    merchant = "849581058120380"
    owners_ticket(running_bot, merchant)
    stranger = Chat(running_bot)
    for text in ("我要解绑", merchant, "业务调整", "SN77665544", "13900001111"):
        stranger.say(text)
    assert stranger.buttons("确认") == ["转人工", "联系客服"]
    assert "现在没有等待提交的解绑申请" in stranger.say("好的")


def test_the_owner_in_a_new_session_proves_it_and_sees_the_ticket(running_bot):
    merchant = "849581058120381"
    _, number = owners_ticket(running_bot, merchant)
    again = Chat(running_bot)  # e.g. a new browser: same merchant, phone, not session
    fill_form(again, merchant)
    shown = again.say("确认")
    assert number in shown and "无需重复" in shown and NOTE in shown
    assert f"工单号：{number}" in again.say("好的")  # remembered for this conversation
    by_merchant = Chat(running_bot)
    assert "核实身份" in by_merchant.say(f"查一下商户号{merchant}的解绑进度")
    assert number in by_merchant.say("5678")
    by_number = Chat(running_bot)
    by_number.say(f"查工单 {number} 的进度")
    by_number.say(merchant)
    assert NOTE in by_number.say("5678")


def test_a_strangers_proof_by_merchant_number_reads_the_same_with_or_without_a_ticket(
    running_bot,
):
    merchant = "849581058120382"
    owners_ticket(running_bot, merchant)
    replies = []
    for asked in (merchant, "849581058120383"):  # the second has no ticket at all
        chat = Chat(running_bot)
        replies.append([chat.say(f"查一下商户号{asked}的解绑进度"), chat.say("4321")])
    assert replies[0] == replies[1]


def test_another_wechat_user_learns_nothing_and_the_owner_sees_it(running_bot):
    account = OfficialAccount()
    url = f"{running_bot.rasa_url}/webhooks/wechat/webhook"
    merchant = "849581058120384"
    owner_id, stranger_id = (f"oUNBIND_{uuid.uuid4().hex[:12]}" for _ in range(2))
    msg_id = 10**18 + uuid.uuid4().int % 10**17  # 19 digits, like WeChat's 64-bit MsgId

    def say(openid: str, text: str) -> str:
        nonlocal msg_id
        msg_id += 1
        callback = account.encrypted(text_xml(text, msg_id, sender=openid))
        response = requests.post(url, params=callback.params, data=callback.body, timeout=30)
        assert response.status_code == 200, response.text
        return account.open_reply(response.content)["Content"]

    for text in ("我要解绑", merchant, "1", "SN8A2B3C4D5", PHONE):
        say(owner_id, text)
    number = TICKET_RE.search(say(owner_id, "1")).group()

    replies = [say(stranger_id, t) for t in ("我要解绑", merchant, "2", "SN11223344",
                                             "13900001111", "1", "我的解绑进度")]
    replies += [say(stranger_id, f"查工单 {number} 的进度"), say(stranger_id, merchant),
                say(stranger_id, "0000")]
    for reply in replies:
        assert leaks(reply, number) == [], reply
    assert "无法在线登记" in replies[5]
    assert number in say(owner_id, "我的解绑进度")


