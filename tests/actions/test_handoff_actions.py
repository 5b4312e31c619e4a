"""action_human_handoff (queue, reasons, off duty), leaving a message, the notice
preference and the low-confidence streak, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from actions_support import buttons, texts, tracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

import actions.handoff as handoff_actions
from actions.handoff import ActionHumanHandoff, ActionLeaveMessage, ActionSetNotices
from actions.suggestions import ActionSuggestTopics, low_confidence_streak
from bot.handoff.models import Handoff
from bot.handoff.service import HandoffService
from bot.handoff.settings import DutyHours
from bot.outbox.store import OutboxStore
from bot.redaction import MASK

DOMAIN: dict = {}


def use_handoffs(monkeypatch, service, hours: str = "always") -> HandoffService:
    handoffs = HandoffService(service.engine, hours=DutyHours.parse(hours))
    monkeypatch.setattr(handoff_actions, "handoff_service", lambda: handoffs)
    return handoffs


def rows(service) -> list:
    table = Handoff.__table__
    with service.engine.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)).all())


async def run(action, latest: Tracker) -> tuple[CollectingDispatcher, list]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, latest, DOMAIN)
    return dispatcher, events


async def test_asking_for_a_person_queues_the_conversation_once(service, monkeypatch):
    use_handoffs(monkeypatch, service)
    first, _ = await run(ActionHumanHandoff(), tracker("转人工", "human_handoff", sender="m1",
                                                       active_loop=None))
    assert "正在为您转接人工客服" in texts(first) and "前面还有 0 位" in texts(first)
    again, _ = await run(ActionHumanHandoff(), tracker("人工呢", "human_handoff", sender="m1",
                                                       active_loop=None))
    assert "已经在人工客服的队列中" in texts(again)
    [row] = rows(service)
    assert (row.channel, row.sender_id, row.state, row.reason) == ("rest", "m1", "queued",
                                                                   "requested")
    other, _ = await run(ActionHumanHandoff(), tracker("转人工", "human_handoff", sender="m2",
                                                       active_loop=None))
    assert "前面还有 1 位" in texts(other)


async def test_the_word_customer_service_alone_queues_and_gives_the_contacts(service,
                                                                             monkeypatch):
    """"客服" alone may ask for a person or for how to reach one: both are given in the
    first reply; "转人工" only queues."""
    use_handoffs(monkeypatch, service)
    bare, _ = await run(ActionHumanHandoff(), tracker("客服？", "human_handoff", sender="k1",
                                                      active_loop=None))
    assert bare.messages[0]["answers"] == ["faq_contact_support", "human_handoff"]
    assert "正在为您转接人工客服" in texts(bare) and "联系海科融通有三种方式" in texts(bare)
    asked, _ = await run(ActionHumanHandoff(), tracker("转人工", "human_handoff", sender="k2",
                                                       active_loop=None))
    assert asked.messages[0]["answers"] == ["human_handoff"]
    assert "联系海科融通" not in texts(asked)
    assert [r.sender_id for r in rows(service)] == ["k1", "k2"]


async def test_the_reason_comes_from_the_button_or_the_low_confidence(service, monkeypatch):
    use_handoffs(monkeypatch, service)
    entity = [{"entity": "handoff_reason", "value": "failed_attempts"}]
    await run(ActionHumanHandoff(), tracker("/human_handoff", "human_handoff", sender="a",
                                            entities=entity))
    lost, _ = await run(ActionHumanHandoff(), tracker("啊啊啊", "nlu_fallback", sender="b",
                                                      active_loop=None))
    assert [(r.sender_id, r.reason) for r in rows(service)] == [
        ("a", "failed_attempts"), ("b", "low_confidence")]
    assert texts(lost).startswith("抱歉，我几次都没能明白您的意思。")


async def test_off_duty_gives_the_contact_and_a_message_can_be_left(service, monkeypatch):
    use_handoffs(monkeypatch, service, "never")
    dispatcher, _ = await run(ActionHumanHandoff(), tracker("转人工", "human_handoff",
                                                            sender="night", active_loop=None))
    assert "现在不是人工客服的工作时间" in texts(dispatcher)
    assert "官方客服热线" in texts(dispatcher)  # the contact topic, from configuration
    assert ("留言给客服", "/leave_message") in buttons(dispatcher)
    [row] = rows(service)
    assert row.state == "offline"
    left = tracker("明天上午请给我回个电话，我的密码是 123456", "leave_message",
                   slots={"left_message": "明天上午请给我回个电话，我的密码是 123456"},
                   sender="night", active_loop=None)
    dispatcher, events = await run(ActionLeaveMessage(), left)
    assert "已为您留言" in texts(dispatcher)
    [row] = rows(service)
    assert row.state == "queued" and row.left_message.startswith("明天上午请给我回个电话")
    assert "123456" not in row.left_message and MASK in row.left_message
    assert {"event": "slot", "name": "left_message", "value": None,
            "timestamp": None} in events


async def test_hours_of_duty_are_named_to_the_merchant(service, monkeypatch):
    use_handoffs(monkeypatch, service, "mon-fri 09:00-18:00")
    handoffs = handoff_actions.handoff_service()
    handoffs.clock = lambda: datetime(2026, 12, 6, 4, 0, tzinfo=timezone.utc)  # Sunday noon
    dispatcher, _ = await run(ActionHumanHandoff(), tracker("转人工", "human_handoff",
                                                            sender="sun", active_loop=None))
    assert "周一至周五 09:00–18:00，北京时间" in texts(dispatcher)


async def test_a_database_outage_still_gives_the_contact(dead_service, monkeypatch):
    monkeypatch.setattr(handoff_actions, "handoff_service",
                        lambda: HandoffService(dead_service.engine, hours=DutyHours(None)))
    dispatcher, _ = await run(ActionHumanHandoff(), tracker("转人工", "human_handoff",
                                                            active_loop=None))
    assert "人工客服系统暂时不可用" in texts(dispatcher) and "官方客服热线" in texts(dispatcher)


@pytest.mark.parametrize("intent,enabled,reply", [
    ("notices_off", False, "不再主动通知"), ("notices_on", True, "我会在这里通知您")])
async def test_notices_can_be_turned_off_and_on(service, monkeypatch, intent, enabled, reply):
    use_handoffs(monkeypatch, service)
    dispatcher, _ = await run(ActionSetNotices(), tracker("不要再通知我", intent, sender="n1",
                                                          active_loop=None))
    assert reply in texts(dispatcher)
    assert OutboxStore(service.engine).notices_enabled("rest", "n1") is enabled


async def test_a_question_about_being_notified_changes_no_setting(service, monkeypatch):
    """"办完解绑会给我发短信通知吗" asks whether 海科融通 notifies: the guide does not say
    (an honest reply with the contacts); the notices stay as they were."""
    use_handoffs(monkeypatch, service)
    dispatcher, _ = await run(ActionSetNotices(), tracker(
        "办完解绑会给我发短信通知吗", "notices_on", sender="n2", active_loop=None))
    first = dispatcher.messages[0]
    assert first["answers"] == ["out_of_scope", "faq_contact_support"]
    assert first["unstated"] == ["notification"] and "没有写明" in first["text"]
    assert "我会在这里通知您" not in texts(dispatcher)
    assert OutboxStore(service.engine).notices_enabled("rest", "n2") is True  # the default


@pytest.mark.parametrize("text", ["别老是通知我了好吗", "帮我把推送重新打开"])
async def test_a_request_about_notices_is_still_carried_out(service, monkeypatch, text):
    use_handoffs(monkeypatch, service)
    intent = "notices_off" if "别" in text else "notices_on"
    dispatcher, _ = await run(ActionSetNotices(), tracker(text, intent, sender="n3",
                                                          active_loop=None))
    assert OutboxStore(service.engine).notices_enabled("rest", "n3") is (intent == "notices_on")
    assert not any(m.get("unstated") for m in dispatcher.messages)


async def test_notice_preference_with_the_database_down(dead_service, monkeypatch):
    monkeypatch.setattr(handoff_actions, "handoff_service",
                        lambda: HandoffService(dead_service.engine, hours=DutyHours(None)))
    dispatcher, _ = await run(ActionSetNotices(), tracker("不要再通知我", "notices_off",
                                                          active_loop=None))
    assert "没有保存成功" in texts(dispatcher)


def fallback(text: str) -> dict:
    return {"event": "user", "text": text,
            "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}}}


async def test_three_turns_not_understood_in_a_row_hand_off():
    understood = {"event": "user", "text": "你好",
                  "parse_data": {"intent": {"name": "greet", "confidence": 0.9}}}
    events = [understood, fallback("嗯嗯"), fallback("那个")]
    assert low_confidence_streak(events) == 2
    latest = tracker("啊这", "nlu_fallback", active_loop=None)
    latest.events = [*events, fallback("啊这")]
    dispatcher, result = await run(ActionSuggestTopics(), latest)
    assert result == [{"event": "followup", "name": "action_human_handoff",
                       "timestamp": None}] and dispatcher.messages == []
    after = [*latest.events, {"event": "action", "name": "action_human_handoff"},
             fallback("？")]
    assert low_confidence_streak(after) == 1


async def test_a_status_asked_after_the_notices_is_offered(service, monkeypatch):
    """"关了通知吧 对了我的解绑进度怎么样": notices off first, then the status offered."""
    use_handoffs(monkeypatch, service)
    tr = tracker("关了通知吧 对了我的解绑进度怎么样", "notices_off", sender="n4", active_loop=None)
    tr.latest_message["clauses"] = [
        {"text": "关了通知吧", "intent": {"name": "notices_off", "confidence": 0.99},
         "question": True},
        {"text": "我的解绑进度怎么样", "intent": {"name": "check_status", "confidence": 0.99},
         "question": True}]
    dispatcher, _ = await run(ActionSetNotices(), tr)
    assert dispatcher.messages[0]["answers"] == ["notices_off"]
    payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
    assert payloads == ["/check_status"]
