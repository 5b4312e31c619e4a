"""Issue 14 in the actions: two questions, grounded answers, "没用", candidates kept, and
values typed for the wrong field of the form."""

from __future__ import annotations

from typing import Any

import pytest
from actions_support import DOMAIN, texts, tracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.field_mixups import mixup, plain_value
from actions.handoff import ActionHumanHandoff
from actions.suggestions import ActionAskWhatFor, ActionNotHelpful, ActionSuggestTopics
from actions.topics import ActionAnswerTopic, answer_also_asked
from actions.unbind_form import ValidateUnbindForm
from bot.knowledge.guide import guide_text
from bot.learning.candidates import CandidateStore
from bot.tickets import TicketService

MERCHANT = "849581058120003"


def answers(dispatcher: CollectingDispatcher) -> list[list[str]]:
    return [m.get("answers") or [] for m in dispatcher.messages]


def with_clauses(tr: Tracker, *clauses: tuple[str, str, float]) -> Tracker:
    tr.latest_message["clauses"] = [
        {"text": text, "intent": {"name": name, "confidence": conf}, "question": conf >= 0.7}
        for text, name, conf in clauses
    ]
    return tr


def entity(label: str, text: str, value: str) -> dict[str, Any]:
    start = text.index(value)
    return {"entity": label, "start": start, "end": start + len(value), "value": value}


async def run(action: Any, tr: Tracker) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tr, DOMAIN)
    return dispatcher


async def test_two_topics_in_one_message_are_both_answered_in_order() -> None:
    tr = with_clauses(tracker("要带什么资料，审核多久能办完", "faq_materials", active_loop=None),
                      ("要带什么资料", "faq_materials", 0.95), ("审核多久能办完", "faq_audit", 0.8))
    dispatcher = await run(ActionAnswerTopic(), tr)
    said = answers(dispatcher)
    assert said[0] == ["faq_materials"] and ["faq_audit"] in said
    assert "营业执照副本" in texts(dispatcher) and "审核" in texts(dispatcher)


async def test_how_long_the_whole_unbind_takes_is_said_to_be_unstated() -> None:
    """The audit answer says the guide gives no duration *for the audit*; how long the
    whole unbind takes it does not answer: said honestly, the audit offered beside."""
    tr = with_clauses(tracker("要带什么资料，多久能办完", "faq_materials", active_loop=None),
                      ("要带什么资料", "faq_materials", 0.95), ("多久能办完", "faq_audit", 0.8))
    dispatcher = await run(ActionAnswerTopic(), tr)
    said = answers(dispatcher)
    assert said[0] == ["faq_materials"] and ["out_of_scope"] in said
    said_text = texts(dispatcher)
    assert "营业执照副本" in said_text and "所需时间，解绑指南里没有写明" in said_text
    payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
    assert "/faq_audit" in payloads and "/faq_contact_support" in payloads


async def test_two_topics_are_answered_in_the_order_asked() -> None:
    tr = with_clauses(tracker("要带什么资料，审核要多久", "faq_audit", active_loop=None),
                      ("要带什么资料", "faq_materials", 0.95), ("审核要多久", "faq_audit", 0.8))
    said = answers(await run(ActionAnswerTopic(), tr))
    assert said[0] == ["faq_materials"] and ["faq_audit"] in said


async def test_an_answer_that_says_the_guide_gives_no_duration_answers_it_as_unstated() -> None:
    """"审核要几天": the audit answer says the guide gives no duration for the audit, so it
    answers the question as one the guide does not answer too; "审核看什么" it does not."""
    how_long = answers(await run(ActionAnswerTopic(), tracker("审核要几天", "faq_audit",
                                                              active_loop=None)))
    assert how_long and all(a == ["faq_audit", "out_of_scope"] for a in how_long)
    what = answers(await run(ActionAnswerTopic(), tracker("审核看什么", "faq_audit",
                                                          active_loop=None)))
    assert what and all(a == ["faq_audit"] for a in what)


async def test_a_less_sure_second_question_is_offered_as_a_button() -> None:
    tr = with_clauses(tracker("解绑要带什么 多久能办好", "faq_materials", active_loop=None),
                      ("解绑要带什么", "faq_materials", 0.95), ("多久能办好", "faq_audit", 0.6))
    dispatcher = await run(ActionAnswerTopic(), tr)
    assert all(a == ["faq_materials"] for a in answers(dispatcher))
    payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
    assert payloads[0] == "/faq_audit"


async def test_what_comes_after_a_step_offers_the_next_step() -> None:
    """"之后还要干嘛" after a question about a step: the step is answered, the step after
    it offered as a button; a second clause that asks nothing about "after" offers none."""
    async def step_then(second: str, intent: str) -> tuple[list, list[str]]:
        first = "培训交接完是不是就正式解绑了"
        tr = with_clauses(
            tracker(f"{first} {second}", "faq_step_training", active_loop=None),
            (first, "faq_step_training", 0.9), (second, intent, 0.94))
        dispatcher = await run(ActionAnswerTopic(), tr)
        payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
        return answers(dispatcher), payloads

    answered, payloads = await step_then("之后还要干嘛", "faq_followup")
    assert answered[0] == ["faq_step_training"] and "/faq_step_final" in payloads
    _, payloads = await step_then("客服电话多少", "faq_contact_support")
    assert "/faq_step_final" not in payloads


async def test_what_comes_once_a_step_is_done_is_the_next_step() -> None:
    """"试机做完了 还剩哪一步": the step after testing is answered, placed in the process,
    and testing is offered; what testing is for, and the last step, are answered as asked."""
    async def ask(text: str, intent: str) -> tuple[list, list[str], str]:
        dispatcher = await run(ActionAnswerTopic(), tracker(text, intent, active_loop=None))
        payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
        return answers(dispatcher), payloads, texts(dispatcher)

    said, payloads, text = await ask("试机做完了 还剩哪一步", "faq_step_testing")
    assert said[0] == ["faq_step_training", "faq_process"]
    assert ["faq_step_training"] in said and "/faq_step_testing" in payloads
    assert "测试验证" in text and "培训交接" in text
    said, _, _ = await ask("测试验证这步是干嘛用的", "faq_step_testing")
    assert said[0] == ["faq_step_testing"]
    said, _, _ = await ask("正式解绑弄完了然后干嘛", "faq_step_final")
    assert said[0] == ["faq_step_final"]


def test_what_comes_after_the_last_step_asked_second_is_the_follow_up() -> None:
    """"我的工单到哪了？顺便问下正式解绑之后要干嘛": after the status, what follows the last
    step is what the guide says to follow up; the last step asked about itself stays."""
    def also(second: str) -> list[list[str]]:
        tr = with_clauses(tracker(f"我的工单到哪了？{second}", "check_status", active_loop=None),
                          ("我的工单到哪了", "check_status", 0.95), (second, "faq_step_final", 0.9))
        dispatcher = CollectingDispatcher()
        answer_also_asked(dispatcher, tr, {"check_status"})
        return answers(dispatcher)

    assert also("顺便问下正式解绑之后要干嘛")[0] == ["faq_followup", "faq_process"]
    assert also("正式解绑是哪一步")[0] == ["faq_step_final"]


async def test_a_step_done_then_an_unsure_clause_asking_what_is_left_is_the_next_step() -> None:
    """"新机装好了 剩下的是啥": the second clause asks what is left of the step the first
    names; a second clause that is a question of its own leaves the step as asked."""
    async def first_answer(second: str, intent: str, confidence: float) -> list[str]:
        first = "新机装好了"
        tr = with_clauses(tracker(f"{first} {second}", "faq_step_install", active_loop=None),
                          (first, "faq_step_install", 0.9), (second, intent, confidence))
        return answers(await run(ActionAnswerTopic(), tr))[0]

    assert await first_answer("剩下的是啥", "faq_step_final", 0.4) == [
        "faq_step_testing", "faq_process"]
    assert await first_answer("完了以后还要干啥 客服电话多少", "faq_contact_support", 0.9) == [
        "faq_step_install"]


async def test_a_clause_ranked_as_the_answered_topic_offers_the_topic_ranked_next() -> None:
    """"有问题找谁" read as the follow-up again: its runner-up (contacts) is offered when
    sure enough, not when it is noise."""
    for confidence, offered in ((0.09, True), (0.01, False)):
        text = "解绑以后要跟进什么 有问题找谁"
        tr = with_clauses(tracker(text, "faq_followup", active_loop=None),
                          ("解绑以后要跟进什么", "faq_followup", 1.0),
                          ("有问题找谁", "faq_followup", 0.88))
        tr.latest_message["clauses"][1]["runner_up"] = {
            "name": "faq_contact_support", "confidence": confidence}
        dispatcher = await run(ActionAnswerTopic(), tr)
        payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
        assert all(a == ["faq_followup"] for a in answers(dispatcher))
        assert ("/faq_contact_support" in payloads) is offered


async def test_a_second_question_that_is_no_topic_is_offered_as_a_button() -> None:
    tr = with_clauses(tracker("要交哪些材料，我的工单到哪了", "faq_materials", active_loop=None),
                      ("要交哪些材料", "faq_materials", 0.9),
                      ("我的工单到哪了", "check_status", 0.9))
    dispatcher = await run(ActionAnswerTopic(), tr)
    payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
    assert payloads[0] == "/check_status"
    assert all(a == ["faq_materials"] for a in answers(dispatcher))


async def test_a_question_and_a_request_to_unbind_answer_then_start_the_form() -> None:
    tr = with_clauses(tracker("要带什么资料，我要解绑", "faq_materials", active_loop=None),
                      ("要带什么资料", "faq_materials", 0.9), ("我要解绑", "request_unbind", 0.95))
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerTopic().run(dispatcher, tr, DOMAIN)
    said = answers(dispatcher)
    assert said[0] == ["faq_materials"] and "营业执照副本" in texts(dispatcher)
    assert said[-1] == ["request_unbind"]
    assert events == [{"event": "followup", "timestamp": None, "name": "unbind_form"}]
    buttons = [b for m in dispatcher.messages for b in m.get("buttons") or []]
    assert not buttons  # the form asks for the merchant number next


async def test_a_request_to_unbind_asked_first_is_acknowledged_first() -> None:
    """"我要解绑，要带什么资料": in the order asked, the request, the answer, the form."""
    tr = with_clauses(tracker("我要解绑，要带什么资料", "faq_materials", active_loop=None),
                      ("我要解绑", "request_unbind", 0.95), ("要带什么资料", "faq_materials", 0.9))
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerTopic().run(dispatcher, tr, DOMAIN)
    said = answers(dispatcher)
    assert said[0] == ["request_unbind"] and ["faq_materials"] in said
    assert said[-1] == ["request_unbind"] and "营业执照副本" in texts(dispatcher)
    assert events == [{"event": "followup", "timestamp": None, "name": "unbind_form"}]


async def test_a_less_sure_request_to_unbind_is_only_offered() -> None:
    tr = with_clauses(tracker("要带什么资料，可能要申请", "faq_materials", active_loop=None),
                      ("要带什么资料", "faq_materials", 0.9), ("可能要申请", "request_unbind", 0.6))
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerTopic().run(dispatcher, tr, DOMAIN)
    payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
    assert payloads[0] == "/request_unbind" and events == []


async def test_inside_the_form_a_request_to_unbind_does_not_restart_it() -> None:
    tr = with_clauses(tracker("我要解绑，要带什么资料", "faq_materials"),
                      ("我要解绑", "request_unbind", 0.95), ("要带什么资料", "faq_materials", 0.9))
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerTopic().run(dispatcher, tr, DOMAIN)
    assert events == [] and all("request_unbind" not in a for a in answers(dispatcher))


async def test_an_unsure_clause_is_not_a_second_question() -> None:
    tr = with_clauses(tracker("审核都查什么？不通过怎么办", "faq_audit", active_loop=None),
                      ("审核都查什么", "faq_audit", 0.9), ("不通过怎么办", "faq_policy", 0.4))
    dispatcher = await run(ActionAnswerTopic(), tr)
    assert all(a == ["faq_audit"] for a in answers(dispatcher))


async def test_fallback_with_a_matching_passage_quotes_the_guide(
    candidate_store: CandidateStore,
) -> None:
    tr = tracker("新机装好以后还会做功能测试吗", "nlu_fallback", active_loop=None)
    tr.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.3},
        {"name": "faq_step_testing", "confidence": 0.29}, {"name": "faq_rebind", "confidence": 0.2},
    ]
    dispatcher = await run(ActionSuggestTopics(), tr)
    [message] = dispatcher.messages
    assert message["answers"] == ["faq_step_testing"] and message["grounded"]
    quote = message["text"].split("“", 1)[1].rstrip("”")
    assert quote in guide_text()
    assert message["buttons"][0]["payload"] == "/faq_step_testing"
    assert message["buttons"][-1]["payload"] == "/human_handoff"
    [kept] = candidate_store.candidates()
    assert (kept.reason, kept.text) == ("low_confidence", "新机装好以后还会做功能测试吗")


async def test_fallback_without_a_trusted_passage_offers_topics(
    candidate_store: CandidateStore,
) -> None:
    tr = tracker("嗯嗯那个啥", "nlu_fallback", active_loop=None)
    tr.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.3}, {"name": "faq_audit", "confidence": 0.2},
    ]
    dispatcher = await run(ActionSuggestTopics(), tr)
    assert answers(dispatcher) == [["nlu_fallback"]]
    assert "没有完全明白" in texts(dispatcher)
    assert [c.reason for c in candidate_store.candidates()] == ["fallback"]


async def test_a_value_or_a_reason_with_nothing_pending_asks_what_it_is_for() -> None:
    value = tracker(MERCHANT, "inform", active_loop=None,
                    entities=[entity("merchant_id", MERCHANT, MERCHANT)])
    dispatcher = await run(ActionAskWhatFor(), value)
    assert dispatcher.messages[0]["response"] == "utter_ask_what_for"
    reason = tracker("业务调整", "inform", active_loop=None)
    reason.latest_message["intent_ranking"] = [{"name": "faq_unbind_reasons", "confidence": 0.9}]
    dispatcher = await run(ActionAskWhatFor(), reason)
    assert dispatcher.messages[0]["response"] == "utter_ask_what_for"


async def test_not_helpful_and_handoff_keep_the_question_before_them(
    candidate_store: CandidateStore, service: TicketService,
) -> None:
    tr = tracker("没用", "not_helpful", active_loop=None)
    tr.events.insert(0, {"event": "user", "text": "旧机器能退押金吗", "input_channel": "rest",
                         "parse_data": {"intent": {"name": "faq_funds", "confidence": 0.6}}})
    dispatcher = await run(ActionNotHelpful(), tr)
    assert answers(dispatcher) == [["not_helpful"]] and "转人工" in str(dispatcher.messages)
    handoff = tracker("转人工", "human_handoff", active_loop=None)
    handoff.events.insert(0, {"event": "user", "text": "押金多少", "parse_data": {}})
    await run(ActionHumanHandoff(), handoff)
    kept = {(c.text, c.reason) for c in candidate_store.candidates()}
    assert kept == {("旧机器能退押金吗", "unhelpful"), ("押金多少", "handoff")}


@pytest.mark.parametrize(("text", "label", "value", "field"), [
    (MERCHANT, "merchant_id", MERCHANT, "merchant_id"),
    (f"我的商户号是{MERCHANT}", "merchant_id", MERCHANT, "merchant_id"),
    ("手机 13812345678", "phone", "13812345678", "contact_phone"),
    ("SN8A2B3C4D5", "serial_number", "SN8A2B3C4D5", "serial_number"),
])
def test_a_message_that_is_only_a_value_is_recognised(
    text: str, label: str, value: str, field: str
) -> None:
    assert plain_value(text, [entity(label, text, value)]) == field


def test_a_value_with_other_words_is_not_plainly_a_value() -> None:
    text = f"换新机了 商户号{MERCHANT}"
    assert plain_value(text, [entity("merchant_id", text, MERCHANT)]) is None
    assert mixup("merchant_id", MERCHANT, [entity("merchant_id", MERCHANT, MERCHANT)]) is None


async def run_form(tr: Tracker) -> tuple[CollectingDispatcher, dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = await ValidateUnbindForm().run(dispatcher, tr, DOMAIN)
    return dispatcher, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_merchant_number_repeated_as_the_reason_is_refused(service) -> None:
    tr = tracker(MERCHANT, "inform", entities=[entity("merchant_id", MERCHANT, MERCHANT)],
                 slots={"requested_slot": "unbind_reason", "merchant_id": MERCHANT})
    dispatcher, slots = await run_form(tr)
    assert slots["unbind_reason"] is None and slots.get("reason_detail") is None
    assert "这看起来是商户号，不是解绑原因" in texts(dispatcher)


@pytest.mark.parametrize(("text", "label", "value", "title"), [
    ("13812345678", "phone", "13812345678", "手机号"),
    ("手机号 13812345678", "phone", "13812345678", "手机号"),
    ("SN8A2B3C4D5", "serial_number", "SN8A2B3C4D5", "序列号"),
    ("序列号是SN8A2B3C4D5", "serial_number", "SN8A2B3C4D5", "序列号"),
    (f"商户号{MERCHANT}", "merchant_id", MERCHANT, "商户号"),
    ("849 581 058 120 003", "merchant_id", "849 581 058 120 003", "商户号"),
])
async def test_a_value_typed_when_the_reason_is_asked_is_refused_and_asked_again(
    service, text: str, label: str, value: str, title: str
) -> None:
    slots = {"requested_slot": "unbind_reason", "merchant_id": MERCHANT}
    tr = tracker(text, "inform", entities=[entity(label, text, value)], slots=slots)
    dispatcher, set_slots = await run_form(tr)
    assert set_slots["unbind_reason"] is None and set_slots.get("reason_detail") is None
    assert f"这看起来是{title}，不是解绑原因" in texts(dispatcher)
    assert set_slots["failed_attempts"] == {"unbind_reason": 1}


@pytest.mark.parametrize(("asked", "text", "label", "title"), [
    ("serial_number", "13812345678", "phone", "手机号"),
    ("serial_number", MERCHANT, "merchant_id", "商户号"),
    ("merchant_id", "13812345678", "phone", "手机号"),
    ("contact_phone", MERCHANT, "merchant_id", "商户号"),
    ("contact_phone", "SN8A2B3C4D5", "serial_number", "序列号"),
])
async def test_another_fields_value_is_never_stored_in_the_asked_field(
    service, asked: str, text: str, label: str, title: str
) -> None:
    slots = {"requested_slot": asked, "merchant_id": MERCHANT, "unbind_reason": "更换设备"}
    if asked == "merchant_id":
        slots = {"requested_slot": asked}
    tr = tracker(text, "inform", entities=[entity(label, text, text)], slots=slots)
    dispatcher, set_slots = await run_form(tr)
    assert set_slots[asked] is None
    assert f"这看起来是{title}" in texts(dispatcher)
    assert set_slots["failed_attempts"] == {asked: 1}


async def test_a_guide_question_after_a_cancel_is_answered_too(service) -> None:
    from actions.ticket_cancel import ActionConfirmCancel

    tr = with_clauses(tracker("取消我的申请 然后告诉我怎么联系客服", "cancel_ticket",
                              active_loop=None),
                      ("取消我的申请", "cancel_ticket", 1.0),
                      ("然后告诉我怎么联系客服", "faq_contact_support", 0.83))
    dispatcher = await run(ActionConfirmCancel(), tr)
    said = answers(dispatcher)
    assert "没有可以取消的处理中工单" in dispatcher.messages[0]["text"] and said[0] == []
    assert ["faq_contact_support"] in said


async def test_a_less_sure_guide_question_after_a_status_is_offered(service) -> None:
    from actions.ticket_status import ActionCheckStatus

    tr = with_clauses(tracker("我的进度到哪了 另外审核多久", "check_status", active_loop=None),
                      ("我的进度到哪了", "check_status", 0.95),
                      ("另外审核多久", "faq_audit", 0.6))
    dispatcher = await run(ActionCheckStatus(), tr)
    assert all(not a for a in answers(dispatcher))  # nothing but the status is answered
    payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
    assert "/faq_audit" in payloads


async def test_a_status_alone_answers_nothing_else(service) -> None:
    from actions.ticket_status import ActionCheckStatus

    dispatcher = await run(ActionCheckStatus(),
                           tracker("我的进度到哪了", "check_status", active_loop=None))
    payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
    assert payloads == ["/request_unbind"] and all(not a for a in answers(dispatcher))
