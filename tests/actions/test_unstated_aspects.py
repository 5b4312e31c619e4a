"""A question about something the guide does not state (its cost, a place, service
hours) gets an honest "the guide does not say" with the ways to contact support, never
the neighbouring topic's passage and never an invented number."""

from __future__ import annotations

from typing import Any

import pytest
from actions_support import DOMAIN, buttons, texts, tracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.suggestions import ActionSuggestTopics
from actions.topics import ActionAnswerTopic, answer_also_asked
from bot.evaluation.answered import Reply, TurnAnswers
from bot.evaluation.facts import invented_facts
from bot.evaluation.message_set import Case
from bot.evaluation.scoring import judge

HOTLINE = "4001234567"


@pytest.fixture(autouse=True)
def hotline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_HOTLINE", HOTLINE)


async def run(action: Any, tr: Tracker) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tr, DOMAIN)
    return dispatcher


def scored(dispatcher: CollectingDispatcher) -> TurnAnswers:
    return TurnAnswers(tuple(
        Reply(m.get("text") or "", frozenset(m.get("answers") or ())) for m in dispatcher.messages
    ))


async def test_a_cost_question_answered_by_a_topic_without_cost_says_the_guide_does_not() -> None:
    dispatcher = await run(ActionAnswerTopic(),
                           tracker("新机是免费的吗", "faq_step_install", active_loop=None))
    first = dispatcher.messages[0]
    assert first["answers"] == ["out_of_scope", "faq_contact_support"]
    assert "没有写明费用" in first["text"] and first["unstated"] == ["cost"]
    said = texts(dispatcher)
    assert "新设备安装" not in said  # not the neighbouring passage
    assert HOTLINE in said and "帮助中心" in said  # contact support, details from config
    assert invented_facts(said, allowed=[HOTLINE]) == []
    offered = [payload for _, payload in buttons(dispatcher)]
    assert "/faq_step_install" in offered and offered[-1] == "/human_handoff"


async def test_the_unstated_reply_counts_for_out_of_scope_and_for_contact_support() -> None:
    dispatcher = await run(ActionAnswerTopic(),
                           tracker("能不能异地办", "faq_precautions", active_loop=None))
    answers = scored(dispatcher)
    assert judge(Case("能不能异地办", "out_of_scope", ("not_in_guide",)), answers).correct
    assert judge(Case("能不能异地办", "faq_contact_support", ("not_in_guide",),
                      also_ok=("out_of_scope",)), answers).correct
    assert not judge(Case("能不能异地办", "faq_precautions", ("plain",)), answers).correct


async def test_an_aspect_the_topic_states_is_answered_as_before() -> None:
    dispatcher = await run(ActionAnswerTopic(),
                           tracker("申请新pos审核要几天", "faq_pos_application", active_loop=None))
    assert all(m["answers"] == ["faq_pos_application"] for m in dispatcher.messages)
    assert "3-7个工作日" in texts(dispatcher)


async def test_a_question_without_an_aspect_gets_the_topic() -> None:
    dispatcher = await run(ActionAnswerTopic(),
                           tracker("解绑要带什么资料", "faq_materials", active_loop=None))
    assert all(m["answers"] == ["faq_materials"] for m in dispatcher.messages)
    assert "营业执照副本" in texts(dispatcher)


async def test_only_the_clause_of_the_topic_is_checked() -> None:
    tr = tracker("要带什么资料 另外手续费多少", "faq_materials", active_loop=None)
    tr.latest_message["clauses"] = [
        {"text": "要带什么资料", "intent": {"name": "faq_materials", "confidence": 0.9},
         "question": True},
        {"text": "另外手续费多少", "intent": {"name": "out_of_scope", "confidence": 0.8},
         "question": True},
    ]
    dispatcher = await run(ActionAnswerTopic(), tr)
    assert dispatcher.messages[0]["answers"] == ["faq_materials"]


async def test_a_grounded_passage_without_the_aspect_is_not_quoted(candidate_store: Any) -> None:
    tr = tracker("新机装好以后做功能测试要收费吗", "nlu_fallback", active_loop=None)
    tr.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.3},
        {"name": "faq_step_testing", "confidence": 0.29}, {"name": "faq_rebind", "confidence": 0.2},
    ]
    dispatcher = await run(ActionSuggestTopics(), tr)
    assert dispatcher.messages[0]["answers"] == ["out_of_scope", "faq_contact_support"]
    assert not any(m.get("grounded") for m in dispatcher.messages)
    assert invented_facts(texts(dispatcher), allowed=[HOTLINE]) == []


@pytest.mark.parametrize("text", ["到底哪天能弄完啊", "几时能搞好嘛", "这个收不收钱啊"])
async def test_an_unplaced_question_about_an_unstated_aspect_is_answered_honestly(
    candidate_store: Any, text: str
) -> None:
    """The NLU could not place it and no passage matches: still a question about how long
    or what it costs, which the guide does not state, not "I did not understand"."""
    tr = tracker(text, "nlu_fallback", active_loop=None)
    tr.latest_message["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.3}]
    dispatcher = await run(ActionSuggestTopics(), tr)
    assert dispatcher.messages[0]["answers"] == ["out_of_scope", "faq_contact_support"]
    assert HOTLINE in texts(dispatcher)
    assert invented_facts(texts(dispatcher), allowed=[HOTLINE]) == []


async def test_an_unplaced_message_that_asks_no_aspect_is_not_understood(
    candidate_store: Any,
) -> None:
    tr = tracker("嗯嗯那个机子", "nlu_fallback", active_loop=None)
    tr.latest_message["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.3}]
    dispatcher = await run(ActionSuggestTopics(), tr)
    assert dispatcher.messages[0]["answers"] == ["nlu_fallback"]


def two_clauses(first: tuple[str, str], second: tuple[str, str]) -> Tracker:
    text = first[0] + "，" + second[0]
    tr = tracker(text, first[1], active_loop=None)
    tr.latest_message["clauses"] = [
        {"text": t, "intent": {"name": i, "confidence": 0.9}, "question": True}
        for t, i in (first, second)
    ]
    return tr


async def test_a_second_clause_about_an_unstated_aspect_is_said_after_the_answer() -> None:
    tr = two_clauses(("需要什么资料", "faq_materials"), ("要收费吗", "faq_process"))
    dispatcher = await run(ActionAnswerTopic(), tr)
    answers = scored(dispatcher)
    assert dispatcher.messages[0]["answers"] == ["faq_materials"]  # the question first
    last = dispatcher.messages[-1]
    assert last["unstated"] == ["cost"] and "没有写明" in last["text"]
    assert ("联系海科融通客服", "/faq_contact_support") in buttons(dispatcher)
    assert judge(Case(tr.latest_message["text"], "faq_materials", ("two_questions",),
                      second="out_of_scope"), answers).correct
    assert invented_facts(texts(dispatcher), allowed=[HOTLINE]) == []


async def test_a_second_clause_whose_aspect_the_answer_states_adds_nothing() -> None:
    tr = two_clauses(("怎么申请新pos", "faq_pos_application"), ("审核要几天", "faq_audit"))
    dispatcher = await run(ActionAnswerTopic(), tr)
    assert not any(m.get("unstated") for m in dispatcher.messages)


async def test_a_message_of_one_clause_gets_no_second_note() -> None:
    dispatcher = await run(ActionAnswerTopic(),
                           tracker("解绑要带什么资料", "faq_materials", active_loop=None))
    assert not any(m.get("unstated") for m in dispatcher.messages)


def test_after_a_cancel_the_refund_the_guide_does_not_state_is_said_so() -> None:
    tr = two_clauses(("取消我的解绑申请", "cancel_ticket"), ("还有押金怎么退", "out_of_scope"))
    dispatcher = CollectingDispatcher()
    answer_also_asked(dispatcher, tr, {"cancel_ticket"})
    assert [m["unstated"] for m in dispatcher.messages] == [["refund"]]
    assert dispatcher.messages[0]["answers"] == ["out_of_scope"]


async def test_an_out_of_scope_question_about_an_unstated_aspect_is_answered_honestly() -> None:
    from actions.out_of_scope import ActionOutOfScope

    dispatcher = await run(ActionOutOfScope(), tracker("解绑要收费吗", "out_of_scope",
                                                       active_loop=None))
    first = dispatcher.messages[0]
    assert "解绑指南里没有写明费用" in first["text"] and first["unstated"] == ["cost"]
    assert "超出" not in texts(dispatcher)  # not "beyond what I answer"
    assert HOTLINE in texts(dispatcher)  # the configured contact, nothing invented
    judged = judge(Case("解绑要收费吗", "out_of_scope", ("not_in_guide",)), scored(dispatcher),
                   allowed_facts=(HOTLINE,))
    assert judged.correct and not judged.invented


async def test_an_out_of_scope_message_without_such_a_question_gets_the_usual_reply() -> None:
    from actions.out_of_scope import ActionOutOfScope

    dispatcher = await run(ActionOutOfScope(), tracker("今天天气怎么样", "out_of_scope",
                                                       active_loop=None))
    assert [m.get("response") for m in dispatcher.messages] == ["utter_out_of_scope"]
