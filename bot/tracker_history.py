"""A tracker's applied events and past states, extended as events arrive.

Rasa works both out from the first event of the session on every call:
``applied_events()`` walks every event, and ``past_states()`` replays every applied event
on a fresh tracker to take a state before each action. The rule policy asks for the
states on every prediction, several times per turn, so a turn cost grew with the length
of the conversation (docs/benchmarks.md, "Long conversation").

Both are forward scans whose result for a history is the result for its beginning plus
the newer events. Each tracker keeps its scans (in its ``__dict__``) and feeds them only
the events they have not seen. A scan starts again from the first event whenever what it
saw is no longer the beginning of the history: events replaced or dropped, an undo that
reaches back into what was seen, or a form name (``active_loop``) that appears for the
first time, which changes how Rasa reads earlier executions of that action. Inside a form,
where Rasa drops each turn's listen and message once the form runs again, the state scan
goes back to a copy of itself taken just after the form's first run instead.

An ``EventIndex`` kept the same way answers the other questions asked of the whole
history on each turn: where the latest user messages and each slot's events are (the
action server's payload, ``bot.action_payload``; the 统计 counters' failed attempts,
``bot.stores``) and whether loading the session back returns every event
(``bot.tracker_cache``). The scans hold references to the tracker's own events, plus one
replayed tracker and its states per set of arguments (and, in a form, that copy): about
two to three times a tracker's memory.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import operator
from dataclasses import dataclass, field
from typing import Any

from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import (
    ActionExecuted,
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

RASA_APPLIED_EVENTS = DialogueStateTracker.applied_events
RASA_PAST_STATES = DialogueStateTracker.past_states
_APPLIED = "_bot_applied_scan"
_STATES = "_bot_state_scans"
_INDEX = "_bot_event_index"


@dataclass
class AppliedScan:
    """Rasa's ``applied_events`` loop, paused after ``seen`` events."""

    seen: int = 0
    first: Event | None = None
    last: Event | None = None
    loop_names: set[str] = field(default_factory=set)
    applied: list[Event] = field(default_factory=list)

    def continues(self, events: Any) -> bool:
        """Whether ``events`` begins with the events this scan has seen."""
        if self.seen == 0:
            return True
        return (len(events) >= self.seen and events[0] is self.first
                and events[self.seen - 1] is self.last)


def _apply(tracker: DialogueStateTracker, scan: AppliedScan, event: Event) -> None:
    """One step of Rasa's loop (``DialogueStateTracker.applied_events``)."""
    applied = scan.applied
    if isinstance(event, (Restarted, SessionStarted)):
        scan.applied = []
    elif isinstance(event, ActionReverted):
        tracker._undo_till_previous(ActionExecuted, applied)
    elif isinstance(event, UserUtteranceReverted):
        tracker._undo_till_previous(UserUttered, applied)
        tracker._undo_till_previous(ActionExecuted, applied)
    elif (
        isinstance(event, ActionExecuted)
        and event.action_name in scan.loop_names
        and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)
    ):
        tracker._undo_till_previous_loop_execution(event.action_name, applied)
    else:
        applied.append(event)


def _loop_names(events: list[Event]) -> set[str]:
    return {e.name for e in events if isinstance(e, ActiveLoop) and e.name}


def applied_events(tracker: DialogueStateTracker) -> list[Event]:
    """``DialogueStateTracker.applied_events``, scanning only events not seen before."""
    events = tracker.events
    scan: AppliedScan | None = tracker.__dict__.get(_APPLIED)
    if scan is None or not scan.continues(events):
        scan = AppliedScan()
    new = list(itertools.islice(events, scan.seen, None))
    names = _loop_names(new)
    if not names <= scan.loop_names and scan.seen:
        scan = AppliedScan()  # a new form name changes how earlier events read
        new = list(events)
        names = _loop_names(new)
    scan.loop_names |= names
    for event in new:
        _apply(tracker, scan, event)
    scan.seen = len(events)
    scan.first = events[0] if events else None
    scan.last = events[-1] if events else None
    tracker.__dict__[_APPLIED] = scan
    return list(scan.applied)


@dataclass
class EventIndex:
    """Where the user messages and each slot's events are, among the first ``seen``
    events, and the timestamps that decide whether loading returns them all."""

    seen: int = 0
    first: Event | None = None
    last: Event | None = None
    users: list[int] = field(default_factory=list)
    slots: dict[str, list[int]] = field(default_factory=dict)
    earliest: float = float("inf")
    latest_session_start: float | None = None

    def latest_slot_event(self, events: list[Event], slot: str, before: int) -> Event | None:
        """The newest ``slot`` event for ``slot`` among ``events[:before]``."""
        positions = self.slots.get(slot, [])
        at = bisect.bisect_left(positions, before)
        return events[positions[at - 1]] if at else None


def event_index(tracker: DialogueStateTracker, events: list[Event] | None = None) -> EventIndex:
    """The tracker's index, extended to its events (``events``: ``list(tracker.events)``
    if the caller has it); rebuilt when its history was replaced."""
    events = list(tracker.events) if events is None else events
    index: EventIndex | None = tracker.__dict__.get(_INDEX)
    if index is None or index.seen > len(events) or (index.seen and (
            events[0] is not index.first or events[index.seen - 1] is not index.last)):
        index = EventIndex()
    for position in range(index.seen, len(events)):
        event = events[position]
        index.earliest = min(index.earliest, event.timestamp)
        if isinstance(event, UserUttered):
            index.users.append(position)
        elif isinstance(event, SlotSet):
            index.slots.setdefault(event.key, []).append(position)
        elif isinstance(event, SessionStarted):
            latest = index.latest_session_start
            index.latest_session_start = (event.timestamp if latest is None
                                          else max(latest, event.timestamp))
    index.seen = len(events)
    index.first, index.last = (events[0], events[-1]) if events else (None, None)
    tracker.__dict__[_INDEX] = index
    return index


def copy_index(source: DialogueStateTracker, target: DialogueStateTracker) -> None:
    """Give ``target``, a copy of ``source`` with the same events, its own copy of the
    event index, so that it is not built again from the first event."""
    index: EventIndex | None = source.__dict__.get(_INDEX)
    if index is not None:
        target.__dict__[_INDEX] = dataclasses.replace(
            index, users=list(index.users),
            slots={name: list(positions) for name, positions in index.slots.items()})


@dataclass
class StateScan:
    """Rasa's ``Domain.states_for_tracker_history`` loop, paused after ``seen`` events."""

    domain: Domain
    replay: DialogueStateTracker
    omit_unset_slots: bool
    ignore_rule_only_turns: bool
    rule_only_data: dict[str, Any] | None
    seen: list[Event] = field(default_factory=list)
    states: list[State] = field(default_factory=list)
    last_ml_action: Any = None
    turn_was_hidden: bool = False
    checkpoint: StateScan | None = None  # this scan just after its latest form execution

    def snapshot(self) -> StateScan:
        """This scan as it stands, with its own copy of the replayed tracker."""
        from bot.tracker_copy import copy_tracker  # it imports this module

        return dataclasses.replace(self, replay=copy_tracker(self.replay),
                                   seen=list(self.seen), states=list(self.states),
                                   checkpoint=None)

    def state_before_action(self, hide_rule_turn: bool, keep: bool = True) -> State | None:
        """The loop body for one prior tracker; ``keep=False`` leaves the scan as it was."""
        domain, replay = self.domain, self.replay
        last_ml_action, turn_was_hidden = self.last_ml_action, self.turn_was_hidden
        state: State | None = None
        if self.ignore_rule_only_turns:
            if not turn_was_hidden:
                last_ml_action = domain._get_prev_action_sub_state(replay)
            if not replay.followup_action and replay.latest_action_name != (
                    replay.active_loop_name):
                turn_was_hidden = hide_rule_turn
        if not (self.ignore_rule_only_turns and turn_was_hidden):
            state = domain.get_active_state(replay, omit_unset_slots=self.omit_unset_slots)
            if self.ignore_rule_only_turns:
                domain._remove_rule_only_features(state, self.rule_only_data)
                if self.states:
                    domain._substitute_rule_only_user_input(state, self.states[-1])
                if last_ml_action:
                    state[PREVIOUS_ACTION] = last_ml_action  # type: ignore[literal-required]
            state = domain._clean_state(state)
        if keep:
            self.last_ml_action, self.turn_was_hidden = last_ml_action, turn_was_hidden
            if state is not None:
                self.states.append(state)
        return state


def _scan(
    tracker: DialogueStateTracker, domain: Domain, omit_unset_slots: bool,
    ignore_rule_only_turns: bool, rule_only_data: dict[str, Any] | None,
) -> tuple[StateScan, State]:
    """The tracker's scan for these arguments, fed every applied event; the final state."""
    applied = applied_events(tracker)
    scans: dict[tuple, StateScan] = tracker.__dict__.setdefault(_STATES, {})
    key = (omit_unset_slots, ignore_rule_only_turns, repr(rule_only_data))
    scan = scans.get(key)
    seen = len(scan.seen) if scan else 0
    if (scan is None or scan.domain is not domain or scan.rule_only_data != rule_only_data
            or len(applied) < seen or not all(map(operator.is_, scan.seen, applied))):
        scan = scans[key] = _resumed(scan, applied, domain, rule_only_data) or StateScan(
            domain, tracker.init_copy(), omit_unset_slots, ignore_rule_only_turns,
            rule_only_data)
        seen = len(scan.seen)
    forms = domain.form_names
    for event in applied[seen:]:
        if isinstance(event, ActionExecuted):
            scan.state_before_action(event.hide_rule_turn)
        scan.replay.update(event)
        scan.seen.append(event)
        if isinstance(event, ActionExecuted) and event.action_name in forms:
            scan.checkpoint = scan.snapshot()
    final = scan.state_before_action(False, keep=False)
    return scan, final


def _resumed(scan: StateScan | None, applied: list[Event], domain: Domain,
             rule_only_data: dict[str, Any] | None) -> StateScan | None:
    """The scan's checkpoint, if the history still begins with what it had seen.

    Inside a form Rasa's ``applied_events`` drops the listen and user message of each
    turn once the form runs again (``_undo_till_previous_loop_execution``), but keeps
    everything up to the form's first execution, and that execution: the scan resumes
    from a copy of itself taken just after it.
    """
    if scan is None or scan.domain is not domain or scan.rule_only_data != rule_only_data:
        return None
    checkpoint = scan.checkpoint
    if checkpoint is None or len(checkpoint.seen) > len(applied) or not all(
            map(operator.is_, checkpoint.seen, applied)):
        return None
    resumed = checkpoint.snapshot()  # the checkpoint stays as it is for the next turns
    resumed.checkpoint = checkpoint
    return resumed


def past_states(
    tracker: DialogueStateTracker, domain: Domain, omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False, rule_only_data: dict[str, Any] | None = None,
    last: int | None = None,
) -> list[State]:
    """Rasa's ``past_states`` (only the ``last`` ones if given), as fresh dictionaries.

    The states are copied down to their per-key dictionaries, which Rasa's featurizers
    edit in place.
    """
    scan, final = _scan(tracker, domain, omit_unset_slots, ignore_rule_only_turns,
                        rule_only_data)
    states = scan.states if final is None else [*scan.states, final]
    if last is not None:
        states = states[-last:] if last > 0 else []
    return [{name: dict(sub) for name, sub in state.items()} for state in states]


def _past_states(
    self: DialogueStateTracker, domain: Domain, omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False, rule_only_data: dict[str, Any] | None = None,
) -> list[State]:
    """``DialogueStateTracker.past_states``, from the tracker's scan."""
    return past_states(self, domain, omit_unset_slots, ignore_rule_only_turns,
                       rule_only_data)


def install() -> None:
    """Use the scans for every tracker in this process."""
    DialogueStateTracker.applied_events = applied_events  # type: ignore[method-assign]
    DialogueStateTracker.past_states = _past_states  # type: ignore[method-assign]
