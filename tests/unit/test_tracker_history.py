"""Applied events, past states and rule predictions: ours equal stock Rasa's, turn by turn.

The trackers are our own conversations (tests/conversations and the rules of data/rules,
one after another in one long session), with undo, restart and rejected-form events mixed
in, fed to one tracker event by event as a live conversation grows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache

from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

from bot import rasa_fixes, rule_window, tracker_history
from bot.paths import ROOT

rasa_fixes.install()
RULE_ONLY = {"rule_only_slots": ["handoff_offered"], "rule_only_loops": []}
ARGS = ((False, False, None), (True, False, None), (False, True, RULE_ONLY),
        (True, True, RULE_ONLY))


@contextlib.contextmanager
def stock_rasa() -> Iterator[None]:
    """Rasa's own applied_events, past_states and RulePolicy states for the block."""
    ours = (DialogueStateTracker.applied_events, DialogueStateTracker.past_states,
            RulePolicy._prediction_states, RulePolicy._get_possible_keys)
    DialogueStateTracker.applied_events = tracker_history.RASA_APPLIED_EVENTS
    DialogueStateTracker.past_states = tracker_history.RASA_PAST_STATES
    RulePolicy._prediction_states = rule_window.RASA_PREDICTION_STATES
    RulePolicy._get_possible_keys = rule_window.RASA_GET_POSSIBLE_KEYS
    try:
        yield
    finally:
        (DialogueStateTracker.applied_events, DialogueStateTracker.past_states,
         RulePolicy._prediction_states, RulePolicy._get_possible_keys) = ours


@lru_cache(maxsize=1)
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def conversation(mixed_in: bool = True) -> list[Event]:
    """Our stories and rules as one session, with undos, restarts and rejections."""
    events: list[Event] = [ActionExecuted("action_session_start"), SessionStarted(),
                           ActionExecuted("action_listen")]
    paths = sorted((ROOT / "tests" / "conversations").glob("*.yml"))
    paths += sorted((ROOT / "data" / "rules").glob("*.yml"))
    for path in paths:
        for step in YAMLStoryReader(domain()).read_from_file(str(path)):
            events += step.explicit_events(domain())
    if not mixed_in:
        return events[3:]
    extras: dict[int, list[Event]] = {
        40: [UserUtteranceReverted()],
        90: [ActionExecutionRejected("unbind_form")],
        150: [ActionReverted()],
        260: [Restarted(), ActionExecuted("action_listen")],
        400: [UserUttered("我要解绑", {"name": "request_unbind", "confidence": 1.0}),
              ActionExecuted("unbind_form"), ActiveLoop("unbind_form"),
              UserUtteranceReverted(), UserUtteranceReverted()],
        520: [ActionExecuted("action_session_start"), SessionStarted(),
              SlotSet("merchant_id", "849581058120003"), ActionExecuted("action_listen")],
    }
    mixed: list[Event] = []
    for index, event in enumerate(events):
        mixed += extras.get(index, [])
        mixed.append(event)
    return mixed


def test_applied_events_and_past_states_equal_rasas_as_the_tracker_grows() -> None:
    tracker = DialogueStateTracker("m1", domain().slots)
    events = conversation()
    assert len(events) > 700
    for index, event in enumerate(events):
        tracker.update(event)
        if index % 3 and index < len(events) - 1:
            continue  # every third prefix keeps the test quick; each is a new scan step
        with stock_rasa():
            applied = tracker.applied_events()
            expected = [tracker.past_states(domain(), *args) for args in ARGS]
        assert tracker.applied_events() == applied
        assert all(e is f for e, f in zip(tracker.applied_events(), applied, strict=True))
        for args, states in zip(ARGS, expected, strict=True):
            ours = tracker.past_states(domain(), *args)
            assert ours == states, (index, args)
            for state in ours:  # the featurizer edits what it is given
                for sub in state.values():
                    sub.clear()
            assert tracker.past_states(domain(), *args) == states


def test_a_form_name_seen_late_changes_earlier_events_as_in_rasa() -> None:
    listen = ActionExecuted("action_listen")
    tracker = DialogueStateTracker("m2", domain().slots)
    early = [listen, UserUttered("a", {"name": "inform"}), ActionExecuted("other_form"),
             ActionExecuted("other_form"), listen]
    for event in early:
        tracker.update(event)
    before = tracker.applied_events()
    tracker.update(ActiveLoop("other_form"))
    with stock_rasa():
        expected = tracker.applied_events()
    assert tracker.applied_events() == expected
    assert len(expected) != len(before) + 1  # the late name made Rasa drop an execution


def test_a_replaced_history_is_scanned_again() -> None:
    tracker = DialogueStateTracker("m3", domain().slots)
    for event in conversation()[:60]:
        tracker.update(event)
    tracker.applied_events()
    tracker.past_states(domain())
    tracker.events.clear()
    for event in conversation()[100:130]:
        tracker.update(event)
    with stock_rasa():
        expected = (tracker.applied_events(), tracker.past_states(domain()))
    assert (tracker.applied_events(), tracker.past_states(domain())) == expected


def _rule_policy() -> tuple[RulePolicy, Domain]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(ROOT / "models" / "bot.tar.gz"))
    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    policy = next(n._component for n in nodes if isinstance(n._component, RulePolicy))
    return policy, agent.domain


def test_rule_predictions_equal_rasas_on_a_long_conversation() -> None:
    policy, model_domain = _rule_policy()
    assert 2 < rule_window.window(policy) < 20
    tracker = DialogueStateTracker("m4", model_domain.slots)
    events = conversation()
    events += conversation(mixed_in=False) * 3  # a long session after the last restart
    predictions = 0
    for index, event in enumerate(events):
        if isinstance(event, ActionExecuted) and index % 4 == 0:
            rule_only = policy._get_rule_only_data()
            with stock_rasa():
                expected = policy.predict_action_probabilities(
                    tracker, model_domain, rule_only_data=rule_only)
            ours = policy.predict_action_probabilities(tracker, model_domain,
                                                       rule_only_data=rule_only)
            assert ours == expected, index
            assert ours.max_confidence == expected.max_confidence
            predictions += 1
        tracker.update(event)
    assert predictions > 300
    assert len(tracker.past_states(model_domain)) > 10 * rule_window.window(policy)


def test_the_event_index_finds_what_a_scan_of_all_events_finds() -> None:
    from rasa.shared.core.events import SessionStarted as Started

    tracker = DialogueStateTracker("m5", domain().slots)
    events = conversation()
    events[300:300] = [SlotSet("failed_attempts", {"merchant_id": 1}), SlotSet("x", 1)]
    events[500:500] = [SlotSet("failed_attempts", "not a dict")]
    slots = {"failed_attempts", "merchant_id", "requested_slot", "x", "none"}
    for count, event in enumerate(events, start=1):
        tracker.update(event)
        if count % 7:
            continue
        stored = list(tracker.events)
        index = tracker_history.event_index(tracker)
        for before in (0, count // 2, count):
            for slot in slots:
                found = [e for e in stored[:before] if isinstance(e, SlotSet) and e.key == slot]
                assert index.latest_slot_event(stored, slot, before) is (
                    found[-1] if found else None)
        assert [stored[i] for i in index.users] == [
            e for e in stored if isinstance(e, UserUttered)]
        starts = [e.timestamp for e in stored if isinstance(e, Started)]
        assert index.latest_session_start == (max(starts) if starts else None)
        assert index.earliest == min(e.timestamp for e in stored)


def test_possible_rule_keys_equal_rasas_in_the_same_order() -> None:
    """Same keys, iterated in the same order (``max`` breaks ties by it), for both rule
    tables at every few events, with the whole history's states and the window's."""
    policy, model_domain = _rule_policy()
    tracker = DialogueStateTracker("m5", model_domain.slots)
    checked = nonempty = 0
    for index, event in enumerate(conversation()):
        tracker.update(event)
        if index % 3:
            continue
        with stock_rasa():
            states = tracker.past_states(model_domain)
        for table in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH):
            lookup = policy.lookup[table]
            for seen in (states, states[-rule_window.window(policy):]):
                ours = rule_window._get_possible_keys(policy, lookup, seen)
                theirs = rule_window.RASA_GET_POSSIBLE_KEYS(policy, lookup, seen)
                assert list(ours) == list(theirs), index
                checked += 1
                nonempty += bool(ours)
    assert checked > 400 and nonempty > 100


def test_inside_a_form_the_scan_resumes_from_the_latest_form_run(monkeypatch) -> None:
    """Rasa drops the previous turn's listen and message once the form runs again; the
    scan goes back to its checkpoint instead of replaying the session, and its states
    stay Rasa's at every event."""
    listen = ActionExecuted("action_listen")
    events: list[Event] = [ActionExecuted("action_session_start"), SessionStarted(), listen,
                           UserUttered("我要解绑", {"name": "request_unbind"}),
                           ActionExecuted("unbind_form"), ActiveLoop("unbind_form"),
                           SlotSet("requested_slot", "merchant_id"), listen]
    for n, slot in enumerate(["merchant_id", "serial_number", "contact_phone"] * 3):
        events += [UserUttered(f"值{n}", {"name": "inform"}), SlotSet(slot, f"v{n}"),
                   ActionExecuted("unbind_form"), SlotSet("requested_slot", slot), listen]
    tracker = DialogueStateTracker("m6", domain().slots)
    starts = []
    real_init_copy = DialogueStateTracker.init_copy
    monkeypatch.setattr(DialogueStateTracker, "init_copy",
                        lambda self: starts.append(1) or real_init_copy(self))
    restarted = []
    for index, event in enumerate(events):
        tracker.update(event)
        for args in ARGS:
            with stock_rasa():
                expected = tracker.past_states(domain(), *args)
            starts_before = len(starts)
            assert tracker.past_states(domain(), *args) == expected
            if len(starts) > starts_before:
                restarted.append(index)
    with stock_rasa():
        assert len(tracker.applied_events()) < len(events) - 9  # Rasa did drop turns
    # Scans start at the first event and again at the session start, then never again.
    assert restarted == [0] * len(ARGS) + [1] * len(ARGS)
