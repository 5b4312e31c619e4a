"""The trimmed events sent to the action server read as the whole history does."""

from __future__ import annotations

import ast
from pathlib import Path

from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa_sdk import Tracker

from actions import replies, suggestions, unbind_form
from bot import action_payload, rasa_fixes
from bot.paths import ROOT
from tests.unit.test_tracker_history import conversation, domain

rasa_fixes.install()
SLOTS = ["merchant_id", "serial_number", "contact_phone", "unbind_reason", "requested_slot",
         "handoff_offered"]
# Every function of actions/ that reads ``tracker.events`` (or is handed them), checked below.
READERS = {("unbind_form", "latest_text"), ("unbind_form", "value_before_this_turn"),
           ("replies", "user_texts"), ("suggestions", "run")}


def _fallback(text: str) -> UserUttered:
    return UserUttered(text, {"name": "nlu_fallback", "confidence": 0.2})


def long_conversation() -> list:
    """Our stories, then slots changed mid-form, not-understood streaks and a hand-off."""
    events = conversation()
    listen = ActionExecuted("action_listen")
    for n in range(30):
        events += [listen, _fallback(f"啥{n}"), ActionExecuted("action_suggest_topics")]
        if n % 4 == 0:
            events += [listen, UserUttered(f"商户号改成86{n:013d}", {"name": "inform"}),
                       SlotSet("merchant_id", f"86{n:013d}"), SlotSet("requested_slot", None)]
        if n % 7 == 0:
            events += [ActionExecuted("action_human_handoff"), SlotSet("handoff_offered", True)]
        if n % 5 == 0:
            events += [listen, UserUttered("好的", {"name": "affirm"}),
                       SlotSet("contact_phone", "13812345678"), SlotSet("serial_number", None)]
    return events


def _readings(tracker: Tracker) -> tuple:
    users = replies.user_texts(tracker)
    return (
        unbind_form.latest_text(tracker),
        [(u.get("text"), u["parse_data"].get("intent"), u.get("input_channel"))
         for u in users[-2:]],  # what record_candidate keeps
        tracker.get_latest_input_channel(),
        suggestions.low_confidence_streak(tracker.events) >= suggestions.LOW_CONFIDENCE_STREAK,
        min(suggestions.low_confidence_streak(tracker.events), suggestions.LOW_CONFIDENCE_STREAK),
        {slot: unbind_form.value_before_this_turn(tracker, slot) for slot in SLOTS},
        tracker.slots_to_validate(),
    )


def _sdk_tracker(payload: dict) -> Tracker:
    return Tracker.from_dict(payload["tracker"])


def test_actions_read_the_same_from_the_trimmed_events_as_from_all() -> None:
    tracker = DialogueStateTracker("m1", domain().slots)
    action = RemoteAction("action_answer_topic", None)
    trimmed_calls = in_form = 0
    for index, event in enumerate(long_conversation()):
        tracker.update(event)
        if index % 5:
            continue
        loop = tracker.active_loop
        ours = action._action_call_format(tracker, domain())
        assert tracker.active_loop is loop  # set aside for the state, then put back
        in_form += bool(ours["tracker"]["active_loop"].get("name"))
        theirs = action_payload.RASA_ACTION_CALL_FORMAT(action, tracker, domain())
        assert {k: v for k, v in ours.items() if k != "tracker"} == {
            k: v for k, v in theirs.items() if k != "tracker"}
        assert {k: v for k, v in ours["tracker"].items() if k != "events"} == {
            k: v for k, v in theirs["tracker"].items() if k != "events"}
        assert _readings(_sdk_tracker(ours)) == _readings(_sdk_tracker(theirs)), index
        trimmed_calls += len(ours["tracker"]["events"]) < len(theirs["tracker"]["events"])
    assert trimmed_calls > 100 and in_form > 20
    assert len(ours["tracker"]["events"]) < len(theirs["tracker"]["events"]) / 10


def test_events_are_sent_with_the_fields_actions_read() -> None:
    ranking = [{"name": "faq_materials", "confidence": 0.9}, {"name": "greet", "confidence": 0.1}]
    user = UserUttered("要带啥", {"name": "faq_materials", "confidence": 0.9}, [],
                       {"intent_ranking": ranking, "text_tokens": [[0, 3]]},
                       input_channel="rest", message_id="m")
    bot = BotUttered("带身份证", {"buttons": [{"title": "下一步", "payload": "/x"}]},
                     {"utter_action": "utter_x"})
    slot = SlotSet("merchant_id", "86")
    sent_user, sent_bot, sent_slot = (action_payload.for_actions(e.as_dict())
                                      for e in (user, bot, slot))
    assert sent_user["parse_data"] == {
        "intent": {"name": "faq_materials", "confidence": 0.9}, "entities": [], "text": "要带啥"}
    assert {k: v for k, v in sent_user.items() if k != "parse_data"} == {
        k: v for k, v in user.as_dict().items() if k != "parse_data"}
    assert sent_bot == {k: v for k, v in bot.as_dict().items() if k not in ("data", "metadata")}
    assert sent_slot == slot.as_dict()


def test_a_short_conversation_is_sent_whole() -> None:
    tracker = DialogueStateTracker("m2", domain().slots)
    for event in conversation()[:12]:
        tracker.update(event)
    state = tracker.current_state(EventVerbosity.ALL)
    payload = RemoteAction("action_x", None)._action_call_format(tracker, domain())
    assert payload["tracker"]["events"] == [action_payload.for_actions(e)
                                            for e in state["events"]]


def test_the_window_covers_what_the_actions_read() -> None:
    assert action_payload.USER_TURNS > suggestions.LOW_CONFIDENCE_STREAK
    assert action_payload.USER_TURNS >= 2  # user_texts(...)[-2]


def test_every_reader_of_the_events_is_one_checked_here() -> None:
    """A new action reading ``tracker.events`` must be added to the readings above."""
    found = set()
    for path in sorted((ROOT / "actions").glob("*.py")):
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute) and node.attr in (
                        "events", "get_last_event_for", "events_after_latest_restart",
                        "applied_events"):
                    found.add((path.stem, function.name))
    assert found == READERS


def test_requests_are_encoded_as_json_dumps_encodes_them_with_the_domain_once(
    monkeypatch,
) -> None:
    import asyncio
    import json

    from rasa.shared.core.domain import Domain
    from rasa.utils.endpoints import EndpointConfig

    project = Domain.load(str(ROOT / "domain.yml")).as_dict()
    bodies = [
        {"next_action": "validate_unbind_form", "sender_id": "商户-1",
         "tracker": {"events": [{"event": "user", "text": "我要解绑"}]},
         "version": "3.6.21", "domain": project},
        {"next_action": "action_answer_topic", "tracker": {"slots": {}}},  # no domain
        {"domain": project},
        {"domain": project, "next_action": "x"},  # domain not last: encoded as a whole
        [1, "二"],
    ]
    for body in bodies:
        assert action_payload.encode_request(body) == json.dumps(body)

    dumped = []
    real_dumps = json.dumps
    monkeypatch.setattr(action_payload.json, "dumps",
                        lambda value, **kw: dumped.append(value) or real_dumps(value, **kw))
    text = action_payload.encode_request(bodies[0])
    assert json.loads(text) == bodies[0] and project not in dumped  # kept from before
    other = json.loads(json.dumps(project))  # an equal domain of another model
    other["responses"]["utter_greet"] = [{"text": "新模型的问候"}]
    assert json.loads(action_payload.encode_request({**bodies[0], "domain": other})) == {
        **bodies[0], "domain": other}

    async def session_serialiser():
        async with EndpointConfig("http://127.0.0.1:9/webhook").session() as session:
            return session._json_serialize

    rasa_fixes.install()
    assert asyncio.run(session_serialiser()) is action_payload.encode_request
