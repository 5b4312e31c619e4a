"""The merchants' chat page in a real browser (Debian chromium, headless) against the
real action server, Rasa and web app started by ``running_bot``."""

from __future__ import annotations

import os
import re
import time

import pytest
import requests
from chat_page_support import (
    BOT,
    PENDING,
    TICKET_RE,
    USER,
    answered_in_rasa,
    at_bottom,
    bot_count,
    chips,
    events_in_rasa,
    fill_form,
    open_chat,
    say,
    send_text,
    session_id,
    settled,
    tap,
    user_texts_in_rasa,
    wait_until,
)
from playwright.sync_api import Page, expect

from bot.paths import ROOT, VAR
from bot.tickets import TicketService

pytestmark = [pytest.mark.browser, pytest.mark.server]

# `make test` must not rewrite the tracked picture: UPDATE_SCREENSHOTS=1 refreshes docs/.
SCREENSHOT = (
    ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else VAR / "results"
) / "chat.png"
DESKTOP = {"width": 1280, "height": 800}
PHONE_WIDTH = 390  # the page fixture's viewport (conftest.PHONE)


# --- tests -------------------------------------------------------------------------------

def test_greeting_with_topic_chips_and_no_errors(page: Page, running_bot) -> None:
    open_chat(page, running_bot.web_url)
    assert chips(page) == ["在POS机上怎么解绑", "需要哪些资料", "我要申请解绑", "查询解绑进度"]
    assert page.locator(USER).count() == 0  # the page's hidden /greet is not shown
    expect(page.locator("#messages .row-bot .avatar").first).to_have_text("解")
    expect(page.locator("#messages .row-bot .meta").first).to_contain_text(
        re.compile(r"\d\d:\d\d")
    )
    csp = requests.get(running_bot.web_url, timeout=10).headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert page.problems == []  # no CSP violation, script error or failed request


def test_faq_answer_lists_the_eight_materials(page: Page, running_bot) -> None:
    open_chat(page, running_bot.web_url)
    answer = say(page, "解绑需要哪些资料")
    for item in ("营业执照副本", "税务登记证", "法人身份证明", "银行账户信息", "原POS机序列号",
                 "新POS机型号和序列号", "业务连续性计划", "其他相关文件"):
        assert item in answer
    # The greeting's chips are spent; the answer's follow-up chips work like typing.
    assert "需要哪些资料" not in chips(page)
    follow_ups = chips(page)
    assert follow_ups, "the answer offers follow-up topics"
    assert tap(page, follow_ups[0])


def test_whole_unbind_form_by_tapping_and_typing_ends_in_a_ticket(
    page: Page, running_bot
) -> None:
    open_chat(page, running_bot.web_url)
    fill_form(page, "849581058120101")
    reply = tap(page, "确认提交")
    number = TICKET_RE.search(reply).group()
    expect(page.locator(BOT).last).to_contain_text(number)
    ticket = TicketService.from_url(running_bot.tickets_url).get_ticket(number)
    assert ticket.merchant_id == "849581058120101" and ticket.reason_category == "更换设备"
    assert ticket.channel == "socketio" and ticket.sender_id == session_id(page)
    assert [c for c in chips(page) if c in ("确认提交", "取消")] == []  # old chips are spent
    # A chip sends its payload to Rasa; its title is kept only for display.
    sent = [(e["text"], (e.get("metadata") or {}).get("display"))
            for e in events_in_rasa(running_bot, session_id(page)) if e["event"] == "user"]
    for chip in [("/request_unbind", "我要申请解绑"),
                 ('/inform{"unbind_reason":"更换设备"}', "更换设备"), ("/affirm", "确认提交")]:
        assert chip in sent

    status = say(page, "我的解绑进度")
    assert number in status
    for step in ("资料审核", "账户冻结", "数据迁移", "设备注销", "正式解绑"):
        assert step in status
    assert at_bottom(page)  # the page followed the conversation by itself
    expect(page.locator(BOT).last).to_be_in_viewport()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    assert page.problems == []


def test_status_check_lists_the_ticket_with_its_steps(page: Page, running_bot) -> None:
    open_chat(page, running_bot.web_url)
    fill_form(page, "849581058120102")
    number = TICKET_RE.search(tap(page, "确认提交")).group()
    page.reload()
    expect(page.locator(BOT).last).to_contain_text(number)
    settled(page)
    # The history shows what the merchant tapped, never the payloads Rasa received.
    users = page.locator(USER).all_inner_texts()
    assert {"我要申请解绑", "更换设备", "确认提交"} <= set(users)
    assert not [text for text in users if text.startswith("/")]
    if "查询解绑进度" in chips(page):
        status = tap(page, "查询解绑进度")
    else:
        status = say(page, "我的解绑进度")
    assert number in status and "资料审核" in status


def test_reload_keeps_the_history_and_new_chat_starts_fresh(page: Page, running_bot) -> None:
    open_chat(page, running_bot.web_url)
    say(page, "解绑需要哪些资料")
    before = page.locator("#messages .row:not(.typing) .bubble").all_inner_texts()
    session = session_id(page)

    page.reload()
    expect(page.locator(USER).first).to_have_text("解绑需要哪些资料")
    settled(page)
    assert page.locator("#messages .row:not(.typing) .bubble").all_inner_texts() == before
    assert session_id(page) == session
    assert page.get_by_text("我是海科融通POS机解绑助手").count() == 1  # no second greeting
    assert "不客气" in say(page, "谢谢")  # the same conversation goes on
    assert user_texts_in_rasa(running_bot, session).count("解绑需要哪些资料") == 1

    page.get_by_role("button", name="新对话").click()
    expect(page.locator(USER)).to_have_count(0)
    expect(page.locator(BOT).first).to_contain_text("我是海科融通POS机解绑助手")
    settled(page)
    assert session_id(page) not in (None, session)
    assert page.locator(BOT).count() == 1


def test_history_route_refuses_bad_ids_and_other_channels(running_bot) -> None:
    history = f"{running_bot.web_url}/chat/history"
    assert requests.get(f"{history}/..%2Fstatus", timeout=10).status_code in (400, 404)
    assert requests.get(f"{history}/someone", timeout=10).status_code == 400
    rest_sender = "0123456789abcdef0123456789abcdef"
    requests.post(f"{running_bot.rasa_url}/webhooks/rest/webhook",
                  json={"sender": rest_sender, "message": "你好"}, timeout=30)
    answer = requests.get(f"{running_bot.web_url}/chat/history/{rest_sender}", timeout=10)
    assert answer.status_code == 404  # a REST (or WeChat) conversation is not the page's


def test_enter_while_composing_chinese_does_not_send(page: Page, running_bot) -> None:
    open_chat(page, running_bot.web_url)
    box = page.locator("#input")
    box.click()
    cdp = page.context.new_cdp_session(page)
    # A real IME composition in Chromium: typing pinyin, the candidate window is open.
    cdp.send("Input.imeSetComposition", {"text": "jiebang", "selectionStart": 7,
                                          "selectionEnd": 7})
    page.keyboard.press("Enter")  # confirms the candidate: must not send
    cdp.send("Input.insertText", {"text": "解绑"})  # the merchant picks 解绑: composition ends
    # Synthetic events: a keydown flagged isComposing, and one inside a composition
    # whose keydown lacks the flag (some mobile keyboards).
    box.evaluate("""el => {
        const enter = (init) => el.dispatchEvent(new KeyboardEvent('keydown',
            {key: 'Enter', bubbles: true, cancelable: true, ...init}));
        enter({isComposing: true});
        el.dispatchEvent(new CompositionEvent('compositionstart', {bubbles: true}));
        enter({});
        el.dispatchEvent(new CompositionEvent('compositionend', {bubbles: true, data: ''}));
    }""")
    time.sleep(0.5)
    assert page.locator(USER).count() == 0
    assert "解绑" in box.input_value()

    box.fill("解绑需要哪些资料")
    box.press("Enter")  # not composing: sends
    expect(page.locator(USER)).to_have_count(1)
    settled(page)
    assert box.input_value() == ""


def test_html_and_script_are_shown_as_text(page: Page, running_bot) -> None:
    open_chat(page, running_bot.web_url)
    # The bot echoes a reason typed with markup in its summary: text there too.
    reason = '<b>要换新机</b><script>alert("x")</script>'
    summary = fill_form(page, "849581058120104", reason=reason)
    assert f"（{reason}）" in summary
    tap(page, "取消")
    attacks = ['<img src=x onerror=alert(1)>', '<script>alert("x")</script><b>粗体</b>']
    for attack in attacks:
        say(page, attack)
    for _ in range(2):  # live, then as history after a reload
        users = page.locator(USER).all_inner_texts()
        assert users[-2:] == attacks and reason in users
        assert f"（{reason}）" in "".join(page.locator(BOT).all_inner_texts())
        assert page.locator("#messages img, #messages script, #messages b").count() == 0
        page.reload()
        expect(page.locator(USER).last).to_have_text(attacks[-1])
        settled(page)
    assert page.problems == []  # no alert() dialog ran


def test_offline_messages_are_queued_and_sent_once(page: Page, running_bot, link) -> None:
    open_chat(page, link.url)
    session = session_id(page)
    link.cut()
    expect(page.locator("#status")).to_contain_text("正在重新连接")
    for text in ("解绑需要哪些资料", "谢谢"):
        page.locator("#input").fill(text)
        page.locator("#input").press("Enter")
    expect(page.locator("#messages .row-user.pending")).to_have_count(2)
    expect(page.locator(".row-user.pending .meta").first).to_contain_text("等待发送")
    time.sleep(2)  # a few failed reconnects
    link.restore()
    settled(page)
    expect(page.locator(BOT).last).to_contain_text("不客气")
    assert "营业执照副本" in "".join(page.locator(BOT).all_inner_texts())
    users = user_texts_in_rasa(running_bot, session)
    assert users.count("解绑需要哪些资料") == 1 and users.count("谢谢") == 1


def test_a_message_whose_ack_is_lost_is_handled_once(page: Page, running_bot, link) -> None:
    open_chat(page, link.url)
    session = session_id(page)
    bots = bot_count(page)
    link.hold()  # the message reaches Rasa; Rasa's replies and ack wait in the link
    send_text(page, "解绑需要哪些资料")
    wait_until(lambda: answered_in_rasa(running_bot, session, "解绑需要哪些资料"),
               "Rasa to answer")
    link.cut()  # the replies and the ack are lost with the connection
    expect(page.locator("#status")).to_contain_text("正在重新连接")
    expect(page.locator(PENDING)).to_have_count(1)
    assert bot_count(page) == bots
    link.restore()
    settled(page)  # after the reconnect the page learns that Rasa has the message
    expect(page.locator(USER)).to_have_count(1)
    assert "营业执照副本" in "".join(page.locator(BOT).all_inner_texts())
    assert user_texts_in_rasa(running_bot, session).count("解绑需要哪些资料") == 1
    page.reload()
    expect(page.locator(USER)).to_have_count(1)
    settled(page)


def test_typing_dots_show_while_a_reply_is_due_and_the_view_follows_replies(
    page: Page, running_bot, link
) -> None:
    open_chat(page, link.url)
    typing = page.locator("#typing")
    for question in ("解绑需要哪些资料", "解绑流程是什么", "在POS机上怎么解绑"):
        link.hold()  # the reply cannot arrive until the link is released
        send_text(page, question)
        expect(typing).to_be_visible()
        expect(typing).to_be_in_viewport()
        expect(page.locator(PENDING)).to_have_count(1)
        link.release()
        settled(page)
        assert at_bottom(page)
        expect(page.locator(BOT).last).to_be_in_viewport()
    assert page.locator("#messages").evaluate("el => el.scrollHeight > 2 * el.clientHeight")

    # A merchant who scrolled back to read is not pulled down by the next reply.
    link.hold()
    send_text(page, "谢谢")
    expect(typing).to_be_visible()
    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    link.release()
    settled(page)
    expect(page.locator(BOT).last).to_contain_text("不客气")
    assert page.locator("#messages").evaluate("el => el.scrollTop") == 0


def test_rasa_lost_mid_conversation_is_said_plainly_and_the_queue_goes_once_it_is_back(
    page: Page, running_bot, rasa_trouble, web_via_rasa_link
) -> None:
    open_chat(page, web_via_rasa_link)
    session = session_id(page)
    rasa_trouble.cut()
    expect(page.locator("#status")).to_contain_text("暂时无法服务")
    expect(page.locator("#status")).to_have_class(re.compile("down"))
    send_text(page, "解绑需要哪些资料")
    expect(page.locator(PENDING)).to_have_count(1)
    rasa_trouble.restore()
    settled(page)
    assert "营业执照副本" in page.locator(BOT).last.inner_text()
    assert user_texts_in_rasa(running_bot, session).count("解绑需要哪些资料") == 1


def test_a_hung_rasa_is_said_plainly_and_its_late_reply_still_arrives(
    page: Page, running_bot, rasa_trouble, web_via_rasa_link
) -> None:
    open_chat(page, web_via_rasa_link)
    session = session_id(page)
    rasa_trouble.hold()  # Rasa gets the message but nothing it says comes back
    send_text(page, "解绑需要哪些资料")
    # The page asks /chat/health once the reply is overdue; Rasa does not answer that either.
    expect(page.locator("#status")).to_contain_text("暂时无法服务", timeout=30_000)
    expect(page.locator(PENDING)).to_have_count(1)
    rasa_trouble.release()
    settled(page)
    assert "营业执照副本" in page.locator(BOT).last.inner_text()
    assert user_texts_in_rasa(running_bot, session).count("解绑需要哪些资料") == 1


def test_going_offline_is_shown_at_once_and_the_queue_goes_when_back_online(
    page: Page, running_bot
) -> None:
    open_chat(page, running_bot.web_url)
    session = session_id(page)
    page.context.set_offline(True)
    expect(page.locator("#status")).to_contain_text("网络已断开")
    send_text(page, "解绑需要哪些资料")
    expect(page.locator(PENDING)).to_have_count(1)
    expect(page.locator("#status")).to_contain_text("网络已断开")
    page.context.set_offline(False)
    settled(page)
    assert "营业执照副本" in page.locator(BOT).last.inner_text()
    assert user_texts_in_rasa(running_bot, session).count("解绑需要哪些资料") == 1


def test_messages_queued_in_two_tabs_are_each_sent_once(open_page, running_bot, link) -> None:
    with open_page() as first:
        open_chat(first, link.url)
        session = session_id(first)
        second = first.context.new_page()  # the same chat in another tab
        open_chat(second, link.url)
        assert session_id(second) == session
        link.cut()
        send_text(first, "解绑需要哪些资料")
        send_text(second, "谢谢")
        for tab in (first, second):
            expect(tab.locator(PENDING)).to_have_count(1)
        first.close()  # its message now waits only in the outbox the tabs share
        link.restore()
        settled(second)
        second.reload()
        expect(second.locator(USER)).to_have_count(2)
        settled(second)
        users = user_texts_in_rasa(running_bot, session)
        assert users.count("解绑需要哪些资料") == 1 and users.count("谢谢") == 1


def test_layout_fits_a_phone_and_is_a_centred_card_on_a_desktop(open_page, running_bot) -> None:
    with open_page(is_mobile=True, has_touch=True) as phone:
        open_chat(phone, running_bot.web_url)
        expect(phone.locator("#composer")).to_be_in_viewport(ratio=1)
        expect(phone.locator("#messages .chip:enabled").last).to_be_in_viewport(ratio=1)
        phone.locator("#messages .chip:enabled").filter(has_text="需要哪些资料").tap()
        expect(phone.locator(USER).last).to_have_text("需要哪些资料")
        settled(phone)
        assert "营业执照副本" in phone.locator(BOT).last.inner_text()
        # Nothing wider than the phone, the composer still on screen after a long answer.
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
        expect(phone.locator("#composer")).to_be_in_viewport(ratio=1)
        assert phone.problems == []

    with open_page(viewport=DESKTOP, device_scale_factor=1) as desktop:
        open_chat(desktop, running_bot.web_url)
        card = desktop.locator(".app").bounding_box()
        assert card["width"] <= 760
        assert abs(card["x"] - (DESKTOP["width"] - card["x"] - card["width"])) <= 1
        expect(desktop.locator("#composer")).to_be_in_viewport(ratio=1)
        assert desktop.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]


def test_rasa_down_is_said_plainly(page: Page, web_without_rasa) -> None:
    page.goto(web_without_rasa)
    expect(page.locator("#status")).to_contain_text("暂时无法服务", timeout=10_000)
    expect(page.locator("#status")).to_have_class(re.compile("down"))
    page.locator("#input").fill("你好")
    page.locator("#input").press("Enter")
    expect(page.locator(".row-user.pending")).to_have_count(1)  # kept for later, not lost


def test_links_from_the_bot_are_links(page: Page, running_bot) -> None:
    open_chat(page, running_bot.web_url)
    url = running_bot.help_centre_url  # SUPPORT_HELP_CENTRE_URL of the running bot
    answer = say(page, "怎么联系你们公司")
    assert f"（{url}）" in answer
    link = page.locator(f'#messages .row-bot a[href="{url}"]')
    expect(link).to_have_text(url)  # the full-width bracket stays outside the link
    assert link.get_attribute("rel") == "noopener noreferrer"


def test_links_are_links(page: Page, running_bot) -> None:
    open_chat(page, running_bot.web_url)
    say(page, "帮助页面 https://www.example.com/help?a=1 打不开")
    link = page.locator('#messages a[href="https://www.example.com/help?a=1"]')
    expect(link).to_have_text("https://www.example.com/help?a=1")
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert link.get_attribute("target") == "_blank"
