"""Issue 14 through the running bot: what each reply answered is in the tracker, two
questions get two answers, step questions get the step, the form refuses another field's
value, candidates are kept, and the evaluation harness scores real turns."""

from __future__ import annotations

import pytest
import requests

from bot.db import make_engine
from bot.evaluation.answered import turn_answers
from bot.evaluation.message_set import Case
from bot.evaluation.runner import run_cases
from bot.learning.candidates import CandidateStore
from tests.integration.test_rest_conversations import Chat

pytestmark = pytest.mark.server
MERCHANT = "849581058120021"


def answered(bot, chat: Chat, text: str) -> tuple[str, frozenset[str], frozenset[str]]:
    reply = chat.say(text)
    events = requests.get(f"{bot.rasa_url}/conversations/{chat.sender}/tracker",
                          timeout=30).json()["events"]
    turn = turn_answers(events)
    return reply, turn.first, turn.answered | turn.offered


def test_every_reply_names_what_it_answers(running_bot):
    chat = Chat(running_bot)
    assert answered(running_bot, chat, "你好")[1] == {"greet"}
    reply, first, _ = answered(running_bot, chat, "解绑要带什么资料")
    assert first == {"faq_materials"} and "营业执照副本" in reply
    assert answered(running_bot, chat, "今天天气怎么样")[1] == {"out_of_scope"}


def test_a_step_question_gets_the_step_and_its_place(running_bot):
    reply, first, _ = answered(running_bot, Chat(running_bot), "店员要培训吗")
    assert first == {"faq_step_training"}
    assert "第7步" in reply and "测试验证" in reply and "正式解绑" in reply


def test_two_questions_get_both_answers(running_bot):
    reply, first, every = answered(running_bot, Chat(running_bot), "要带什么资料，审核要多久")
    assert first == {"faq_materials"} and "faq_audit" in every
    assert "营业执照副本" in reply and "审核" in reply


def test_merchant_number_given_as_the_reason_is_refused_and_the_form_goes_on(running_bot):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    assert "原因" in chat.say(MERCHANT)
    reply = chat.say(MERCHANT)  # the number again, where the reason is asked
    assert "这看起来是商户号，不是解绑原因" in reply and "请问解绑的原因是什么" in reply
    assert "序列号" in chat.say("换新机了")  # the reason is taken now, not rejected as a serial
    assert "手机" in chat.say("SN8A2B3C4D5")
    summary = chat.say("13812345678")
    assert "解绑原因：更换设备" in summary and f"商户号：{MERCHANT}" in summary


@pytest.mark.parametrize(("text", "leads"), [
    ("我要解绑，要带什么资料", "request_unbind"),  # in the order asked
    ("要带什么资料，我要解绑", "faq_materials"),
])
def test_a_question_with_a_request_to_unbind_is_answered_and_the_form_starts(
    running_bot, text, leads
):
    chat = Chat(running_bot)
    reply, first, every = answered(running_bot, chat, text)
    assert first == {leads} and {"request_unbind", "faq_materials"} <= every
    assert "营业执照副本" in reply and "商户号" in reply
    assert "原因" in chat.say(MERCHANT)  # the form took the merchant number


@pytest.mark.parametrize(("value", "looks_like"), [
    ("13812345678", "手机号"), ("SN8A2B3C4D5", "序列号"),
])
def test_a_phone_or_serial_given_as_the_reason_is_refused(running_bot, value, looks_like):
    chat = Chat(running_bot)
    chat.say("我要解绑")
    chat.say(MERCHANT)
    reply = chat.say(value)
    assert f"这看起来是{looks_like}，不是解绑原因" in reply and "请问解绑的原因是什么" in reply
    slots = requests.get(f"{running_bot.rasa_url}/conversations/{chat.sender}/tracker",
                         timeout=30).json()["slots"]
    assert slots["unbind_reason"] is None and slots["requested_slot"] == "unbind_reason"


def test_a_question_after_thanks_leads(running_bot):
    _, first, every = answered(running_bot, Chat(running_bot), "谢谢 另外审核要几天")
    assert "faq_audit" in first | every


def test_unclear_turns_are_kept_as_candidates(running_bot):
    chat = Chat(running_bot)
    chat.say("qwertyuiop")
    store = CandidateStore(make_engine(running_bot.tickets_url))
    try:
        kept = [c for c in store.candidates() if c.sender_id == chat.sender]
    finally:
        store.engine.dispose()
    assert [(c.reason, c.channel) for c in kept] == [("fallback", "rest")]


def test_the_harness_scores_real_turns(running_bot):
    cases = [Case("你好", "greet", ("plain",)),
             Case("要带什么资料，审核要多久", "faq_materials", ("two_questions",),
                  second="faq_audit"),
             Case("你好", "faq_materials", ("plain",))]
    results = run_cases(running_bot.rasa_url, cases, "harness-test")
    assert [r.outcome.correct for r in results] == [True, True, False]
    assert all(r.outcome.seconds > 0 for r in results)
    assert results[1].parsed.intent == "faq_materials"


def test_round_ten_classes_of_phrasing(running_bot):
    """Issue 14, round ten, in phrasings of my own: a second question without its subject,
    and with its joiner; a bare 解 for 解绑; a thing done and a bare "what next" (the next
    step offered); a domain word typed with a homophone slip."""
    cases = [
        Case("证件要带哪些 往哪儿送", "faq_materials", ("two_questions",),
             second="faq_online_application"),
        Case("资料要带哪些 还有就是去哪交", "faq_materials", ("two_questions",),
             second="faq_online_application"),
        Case("这台机子要怎么解呀", "faq_terminal_steps", ("dialect",)),
        Case("解完了还要盯着点啥", "faq_followup", ("plain",)),
        # Round eleven answers the step after a step said done (with that step as a button).
        Case("新机器装好了 之后呢", "faq_step_testing", ("two_questions",),
             second="faq_step_install"),
        Case("商护号要在机子上哪输", "faq_terminal_steps", ("typo_homophone",)),
    ]
    results = run_cases(running_bot.rasa_url, cases, "round-ten")
    assert [r.outcome.correct for r in results] == [True] * len(cases)


def test_round_twelve_classes_of_phrasing(running_bot):
    """Issue 14, round twelve, in phrasings of my own: whether it can be done offline,
    asked without a subject, alone or after a question about the online application; a step
    asked with 没 (is it done?) and then "what is that step for" is about the step."""
    cases = [
        Case("网上申请怎么操作 去线下办行吗", "faq_online_application", ("two_questions",),
             second="faq_contact_support"),
        Case("线下能办理不", "faq_contact_support", ("very_short",)),
        Case("新机器装好没 那一步是干啥的", "faq_step_install", ("two_questions",)),
    ]
    results = run_cases(running_bot.rasa_url, cases, "round-twelve")
    assert [r.outcome.correct for r in results] == [True] * len(cases)
