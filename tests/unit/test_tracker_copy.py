"""A tracker copied from its state equals Rasa's copy replayed from its events."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.core.actions.forms import FormAction
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Restarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot import tracker_copy, tracker_history
from tests.unit.test_action_payload import long_conversation
from tests.unit.test_tracker_history import domain


def _state(tracker: DialogueStateTracker) -> dict[str, Any]:
    """Every attribute, slots by their attributes, events by identity."""
    state = {k: v for k, v in vars(tracker).items() if not k.startswith("_bot_")}
    state["slots"] = {name: vars(slot) for name, slot in tracker.slots.items()}
    state["events"] = [id(event) for event in tracker.events]
    ids = {id(event) for event in tracker.events}
    for name in ("latest_message", "latest_bot_utterance"):
        value = getattr(tracker, name)  # an event of the tracker, or an empty placeholder
        placeholder = ("placeholder", value == type(value).empty())
        state[name] = id(value) if id(value) in ids else placeholder
    return state


def _index(index: tracker_history.EventIndex) -> tuple:
    return (index.seen, index.users, index.slots, index.earliest, index.latest_session_start)


def test_copies_equal_rasas_as_the_conversation_grows() -> None:
    tracker = DialogueStateTracker("m1", domain().slots)
    tracker.model_id = "model-1"
    events = long_conversation()
    events[200:200] = [ConversationPaused(), ActionExecuted("action_listen")]
    events[260:260] = [ConversationResumed()]
    for index, event in enumerate(events):
        tracker.update(event)
        tracker_history.event_index(tracker)
        ours, theirs = tracker_copy.copy_tracker(tracker), tracker_copy.RASA_COPY(tracker)
        assert _index(tracker_history.event_index(ours)) == _index(
            tracker_history.event_index(theirs))  # carried over, equal to one built anew
        assert _state(ours) == _state(theirs), index
        assert ours.current_state() == theirs.current_state()
        if tracker.active_loop is not None:
            assert ours.active_loop is not tracker.active_loop
        ours.update(ActionExecuted("action_listen"))  # the copy is the action's own
        assert len(ours.events) == len(tracker.events) + 1
        assert _index(tracker_history.event_index(tracker)) == _index(
            tracker_history.event_index(theirs))  # the copy's update left ours alone
        assert all(a is not b for a, b in zip(ours.slots.values(), tracker.slots.values(),
                                               strict=True))


def test_empty_placeholders_are_recognised_as_rasas_equality_does() -> None:
    messages = [
        UserUttered.empty(), UserUttered(None), UserUttered(""), UserUttered("hi"),
        UserUttered(None, {"name": None}), UserUttered(None, {"name": "greet"}),
        UserUttered(None, {}, [{"entity": "merchant_id", "value": "1"}]),
        UserUttered(None, {}, []), UserUttered(None, {"confidence": 0.3}),
    ]
    for message in messages:
        assert tracker_copy.is_empty_message(message) == (message == UserUttered.empty())
    utterances = [
        BotUttered.empty(), BotUttered(), BotUttered(""), BotUttered("hi"),
        BotUttered(None, {"buttons": []}), BotUttered(None, {}), BotUttered(None, None),
        BotUttered(None, {"elements": None}), BotUttered("hi", {}),
        BotUttered(None, {}, {"utter_action": "utter_greet"}),
        BotUttered(None, {}, {"model_id": None}), BotUttered(None, {"text": ""}),
    ]
    for utterance in utterances:
        assert tracker_copy.is_empty_utterance(utterance) == (
            utterance == BotUttered.empty()), (utterance.text, utterance.data)
    assert [tracker_copy.is_empty_message(m) for m in messages[:3]] == [True, True, False]


@pytest.mark.parametrize("restarts", [False, True])
def test_form_validation_trackers_equal_rasas_replay(restarts: bool, monkeypatch) -> None:
    """The tracker a form sends its validator, at every third event of a long session,
    with and without restarts in it (with one, Rasa's replay is used)."""
    monkeypatch.setattr("time.time", lambda: 1_800_000_000.0)  # the form's new events
    model = domain()
    form = FormAction("unbind_form", None)
    events = [e for e in long_conversation() if restarts or not isinstance(e, Restarted)]
    assert any(isinstance(e, Restarted) for e in events) is restarts
    tracker = DialogueStateTracker("m1", model.slots)
    copies = checks = 0
    for index, event in enumerate(events):
        tracker.update(event)
        if index % 3:
            continue
        candidates = [SlotSet("merchant_id", f"86{index:013d}"), SlotSet("serial_number", None)]
        ours = tracker_copy.temporary_tracker(form, tracker, list(candidates), model)
        theirs = tracker_copy.RASA_TEMPORARY_TRACKER(form, tracker, list(candidates), model)
        assert ours.current_state(EventVerbosity.ALL) == theirs.current_state(
            EventVerbosity.ALL), index
        assert {n: vars(s) for n, s in ours.slots.items()} == {
            n: vars(s) for n, s in theirs.slots.items()}
        assert _index(tracker_history.event_index(ours)) == _index(
            tracker_history.event_index(theirs))
        assert ours.sender_source == theirs.sender_source and ours.events is not tracker.events
        checks += 1
        copies += len(ours.events) > len(theirs.events) or ours.events[0] is events[0]
    # without a restart every tracker is a copy; after the first one, Rasa's replay
    assert copies == checks > 100 if not restarts else 0 < copies < checks
