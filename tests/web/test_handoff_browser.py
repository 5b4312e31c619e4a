"""Live handoff and step-change notices in two browsers (Debian chromium): a merchant on
the chat page and an agent in the console, against the running bot and outbox worker."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from chat_page_support import BOT, USER, open_chat, say, session_id, settled
from playwright.sync_api import Page, expect

from bot.tickets import OpenRequest, TicketService
from tests.handoff.handoff_support import Console, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.server]
DESKTOP = {"width": 1280, "height": 900}


def agent_console(page: Page, bot, agent: str = "张三") -> None:
    page.goto(f"{bot.web_url}/console")
    page.fill("#agent", agent)
    page.fill("#token", bot.console_token)
    page.press("#token", "Enter")
    expect(page.locator("#agent-name")).to_have_text(agent)


def open_handoff_of(page: Page, bot, session: str) -> int:
    handoff = Console(bot.web_url, bot.console_token).handoff_of(session)
    page.goto(f"{bot.web_url}/console#handoff/{handoff['id']}")
    expect(page.locator("#handoff-view")).to_be_visible()
    return handoff["id"]


def test_merchant_and_agent_talk_and_the_bot_answers_again_after_hand_back(
    open_page, running_bot
) -> None:
    with open_page() as chat, open_page(viewport=DESKTOP) as agent:
        open_chat(chat, running_bot.web_url)
        assert "正在为您转接人工客服" in say(chat, "转人工")
        agent_console(agent, running_bot)
        expect(agent.locator("#queue-count")).to_be_visible()
        open_handoff_of(agent, running_bot, session_id(chat))
        expect(agent.locator("#handoff-info")).to_contain_text("商户要求转人工")
        agent.click("#handoff-claim")
        expect(agent.locator("#handoff-info")).to_contain_text("接待中（张三）")

        joined = chat.locator("#messages .row-handoff .bubble").last
        expect(joined).to_have_text("您好，我是人工客服张三，接下来由我为您服务。")
        say(chat, "我的旧机器开不了机，还能解绑吗")
        expect(agent.locator("#handoff-turns .turn.user").last).to_contain_text(
            "我的旧机器开不了机")
        expect(agent.locator("#handoff-turns .turn.user .info").last).to_contain_text(
            "发给客服")

        agent.fill("#handoff-reply", "可以的，开不了机也能办，请准备好营业执照。")
        agent.press("#handoff-reply", "Enter")
        reply = chat.locator("#messages .row-agent").last
        expect(reply.locator(".bubble")).to_have_text("可以的，开不了机也能办，请准备好营业执照。")
        expect(reply.locator(".meta")).to_contain_text("人工客服 张三")
        expect(agent.locator("#handoff-turns .turn.agent .delivery").last).to_have_text("已送达")
        # Nothing from the bot between the merchant's message and the agent's reply.
        names = chat.locator("#messages .row:not(.typing)").evaluate_all(
            "rows => rows.map(r => r.className)")
        last_user = max(i for i, name in enumerate(names) if "row-user" in name)
        assert names[last_user + 1:] == ["row row-bot row-agent"], names

        agent.click("#handoff-handback")
        expect(chat.locator("#messages .row-handoff .bubble").last).to_contain_text(
            "接下来由解绑助手继续为您解答")
        answer = say(chat, "解绑需要哪些资料")
        assert "营业执照" in answer  # the bot again
        expect(chat.locator("#messages .row-bot .meta").last).to_contain_text("解绑助手")
        assert chat.problems == [] and agent.problems == []


def test_an_agent_reply_sent_while_the_tab_was_offline_shows_after_reconnecting(
    open_page, running_bot, link
) -> None:
    console = Console(running_bot.web_url, running_bot.console_token)
    with open_page() as chat:
        open_chat(chat, link.url)
        say(chat, "转人工")
        handoff = console.handoff_of(session_id(chat))
        console.post(f"/api/handoffs/{handoff['id']}/claim")
        expect(chat.locator("#messages .row-handoff")).to_have_count(1)
        link.cut()
        expect(chat.locator("#status")).to_contain_text("重新连接")
        sent = console.post(f"/api/handoffs/{handoff['id']}/messages",
                            {"text": "您刚才断线了，我把要点发在这里。"}).json()["message"]
        wait_for(lambda: console.delivered(handoff["id"], sent["id"]), "the reply stored")
        link.restore()
        expect(chat.locator("#messages .row-agent .bubble")).to_have_text(
            ["您刚才断线了，我把要点发在这里。"])
        settled(chat)
        console.post(f"/api/handoffs/{handoff['id']}/release", {"action": "close"})


def test_a_step_change_in_the_console_shows_on_the_open_chat_page_without_reload(
    open_page, running_bot
) -> None:
    with open_page() as chat, open_page(viewport=DESKTOP) as agent:
        open_chat(chat, running_bot.web_url)
        merchant = "8495810" + f"{uuid.uuid4().int % 10**8:08d}"
        service = TicketService.from_url(running_bot.tickets_url)
        ticket = service.open_ticket(OpenRequest(
            merchant, "更换设备", "SN8A2B3C4D5", "13812345678", "socketio", session_id(chat),
        )).ticket
        service.dispose()
        agent_console(agent, running_bot)
        agent.goto(f"{running_bot.web_url}/console#tickets")
        agent.select_option("#ticket-key", "ticket")
        agent.fill("#ticket-value", ticket.ticket_no)
        agent.press("#ticket-value", "Enter")
        row = agent.locator('form.step-form[data-step="资料审核"]')
        row.locator("select").select_option("已完成")
        row.locator("input").fill("资料齐全")
        row.locator("button").click()
        expected = f"工单 {ticket.ticket_no} 的「资料审核」已完成。"
        notice = chat.locator("#messages .row-notice").last
        expect(notice.locator(".bubble")).to_contain_text(expected)
        expect(notice.locator(".bubble")).to_contain_text("下一步：「账户冻结」")
        expect(notice.locator(".meta")).to_contain_text("工单进度通知")
        expect(agent.locator(".notices li").first).to_contain_text("已送达")
        assert re.search(r"UB-\d{8}-\d{4}", notice.inner_text())
        # The history holds it too (a tab opened later shows it).
        chat.reload()
        expect(chat.locator("#messages .row-notice .bubble")).to_contain_text([expected])
        expect(chat.locator(USER)).to_have_count(0)
        assert chat.locator(BOT).count() >= 2
        history = requests.get(f"{running_bot.web_url}/chat/history/{session_id(chat)}",
                               timeout=10).json()["messages"]
        assert [m["kind"] for m in history if m.get("kind")] == ["notice"]
