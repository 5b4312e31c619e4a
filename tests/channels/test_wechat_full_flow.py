"""The whole unbind form over the Official Account channel of the running bot."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from wechat_support import OPENID, OfficialAccount, text_xml

from bot.tickets import TicketService
from tests.conftest import WECHAT_TEST_ENV

pytestmark = pytest.mark.server


def test_wechat_settings_match_the_test_platform():
    account = OfficialAccount()
    assert account.token == WECHAT_TEST_ENV["WECHAT_TOKEN"]


def test_unbind_form_over_safe_mode_callbacks_ends_in_a_ticket(running_bot):
    account = OfficialAccount()
    url = f"{running_bot.rasa_url}/webhooks/wechat/webhook"
    msg_id = int(uuid.uuid4().int % 10**15)

    def say(text: str) -> str:
        nonlocal msg_id
        msg_id += 1
        callback = account.encrypted(text_xml(text, msg_id))
        response = requests.post(url, params=callback.params, data=callback.body, timeout=30)
        assert response.status_code == 200, response.text
        return account.open_reply(response.content)["Content"]

    assert "商户号" in say("我要解绑")
    reasons = say("849581058120031")
    assert "1." in reasons and "更换设备" in reasons  # buttons become numbered options
    assert "序列号" in say("1")
    assert "手机" in say("SN8A2B3C4D5")
    summary = say("13812345678")
    assert "请核对" in summary and "确认提交" in summary
    confirmed = say("1")
    number = re.search(r"UB-\d{8}-\d{4}", confirmed).group()
    ticket = TicketService.from_url(running_bot.tickets_url).get_ticket(number)
    assert ticket.channel == "wechat" and ticket.sender_id == OPENID
    assert ticket.reason_category == "更换设备"
