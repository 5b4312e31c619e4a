"""What the chat-page browser tests share: the page's selectors and how a merchant uses it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import requests
from playwright.sync_api import Page, expect

TICKET_RE = re.compile(r"UB-\d{8}-\d{4}")
BOT = "#messages .row-bot:not(.typing) .bubble"
USER = "#messages .row-user .bubble"
PENDING = "#messages .row-user.pending"


def open_chat(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator(BOT).first).to_contain_text("我是海科融通POS机解绑助手")
    settled(page)


def settled(page: Page) -> None:
    """Every message acknowledged by Rasa (so all its replies are shown), page online."""
    expect(page.locator(PENDING)).to_have_count(0)
    expect(page.locator("#typing")).to_be_hidden()
    expect(page.locator("#status")).to_be_hidden()


def send_text(page: Page, text: str) -> None:
    """Type ``text`` and press Enter; do not wait for anything."""
    page.locator("#input").fill(text)
    page.locator("#input").press("Enter")


def at_bottom(page: Page) -> bool:
    return page.locator("#messages").evaluate(
        "el => el.scrollHeight - el.scrollTop - el.clientHeight < 2"
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f}s for {what}"
        time.sleep(0.2)


def bot_count(page: Page) -> int:
    return page.locator(BOT).count()


def say(page: Page, text: str) -> str:
    """Type ``text``, press Enter, wait for the answer; return the new bot texts."""
    before = bot_count(page)
    send_text(page, text)
    expect(page.locator(USER).last).to_have_text(text)
    settled(page)
    return "\n".join(page.locator(BOT).all_inner_texts()[before:])


def tap(page: Page, title: str) -> str:
    """Tap the chip ``title`` of the latest bot message; return the new bot texts."""
    before = bot_count(page)
    exactly = re.compile(f"^{re.escape(title)}$")
    page.locator("#messages .chip:enabled").filter(has_text=exactly).last.click()
    expect(page.locator(USER).last).to_have_text(title)  # the title, not the payload
    settled(page)
    return "\n".join(page.locator(BOT).all_inner_texts()[before:])


def chips(page: Page) -> list[str]:
    return page.locator("#messages .chip:enabled").all_inner_texts()


def session_id(page: Page) -> str:
    return page.evaluate("localStorage.getItem('jiebang.chat.session')")


def events_in_rasa(bot, session: str) -> list[dict]:
    tracker = requests.get(f"{bot.rasa_url}/conversations/{session}/tracker", timeout=10).json()
    return [e for e in tracker["events"] if e["event"] in ("user", "bot")]


def user_texts_in_rasa(bot, session: str) -> list[str]:
    return [e.get("text") for e in events_in_rasa(bot, session) if e["event"] == "user"]


def answered_in_rasa(bot, session: str, text: str) -> bool:
    """Rasa has handled the user message ``text`` and replied to it."""
    events = events_in_rasa(bot, session)
    asked = [i for i, e in enumerate(events) if e["event"] == "user" and e.get("text") == text]
    return bool(asked) and any(e["event"] == "bot" for e in events[asked[-1]:])


def fill_form(page: Page, merchant: str, reason: str = "") -> str:
    """Fill the unbind form; the reason by tapping 更换设备, or by typing ``reason``."""
    assert "商户号" in tap(page, "我要申请解绑")
    assert "原因" in say(page, merchant)
    assert {"更换设备", "业务调整", "其他"} <= set(chips(page))
    assert "序列号" in (say(page, reason) if reason else tap(page, "更换设备"))
    assert "手机" in say(page, "SN8A2B3C4D5")
    summary = say(page, "13812345678")
    assert "请核对" in summary and merchant in summary
    assert {"确认提交", "修改信息", "取消"} <= set(chips(page))
    return summary
