"""The console in Debian Chromium (Playwright): log in, search, open a ticket, advance a
step, read the transcript, browse the guide; saves var/results/console.png
(docs/screenshots/console.png with UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from console_support import (
    AGENT,
    MERCHANT,
    PERSONAL_AGENT,
    PERSONAL_TOKEN,
    SENDER,
    TOKEN,
    LiveServer,
)
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.paths import ROOT, VAR
from bot.tickets import TicketService

CHROMIUM = "/usr/bin/chromium"
# `make test` must not rewrite the tracked picture: UPDATE_SCREENSHOTS=1 refreshes docs/.
SCREENSHOT = (
    ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else VAR / "results"
) / "console.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="zh-CN",
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, token: str = TOKEN, agent: str = AGENT) -> None:
    page.goto("/console")
    expect(page).to_have_url("/console/login")
    page.fill("#agent", agent)
    page.fill("#token", token)
    page.press("#token", "Enter")


def test_a_personal_token_logs_in_without_typing_a_name(page: Page) -> None:
    log_in(page, PERSONAL_TOKEN, agent="")
    expect(page).to_have_url("/console#answers")
    expect(page.locator("#agent-name")).to_have_text(PERSONAL_AGENT)


def test_the_shared_token_needs_a_name(page: Page) -> None:
    log_in(page, TOKEN, agent="")
    expect(page.locator("#login-error")).to_contain_text("坐席姓名")
    expect(page).to_have_url("/console/login")


def test_wrong_token_stays_on_login(page: Page) -> None:
    log_in(page, "wrong")
    expect(page.locator("#login-error")).to_have_text("令牌不正确")
    expect(page).to_have_url("/console/login")


def test_agent_workflow(page: Page, live_server: LiveServer) -> None:
    log_in(page)
    expect(page).to_have_url("/console#answers")
    expect(page.locator("#agent-name")).to_have_text(AGENT)

    # Answer search: the box is focused, arrows move, Enter copies.
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("要带什么证件")
    page.keyboard.press("Enter")
    hits = page.locator("#hits > li")
    expect(hits.first).to_have_attribute("data-topic", "materials")
    expect(hits.first).to_have_class("hit selected")
    expect(hits.first.locator(".passages mark").first).to_be_visible()
    expect(page.locator("#answer-meta")).to_contain_text("BM25")
    page.keyboard.press("ArrowDown")
    expect(hits.nth(1)).to_have_class("hit selected")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(hits.first.locator(".copied")).to_have_text("已复制")
    assert "营业执照副本" in page.evaluate("navigator.clipboard.readText()")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    page.locator("#q").fill("F1 F4")
    page.keyboard.press("Enter")
    expect(hits.first).to_have_attribute("data-topic", "terminal_steps")

    # Tickets: look up by merchant number, advance a step with a note.
    page.keyboard.press("Alt+2")
    expect(page.locator("#ticket-value")).to_be_focused()
    page.keyboard.type(MERCHANT)
    page.keyboard.press("Enter")
    no = live_server.dbs.ticket.ticket_no
    card = page.locator(f'[data-ticket="{no}"]')
    expect(card).to_contain_text("当前步骤：资料审核")
    form = card.locator('form[data-step="资料审核"]')
    form.locator("select").select_option("需补充材料")
    form.locator("input").fill("缺营业执照副本")
    form.locator("button").click()
    expect(page.locator("#status")).to_contain_text("已更新")
    expect(card.locator("tbody tr").first).to_contain_text("需补充材料")
    expect(card.locator("tbody tr").first).to_contain_text("缺营业执照副本")
    service = TicketService.from_url(live_server.dbs.tickets_url)
    try:
        ticket = service.get_ticket(no)
    finally:
        service.dispose()
    assert ticket is not None and ticket.steps[0].status == "需补充材料"

    # The ticket links to its conversation.
    card.locator(".transcript-link").click()
    expect(page.locator("#conversation-meta")).to_contain_text(f"会话ID：{SENDER}")
    expect(page.locator("#conversation-meta")).to_contain_text("渠道：网页")
    expect(page.locator("#conversation-meta")).to_contain_text(no)
    turns = page.locator("#turns > li")
    expect(turns).to_have_count(4)
    expect(turns.nth(0)).to_contain_text("faq_materials")
    expect(turns.nth(1).locator(".btns span")).to_have_text("解绑的八个步骤")
    expect(turns.nth(2)).to_contain_text("[已隐藏]")
    assert "123456" not in page.locator("#turns").inner_text()

    # The 会话 tab takes a ticket number as well as a sender id.
    page.locator("#sender").fill("")
    page.locator("#sender").fill(SENDER)
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-meta")).to_contain_text(f"工单：{no}")
    page.goto("/console#answers")
    page.keyboard.press("Alt+3")
    expect(page.locator("#sender")).to_be_focused()
    page.locator("#sender").fill(no.lower())
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-meta")).to_contain_text(f"会话ID：{SENDER}")
    expect(turns).to_have_count(4)

    # Guide browser: headings and in-page search.
    page.keyboard.press("Alt+4")
    expect(page.locator("#guide-toc a", has_text="五、完成解绑流程")).to_be_visible()
    page.locator("#guide-q").fill("营业执照")
    expect(page.locator("#guide-count")).to_contain_text("处")
    page.keyboard.press("Enter")
    expect(page.locator("#guide-text mark.current")).to_have_count(1)
