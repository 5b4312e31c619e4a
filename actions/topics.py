"""Answers from the guide to what the merchant asked: the topic, the step after, a second
question (when the bot is unsure: ``actions.suggestions``; the hand-off: ``actions.handoff``).

Every message an action sends names, in its metadata (``answers``), the intents or
topics it answers; it is never shown, and the evaluation reads it to know what the bot
replied (``bot.evaluation.answered``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.replies import record_candidate
from actions.unbind_form import latest_text
from bot.knowledge.aspects import Aspect, asked_aspects, declined_aspects, unstated_aspects
from bot.knowledge.step_ordinal import ordinal_step
from bot.knowledge.topics import Topic, follow_up_buttons, load_topics, topic_for_intent
from bot.nlu.clauses import asks_after, asks_next, plans_later
from bot.settings import Contacts

SUGGESTIONS = 3
AFTER_LAST_STEP = "followup"
"""The topic of what to do once the last of the eight steps is done."""
HANDOFF_BUTTON = {"title": "转人工", "payload": "/human_handoff"}
LOW_CONFIDENCE = 0.5
"""A topic answered below this NLU confidence is kept as a candidate for review."""
OFFERED_INTENTS = {  # a second question that is no guide topic is offered as a button
    "request_unbind": "我要申请解绑",
    "check_status": "查询解绑进度",
    "cancel_ticket": "取消解绑工单",
    "human_handoff": "转人工",
    "notices_on": "有进展时通知我",
    "notices_off": "不再接收进度通知",
}
MAYBE_QUESTION = 0.5
"""A second clause ranked this sure (but not sure enough to answer) is offered as a button."""
SAME_TOPIC_RUNNER_UP = 0.05
"""A later clause ranked as the topic already answered ("怎么备份 备份完数据会迁到新机吗")
offers the topic it ranked next as a button when that one is at least this sure."""
def topic_button(topic: Topic) -> dict[str, str]:
    return {"title": topic.title, "payload": topic.payload}


def utter_topic(
    dispatcher: CollectingDispatcher, topic_id: str, buttons: bool = True,
    extra: Sequence[dict[str, str]] = (), asked: str = "",
) -> None:
    """Send a topic's answer; its follow-up buttons (after ``extra``) on the last message.
    When the answer only says the guide does not state what ``asked`` asks ("审核要多久"),
    it answers that as out of scope too."""
    topic = load_topics()[topic_id]
    answers = [topic.intent, *(["out_of_scope"] if declined_aspects(asked, topic) else [])]
    messages = topic.render(Contacts.from_env())
    for message in messages[:-1]:
        dispatcher.utter_message(text=message, answers=answers)
    chosen = [*extra, *follow_up_buttons(topic)] if buttons else list(extra)
    unique = list({b["payload"]: b for b in chosen}.values())
    dispatcher.utter_message(text=messages[-1], buttons=unique, answers=answers)


def topic_text(tracker: Tracker, topic: Topic) -> str:
    """What the merchant asked about ``topic``: the clauses ranked as it, or the whole
    message when it was not split (or no clause ranks as the topic)."""
    clauses = [c for c in tracker.latest_message.get("clauses") or ()
               if (c.get("intent") or {}).get("name") == topic.intent]
    return " ".join(str(c.get("text") or "") for c in clauses) or latest_text(tracker)


def utter_unstated(
    dispatcher: CollectingDispatcher, topic: Topic, aspects: Sequence[Aspect],
    offer_topic: bool = True, extra: Sequence[dict[str, str]] = (),
) -> None:
    """The guide does not state what was asked (its cost, how long, where …): say so,
    give the ways to contact support (the contact topic's answer, details from
    configuration) and offer the topic the question was closest to."""
    names = "、".join(aspect.name for aspect in aspects)
    dispatcher.utter_message(
        text=f"解绑指南里没有写明{names}，我不能替海科融通回答，以免说错。"
             "这类具体问题请以海科融通客服的答复为准。",
        answers=["out_of_scope", "faq_contact_support"], unstated=[a.id for a in aspects],
    )
    contact = load_topics()["contact_support"]
    buttons = list(extra)
    if offer_topic and topic.id != contact.id:
        buttons.append({"title": f"查看“{topic.title}”", "payload": topic.payload})
    buttons.append(HANDOFF_BUTTON)
    unique = list({b["payload"]: b for b in buttons}.values())
    messages = contact.render(Contacts.from_env())
    for message in messages[:-1]:
        dispatcher.utter_message(text=message, answers=[contact.intent])
    dispatcher.utter_message(text=messages[-1], buttons=unique, answers=[contact.intent])


def other_clauses_text(tracker: Tracker, answered: Collection[str]) -> str:
    """The clauses of a message split into several that no answered topic ranked as
    ("要带什么资料，要收费吗" → "要收费吗" when only the materials topic is answered)."""
    clauses = tracker.latest_message.get("clauses") or ()
    if len(clauses) < 2:
        return ""
    return " ".join(str(c.get("text") or "") for c in clauses
                    if (c.get("intent") or {}).get("name") not in answered)


def utter_unstated_too(
    dispatcher: CollectingDispatcher, aspects: Sequence[Aspect], near: Topic | None = None
) -> None:
    """A further question of the same message about what the guide does not state (its
    cost, how long): said so honestly after the answer, with a button to the contacts
    (and to ``near``, the topic that question was closest to)."""
    names = "、".join(aspect.name for aspect in aspects)
    contact = load_topics()["contact_support"]
    shown = [topic_button(t) for t in (near, contact) if t is not None]
    dispatcher.utter_message(
        text=f"您还问到的{names}，解绑指南里没有写明，我不能替海科融通回答，以免说错。"
             "这类具体问题请以海科融通客服的答复为准。",
        buttons=list({b["payload"]: b for b in shown}.values()),
        answers=["out_of_scope"], unstated=[a.id for a in aspects],
    )


def unstated_elsewhere(tracker: Tracker, topics: Sequence[Topic]) -> list[Aspect]:
    """The aspects the other clauses ask that none of the answered ``topics`` states."""
    rest = other_clauses_text(tracker, [t.intent for t in topics])
    return [a for a in asked_aspects(rest) if not any(a.addressed_by(t, rest) for t in topics)]


def questions(tracker: Tracker, confident: bool = True) -> list[str]:
    """The distinct intents the latest message's clauses ask, in the order asked: the
    clauses the classifier marked as questions, or (``confident=False``) also those it
    ranked with at least ``MAYBE_QUESTION`` confidence."""
    asked = []
    for clause in tracker.latest_message.get("clauses") or ():
        intent = clause.get("intent") or {}
        name = intent.get("name")
        known = topic_for_intent(name) is not None or name in OFFERED_INTENTS
        sure = clause.get("question") or (
            not confident and float(intent.get("confidence") or 0.0) >= MAYBE_QUESTION)
        if sure and known and name not in asked:
            asked.append(name)
    return asked


def second_question_button(name: str) -> dict[str, str]:
    topic = topic_for_intent(name)
    if topic is not None:
        return {"title": f"您是不是还想问：{topic.title}", "payload": topic.payload}
    return {"title": OFFERED_INTENTS[name], "payload": f"/{name}"}


def request_asked_first(tracker: Tracker, topic: Topic) -> bool:
    """Whether the message asks to unbind before it asks about ``topic`` ("我要解绑 需要什么
    材料"): the request is acknowledged first, in the order asked; not a plan for later
    ("想下周去办解绑 这几天能先准备点啥": what is asked now is the question)."""
    asked = questions(tracker)
    request = " ".join(str(c.get("text") or "") for c in tracker.latest_message.get("clauses") or ()
                       if (c.get("intent") or {}).get("name") == "request_unbind")
    return ("request_unbind" in asked and topic.intent in asked and not plans_later(request)
            and asked.index("request_unbind") < asked.index(topic.intent))


def second_was_asked_first(tracker: Tracker, topic: Topic, second: Topic) -> bool:
    """True when the clauses ask ``second`` before ``topic`` (answer in the order asked)."""
    asked = questions(tracker)
    return (second.intent in asked and topic.intent in asked
            and asked.index(second.intent) < asked.index(topic.intent))


def answer_also_asked(
    dispatcher: CollectingDispatcher, tracker: Tracker, answered: Collection[str]
) -> None:
    """After the replies that answered ``answered`` (a status, a cancel, a hand-off), the
    guide question the same message also asked ("取消我的申请，然后告诉我怎么联系客服"):
    answered when its clause was sure, offered as a button when it was less sure."""
    asked = [q for q in questions(tracker) if q not in answered and topic_for_intent(q)]
    rest = other_clauses_text(tracker, answered)
    if asked:
        topic = topic_for_intent(asked[0])
        assert topic is not None
        # "…顺便问下正式解绑之后要干嘛": asked second, after the last step is the follow-up
        following = step_after(tracker, topic, past_last=True)
        if following is not None:
            utter_step_after(dispatcher, topic, following)
            topic = following
        else:
            dispatcher.utter_message(text=f"您还问到“{topic.title}”：", answers=[topic.intent])
        utter_topic(dispatcher, topic.id, buttons=False, asked=rest)
        unstated = unstated_aspects(rest, topic)
        if unstated:  # "取消申请，还有押金怎么退": the refund the guide does not state
            utter_unstated_too(dispatcher, unstated)
        return
    # "帮我查下进度 有变化的话通知我": another request of the same message, offered
    other = [q for q in questions(tracker) if q not in answered and q in OFFERED_INTENTS
             and q != "request_unbind"]
    if other:
        dispatcher.utter_message(text="您还提到：", buttons=[second_question_button(other[0])])
        return
    maybe = [q for q in questions(tracker, confident=False)
             if q not in answered and topic_for_intent(q)]
    offered = [t for t in (topic_for_intent(q) for q in maybe[:1]) if t is not None]
    unstated = [a for a in asked_aspects(rest) if not any(a.addressed_by(t, rest) for t in offered)]
    if unstated:
        utter_unstated_too(dispatcher, unstated)
        return
    if maybe:
        dispatcher.utter_message(text="您可能还想了解：",
                                 buttons=[second_question_button(maybe[0])])


def next_step_asked(tracker: Tracker, topic: Topic) -> Topic | None:
    """The step after ``topic`` when ``topic`` is one of the eight steps and the message
    also asks what comes after ("培训交接完是不是就正式解绑了 之后还要干嘛"): offered as a
    button, since the step asked about is answered first."""
    if topic.step is None or not asks_after(other_clauses_text(tracker, [topic.intent])):
        return None
    return following_step(topic)


def following_step(topic: Topic, past_last: bool = False) -> Topic | None:
    """What follows ``topic``, one of the eight steps: the next step, or (``past_last``)
    after the last one what the guide says to follow up once unbound."""
    assert topic.step is not None
    topics = load_topics()
    after = next((t for t in topics.values() if t.step == topic.step + 1), None)
    return after if after is not None or not past_last else topics.get(AFTER_LAST_STEP)


def step_after(tracker: Tracker, topic: Topic, past_last: bool = False) -> Topic | None:
    """The step after ``topic`` when ``topic`` is one of the eight steps, it is done, and the
    merchant asks what comes next in what they asked about it ("测试做完了 还剩哪一步",
    "冻结之后下一步是什么"), or in a clause after it that asks no question of its own
    ("测完了 还有一步是啥"): that next step is what they ask about."""
    clauses = tracker.latest_message.get("clauses") or ()
    unsure = [str(c.get("text") or "") for c in clauses
              if (c.get("intent") or {}).get("name") != topic.intent and not c.get("question")]
    asked = " ".join([topic_text(tracker, topic), *unsure])
    if topic.step is None or not asks_next(asked):
        return None
    return following_step(topic, past_last)


def utter_step_after(dispatcher: CollectingDispatcher, done: Topic, following: Topic) -> None:
    """Where the step asked from sits in the process and which step follows it; the
    following step's answer comes next."""
    text = (f"在解绑的八个步骤里，“{done.title}”之后是“{following.title}”："
            if following.step is not None
            else f"“{done.title}”是解绑的最后一步，之后是“{following.title}”：")
    dispatcher.utter_message(text=text, answers=[following.intent, "faq_process"])


def runner_up_of_repeat(tracker: Tracker, topic: Topic) -> Topic | None:
    """The topic ranked next for a later clause that ranks as ``topic`` again: a second
    question the classifier read as the first one's topic ("有问题找谁" after a follow-up
    question), offered when it is at least ``SAME_TOPIC_RUNNER_UP`` sure."""
    same = [c for c in tracker.latest_message.get("clauses") or ()
            if (c.get("intent") or {}).get("name") == topic.intent]
    for clause in same[1:]:
        runner_up = clause.get("runner_up") or {}
        other = topic_for_intent(runner_up.get("name"))
        if (other is not None and other.intent != topic.intent
                and float(runner_up.get("confidence") or 0.0) >= SAME_TOPIC_RUNNER_UP):
            return other
    return None


def confidence_of(tracker: Tracker, intent: str) -> float:
    ranking = tracker.latest_message.get("intent_ranking") or []
    return next((float(r.get("confidence") or 0.0) for r in ranking if r.get("name") == intent),
                0.0)


class ActionAnswerTopic(Action):
    """Answers the guide topic of the latest faq_* intent, and a second question asked in
    the same message (another topic: answered too; a request to unbind: the unbind form
    starts after the answer; anything else: offered as a button)."""

    def name(self) -> str:
        return "action_answer_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = tracker.get_intent_of_latest_message(skip_fallback_intent=True)
        topic = ordinal_step(latest_text(tracker)) or topic_for_intent(intent)
        if topic is None:
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        in_form = tracker.active_loop_name is not None
        done = topic
        following = step_after(tracker, topic)  # "测试做完了 还剩哪一步": the next step
        if following is not None:
            utter_step_after(dispatcher, topic, following)
            topic = following
        skip = {topic.intent, done.intent}
        asked = [q for q in questions(tracker) if q not in skip]
        maybe = [q for q in questions(tracker, confident=False) if q not in skip]
        # "我要解绑，要带什么资料": answer the question, then start the request.
        start_form = not in_form and "request_unbind" in asked
        if start_form:
            asked = [q for q in asked if q != "request_unbind"]
            maybe = [q for q in maybe if q != "request_unbind"]
        second = asked[0] if asked else None
        second_topic = topic_for_intent(second)
        offer = []
        if second is not None and second_topic is None:
            offer = [second_question_button(second)]
        elif second is None and maybe:
            offer = [second_question_button(maybe[0])]
        after = next_step_asked(tracker, topic) if following is None else done
        if after is not None:  # the step asked from is offered when the next one is answered
            offer.append(topic_button(after))
        repeat = runner_up_of_repeat(tracker, topic) if second is None and not maybe else None
        if repeat is not None:
            offer.append(second_question_button(repeat.intent))
        # Inside a form the form asks its question next, so keep the answer uncluttered.
        if second_topic is not None and second_was_asked_first(tracker, topic, second_topic):
            topic, second_topic = second_topic, topic
        quiet = in_form or start_form  # the form asks its question next
        if start_form and request_asked_first(tracker, topic):  # "我要解绑 要什么资料"
            dispatcher.utter_message(text="您说要办理解绑，先回答您的问题，然后开始登记。",
                                     answers=["request_unbind"])
        unstated = unstated_aspects(topic_text(tracker, topic), topic)
        if unstated:  # "解绑收费吗" → the process topic says nothing about cost
            utter_unstated(dispatcher, topic, unstated, extra=offer,
                           offer_topic=confidence_of(tracker, topic.intent) >= LOW_CONFIDENCE)
        else:
            utter_topic(dispatcher, topic.id, buttons=not quiet and second_topic is None,
                        extra=offer, asked=topic_text(tracker, topic))
        second_unstated = (unstated_aspects(topic_text(tracker, second_topic), second_topic)
                           if second_topic is not None else [])
        if second_unstated:  # "要带什么资料，要收费吗": the cost the guide does not state
            utter_unstated_too(dispatcher, second_unstated, near=second_topic)
        elif second_topic is not None:
            dispatcher.utter_message(text=f"您还问到“{second_topic.title}”：",
                                     answers=[second_topic.intent])
            utter_topic(dispatcher, second_topic.id, buttons=not quiet,
                        asked=topic_text(tracker, second_topic))
        if not unstated and not second_unstated:  # a clause no answered topic ranked as
            offered = topic_for_intent(maybe[0]) if second is None and maybe else None
            answered = [t for t in (topic, second_topic, offered) if t is not None]
            elsewhere = unstated_elsewhere(tracker, answered)
            if elsewhere:
                utter_unstated_too(dispatcher, elsewhere)
        if confidence_of(tracker, intent or "") < LOW_CONFIDENCE:
            record_candidate(tracker, "low_confidence")
        if start_form:
            dispatcher.utter_message(
                text="现在开始登记解绑申请。" if request_asked_first(tracker, topic)
                else "您说要办理解绑，我们现在就开始登记。", answers=["request_unbind"])
            return [FollowupAction("unbind_form")]
        return []

