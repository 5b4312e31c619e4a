"""The console's 统计 page in Debian chromium, with data from real conversations through
the running bot: merchants chat (one rates an answer 👎, one asks for a person), then an
admin opens 统计; the charts are drawn, the figures match the tracker store, and each
table's CSV equals the table. Saves var/results/console-stats.png
(docs/screenshots/console-stats.png with UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from chat_page_support import BOT, open_chat, say, session_id
from playwright.sync_api import Page, expect

from bot.paths import ROOT, VAR

pytestmark = [pytest.mark.browser, pytest.mark.server]
DESKTOP = {"width": 1400, "height": 1000}
SCREENSHOT = (
    ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else VAR / "results"
) / "console-stats.png"
BEIJING = timezone(timedelta(hours=8))


def conversations_today(tracker_db) -> int:
    """Merchants who wrote today (Beijing time), counted straight from the events (not
    the greeting the page sends for itself)."""
    start = datetime.now(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    with sqlite3.connect(tracker_db) as conn:
        return conn.execute(
            "SELECT count(DISTINCT sender_id) FROM events WHERE type_name = 'user' "
            "AND timestamp >= ? AND coalesce(json_extract(data, '$.metadata.hidden'), 0) = 0",
            (start.timestamp(),)).fetchone()[0]


def painted_pixels(page: Page, key: str) -> int:
    """How many pixels of the chart's canvas are not transparent."""
    return page.evaluate(
        """(key) => {
          const c = document.querySelector(`canvas[data-chart="${key}"]`);
          const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
          return n;
        }""", key)


def table_cells(page: Page, key: str) -> list[list[str]]:
    table = page.locator(f'[data-table="{key}"] table')
    head = table.locator("thead th").all_inner_texts()
    rows = [row.locator("td").all_inner_texts() for row in table.locator("tbody tr").all()]
    return [head, *rows]


def test_admin_sees_the_conversations_with_charts_and_matching_csv(
    open_page, running_bot, tmp_path
) -> None:
    with open_page() as first, open_page() as second:
        open_chat(first, running_bot.web_url)
        assert say(first, "要带什么证件")
        answer = first.locator("#messages .row-bot:not(.typing)").last
        answer.locator(".rate-down").click()
        expect(answer.locator(".rate-down.chosen")).to_be_visible()
        open_chat(second, running_bot.web_url)
        assert "人工" in say(second, "转人工")
        assert first.locator(BOT).count() and session_id(first) != session_id(second)

    with open_page(viewport=DESKTOP, device_scale_factor=1) as page:
        page.goto(f"{running_bot.web_url}/console/login")
        page.fill("#agent", "统计管理员")
        page.fill("#token", running_bot.admin_token)
        page.press("#token", "Enter")
        expect(page.locator("#stats-link")).to_be_visible()
        page.keyboard.press("Alt+8")
        expect(page.locator('canvas[data-chart="daily"]')).to_be_visible()
        for key in ("daily", "topics", "funnel", "steps", "feedback"):
            expect(page.locator(f'[data-table="{key}"]')).to_be_visible()
        for key in ("daily", "topics", "feedback"):
            assert painted_pixels(page, key) > 500, key

        daily = table_cells(page, "daily")
        assert daily[0][:3] == ["日期", "会话数", "轮次"]
        today = daily[-1]
        assert today[0] == datetime.now(BEIJING).date().isoformat()
        assert int(today[1]) == conversations_today(running_bot.tracker_db) >= 2
        assert float(today[6]) > 0  # someone asked for a person
        feedback = table_cells(page, "feedback")
        assert any(row[1] == "faq_materials" and int(row[3]) >= 1 for row in feedback[1:])
        topics = table_cells(page, "topics")
        assert any(row[1] == "faq_materials" for row in topics[1:])

        for key in ("daily", "topics", "feedback"):
            with page.expect_download() as download:
                page.locator(f'[data-table="{key}"] h2 button').click()
            path = tmp_path / f"{key}.csv"
            download.value.save_as(path)
            text = path.read_text(encoding="utf-8-sig")
            assert list(csv.reader(io.StringIO(text))) == table_cells(page, key), key
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
