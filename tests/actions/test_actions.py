"""Actions and validators with rasa-sdk trackers and a real ticket service
(SQLite, and PostgreSQL with DATABASE_URL_TEST)."""

from __future__ import annotations

from typing import Any

import pytest
from actions_support import DOMAIN, FILLED, request, texts, tracker
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.suggestions import ActionSuggestTopics
from actions.ticket_status import ActionCheckStatus, ActionShowVerifiedTicket
from actions.ticket_views import render_tickets
from actions.tickets import ActionOpenTicket
from actions.topics import ActionAnswerTopic
from actions.unbind_form import ActionUnfinishedRequest, ValidateUnbindForm


async def run_form(tr: Tracker) -> tuple[CollectingDispatcher, dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = await ValidateUnbindForm().run(dispatcher, tr, DOMAIN)
    return dispatcher, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_full_width_merchant_number_is_normalised(service):
    _, slots = await run_form(
        tracker("８４９５ 8105-8120 003", slots={"requested_slot": "merchant_id"})
    )
    assert slots["merchant_id"] == "849581058120003"


async def test_wrong_length_gets_the_count_and_a_failed_attempt(service):
    dispatcher, slots = await run_form(tracker("12345", slots={"requested_slot": "merchant_id"}))
    assert "商户号应为15位数字，您输入的是5位" in texts(dispatcher)
    assert slots["merchant_id"] is None and slots["failed_attempts"] == {"merchant_id": 1}


async def test_third_failure_stops_asking(service):
    tr = tracker(
        "12", slots={"requested_slot": "serial_number", "failed_attempts": {"serial_number": 2}}
    )
    _, slots = await run_form(tr)
    assert slots["requested_slot"] is None and slots["serial_number"] is None


async def test_a_guide_question_is_not_taken_as_an_answer(service):
    _, slots = await run_form(
        tracker("解绑要带什么资料", intent="faq_materials", slots={"requested_slot": "merchant_id"})
    )
    assert "merchant_id" not in slots


async def test_free_text_reason_maps_to_a_category_and_keeps_the_words(service):
    _, slots = await run_form(
        tracker("店不开了，要注销", slots={"requested_slot": "unbind_reason"})
    )
    assert slots["unbind_reason"] == "停业注销" and slots["reason_detail"] == "店不开了，要注销"


async def test_a_merchant_with_an_open_ticket_of_this_conversation_is_told_at_once(service):
    existing = service.open_ticket(request()).ticket  # opened by this conversation ("s1")
    _, slots = await run_form(
        tracker("849581058120003", slots={"requested_slot": "merchant_id"})
    )
    assert slots["requested_slot"] is None
    dispatcher = CollectingDispatcher()
    events = await ActionUnfinishedRequest().run(
        dispatcher, tracker("x", slots={"merchant_id": "849581058120003"}), DOMAIN
    )
    assert existing.ticket_no in texts(dispatcher)
    assert SlotSet("merchant_id", None) in events
    assert SlotSet("last_ticket_no", existing.ticket_no) in events


async def test_open_ticket_then_a_retry_returns_the_same_ticket(service):
    first, second = CollectingDispatcher(), CollectingDispatcher()
    await ActionOpenTicket().run(first, tracker("确认", "affirm", FILLED), DOMAIN)
    await ActionOpenTicket().run(second, tracker("确认", "affirm", FILLED), DOMAIN)
    [ticket] = service.tickets_for_merchant("849581058120003")
    assert ticket.ticket_no in texts(first) and "已为您登记" in texts(first)
    assert ticket.ticket_no in texts(second) and "无需重复" in texts(second)


async def test_database_down_apologises_keeps_the_form_and_offers_a_retry(dead_service):
    dispatcher = CollectingDispatcher()
    events = await ActionOpenTicket().run(dispatcher, tracker("确认", "affirm", FILLED), DOMAIN)
    assert "暂时无法访问" in texts(dispatcher) and "保留" in texts(dispatcher)
    assert events == [FollowupAction("action_summarise_request")]  # no slot is cleared


async def test_status_summarises_long_lists_and_always_names_the_ticket(service):
    numbers = []
    for i in range(5):
        ticket = service.open_ticket(request(f"84958105812{i:04d}")).ticket
        numbers.append(ticket.ticket_no)
    messages = render_tickets(service.tickets_for_sender("s1"))
    assert len(messages) == 4 and "另有 2 个" in messages[-1]
    assert all(n in "\n".join(messages) for n in numbers)


async def test_someone_elses_ticket_needs_proof(service):
    ticket = service.open_ticket(request()).ticket
    entity = [{"entity": "ticket_no", "value": ticket.ticket_no}]
    dispatcher = CollectingDispatcher()
    events = await ActionCheckStatus().run(
        dispatcher, tracker("查工单", "check_status", entities=entity, sender="other",
                            active_loop=None), DOMAIN,
    )
    assert SlotSet("needs_verification", True) in events and dispatcher.messages == []


@pytest.mark.parametrize(("merchant", "last4"), [("849581058120099", "5678"), ("", "")])
async def test_a_wrong_proof_reveals_nothing(service, merchant, last4):
    ticket = service.open_ticket(request()).ticket
    slots = {"ticket_no": ticket.ticket_no, "verify_merchant_id": merchant,
             "verify_phone_last4": last4}
    dispatcher = CollectingDispatcher()
    await ActionShowVerifiedTicket().run(dispatcher, tracker("x", slots=slots), DOMAIN)
    assert ticket.ticket_no not in texts(dispatcher) and "核对信息不一致" in texts(dispatcher)


async def test_the_right_proof_shows_the_steps(service):
    ticket = service.open_ticket(request()).ticket
    slots = {"ticket_no": ticket.ticket_no, "verify_merchant_id": "849581058120003",
             "verify_phone_last4": "5678"}
    dispatcher = CollectingDispatcher()
    await ActionShowVerifiedTicket().run(
        dispatcher, tracker("x", slots=slots, sender="other"), DOMAIN
    )
    assert "资料审核" in texts(dispatcher)


async def test_topic_answer_and_fallback_suggestions():
    dispatcher = CollectingDispatcher()
    await ActionAnswerTopic().run(
        dispatcher, tracker("要带啥", "faq_materials", active_loop=None), DOMAIN
    )
    assert "营业执照副本" in texts(dispatcher) and dispatcher.messages[-1]["buttons"]
    fallback = tracker("嗯嗯", "nlu_fallback", active_loop=None)
    fallback.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.3}, {"name": "faq_audit", "confidence": 0.2},
        {"name": "greet", "confidence": 0.1}, {"name": "faq_process", "confidence": 0.1},
    ]
    dispatcher = CollectingDispatcher()
    await ActionSuggestTopics().run(dispatcher, fallback, DOMAIN)
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    assert payloads == ["/faq_audit", "/faq_process", "/human_handoff"]
