"""The action server is sent the events its actions read, not the whole conversation.

Rasa sends every event of the tracker with each call to the action server, and the
action server parses them all: at 600 turns that was most of a turn's time in both
processes (docs/benchmarks.md, "Long conversation"). Our actions (actions/) read only
the end of the history:

- the latest user messages: the text typed (``latest_text``), the one before it
  (``user_texts``), the streak of not-understood messages up to
  ``LOW_CONFIDENCE_STREAK`` (``low_confidence_streak``);
- the value a slot had before the latest message (``value_before_this_turn``): the
  latest ``slot`` event for it before that message, however old;
- the trailing ``slot`` events of a form's extraction (rasa_sdk's ``slots_to_validate``).

So the events sent are those from the ``USER_TURNS``-th latest user message on, preceded
by, for each slot, its latest ``slot`` event before that point (in their original order).
Each event is sent with the fields the actions read (``for_actions``): a user message
without the NLU's full ranking, tokens and clauses (the latest message, with all of them,
is sent apart as ``latest_message``), a bot message without its buttons and payloads.
Every reader above finds the same in that list as in the whole history
(tests/unit/test_action_payload.py). Slots, the latest message, the active loop and the
rest of the tracker state are sent as Rasa sends them.

The domain, which Rasa adds to the form validators' requests (``enable_selective_domain``
in endpoints.yml), is the same dictionary on every call (``Domain.as_dict()`` returns the
domain's own): ``encode_request`` JSON-encodes it once and splices that text into each
request instead of encoding its 8 KB again (the shared HTTP session of
``bot.rasa_fixes`` serialises with it).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from typing import Any

from rasa.core.actions.action import RemoteAction
from rasa.shared.core.constants import ACTIVE_LOOP
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.tracker_history import event_index

_encoded_domain: list[tuple[dict[str, Any], str]] = []
USER_TURNS = 5  # > actions.suggestions.LOW_CONFIDENCE_STREAK, and ≥ 2 for user_texts
RASA_ACTION_CALL_FORMAT = RemoteAction._action_call_format


def events_for_actions(tracker: DialogueStateTracker) -> list[Event]:
    """The events our actions need: see the module docstring."""
    events = list(tracker.events)
    index = event_index(tracker, events)
    if len(index.users) <= USER_TURNS:
        return events
    cut = index.users[-USER_TURNS]
    earlier = []
    for positions in index.slots.values():
        before = bisect.bisect_left(positions, cut)
        if before:
            earlier.append(positions[before - 1])
    return [events[i] for i in sorted(earlier)] + events[cut:]


def _action_call_format(self: RemoteAction, tracker: DialogueStateTracker,
                        domain: Any) -> dict[str, Any]:
    """Rasa's request to the action server, with ``events_for_actions`` as the events."""
    result = RASA_ACTION_CALL_FORMAT(self, _NoEvents(tracker), domain)
    result["tracker"]["events"] = [for_actions(event.as_dict())
                                   for event in events_for_actions(tracker)]
    return result


USER_PARSE_DATA = ("intent", "entities", "text")
"""What of a user message's ``parse_data`` the actions read in ``tracker.events``."""
BOT_DROPPED = ("data", "metadata")


def for_actions(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` (a dictionary of Rasa's) with only the fields actions read: half the
    request, encoded by Rasa and parsed by the action server on every call."""
    kind = event.get("event")
    if kind == "user" and isinstance(event.get("parse_data"), dict):
        parsed = event["parse_data"]
        return {**event, "parse_data": {k: parsed[k] for k in USER_PARSE_DATA if k in parsed}}
    if kind == "bot":
        return {k: v for k, v in event.items() if k not in BOT_DROPPED}
    return event


class _NoEvents:
    """The tracker as Rasa's request builder sees it, minus the serialising of events."""

    def __init__(self, tracker: DialogueStateTracker) -> None:
        self._tracker = tracker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)

    def current_state(self, event_verbosity: EventVerbosity = EventVerbosity.NONE) -> Any:
        """Rasa's state without events, the active loop's fields given as they are: Rasa's
        ``dataclasses.asdict`` deep-copies the form's trigger message (2% of the server's
        CPU under load), and this state is only JSON-encoded."""
        tracker = self._tracker
        loop = tracker.active_loop
        if loop is None:
            return tracker.current_state(EventVerbosity.NONE)
        tracker.active_loop = None  # no await in between: no other turn sees it
        try:
            state = tracker.current_state(EventVerbosity.NONE)
        finally:
            tracker.active_loop = loop
        state[ACTIVE_LOOP] = {field.name: getattr(loop, field.name)
                              for field in dataclasses.fields(loop)}
        return state


def encode_request(body: Any) -> str:
    """``json.dumps(body)``, with a ``domain`` dictionary seen before encoded only once.

    The domain dictionary is the model's and never changed after loading; a new model
    has a new one, whose text replaces the kept one.
    """
    domain = body.get("domain") if isinstance(body, dict) else None
    if not isinstance(domain, dict) or list(body)[-1] != "domain":
        return json.dumps(body)
    if not _encoded_domain or _encoded_domain[0][0] is not domain:
        _encoded_domain[:] = [(domain, json.dumps(domain))]
    rest = json.dumps({key: value for key, value in body.items() if key != "domain"})
    joiner = ", " if len(body) > 1 else ""
    return f'{rest[:-1]}{joiner}"domain": {_encoded_domain[0][1]}}}'


def install() -> None:
    """Send every remote action the trimmed events."""
    RemoteAction._action_call_format = _action_call_format  # type: ignore[method-assign]
