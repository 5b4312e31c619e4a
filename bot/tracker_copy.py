"""A tracker copy made from the tracker's state instead of replaying its events.

Rasa copies the tracker before every action it runs (``DialogueStateTracker.copy``),
by replaying every event of the session on a new tracker: at 600 turns a fifth of a
turn's time (docs/benchmarks.md, "Long conversation"). The replay ends in the state the
tracker already holds, since that state was built by applying the same events in the same
order. So the copy is a new tracker as Rasa's ``init_copy`` makes it, given the events and
the state they produced: slot values, the latest action, message and bot utterance, the
follow-up action, the active loop and whether the conversation is paused.

What the replay shares with the original (the event objects, the latest message and
bot utterance, which are events) the copy shares too; what the replay builds anew (slots,
the active loop, the latest action's dictionary, the empty placeholders for no message
yet) the copy copies, and so its index of events (``bot.tracker_history``).

A form builds one more tracker for each call of its validator
(``FormAction._temporary_tracker``): the session's events, then the requested slot, the
form's own action and the slot candidates, replayed on a new tracker. It is now this copy
with those events added, unless the session holds a restart (Rasa's replay then starts
after it).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from rasa.core.actions.forms import FormAction
from rasa.shared.constants import DEFAULT_SENDER_ID
from rasa.shared.core.constants import REQUESTED_SLOT
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    Restarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_history import copy_index

RASA_COPY = DialogueStateTracker.copy
RASA_TEMPORARY_TRACKER = FormAction._temporary_tracker


def copy_tracker(self: DialogueStateTracker) -> DialogueStateTracker:
    """``DialogueStateTracker.copy`` without the replay (Rasa's for other tracker kinds)."""
    if type(self) is not DialogueStateTracker or type(self.slots) is not dict:
        return RASA_COPY(self)
    # init_copy, without copying and resetting slots that are replaced just below
    new = DialogueStateTracker(self.sender_id or DEFAULT_SENDER_ID, [],
                               self._max_event_history, is_rule_tracker=self.is_rule_tracker)
    new.events = new._create_events(list(self.events))
    new.slots = {name: copy.copy(slot) for name, slot in self.slots.items()}
    new.latest_action = dict(self.latest_action) if self.latest_action is not None else None
    if not is_empty_message(self.latest_message):  # else init_copy's own placeholder
        new.latest_message = self.latest_message
    if not is_empty_utterance(self.latest_bot_utterance):
        new.latest_bot_utterance = self.latest_bot_utterance
    new.followup_action = self.followup_action
    new.active_loop = (dataclasses.replace(self.active_loop)
                       if self.active_loop is not None else None)
    new._paused = self._paused
    copy_index(self, new)
    return new


def is_empty_message(message: UserUttered) -> bool:
    """``message == UserUttered.empty()``, without building the placeholder and
    JSON-encoding entities (Rasa's ``__eq__``): no text, no intent name, no entities."""
    if type(message) is not UserUttered:
        return message == UserUttered.empty()
    return message.text is None and message.intent_name is None and not message.entities


def is_empty_utterance(utterance: BotUttered) -> bool:
    """``utterance == BotUttered.empty()``: no text, and ``data`` and ``metadata`` hold
    nothing but ``None`` values (Rasa compares their JSON encodings without the
    ``None`` values; anything but plain dictionaries takes Rasa's way)."""
    if (type(utterance) is not BotUttered or type(utterance.data) is not dict
            or type(utterance.metadata) is not dict):
        return utterance == BotUttered.empty()
    return (utterance.text is None
            and all(value is None for value in utterance.data.values())
            and all(value is None for value in utterance.metadata.values()))


def temporary_tracker(
    self: FormAction, current_tracker: DialogueStateTracker, additional_events: list[Event],
    domain: Any,
) -> DialogueStateTracker:
    """``FormAction._temporary_tracker`` from a copy instead of a replay of the session."""
    if (type(current_tracker) is not DialogueStateTracker
            or current_tracker._max_event_history is not None
            or any(isinstance(event, Restarted) for event in current_tracker.events)):
        return RASA_TEMPORARY_TRACKER(self, current_tracker, additional_events, domain)
    new = copy_tracker(current_tracker)
    new.sender_source = None  # as DialogueStateTracker.from_events leaves it
    for event in [SlotSet(REQUESTED_SLOT, self.get_slot_to_fill(current_tracker)),
                  ActionExecuted(self.name()), *additional_events]:
        new.update(event)
    return new


def install() -> None:
    """Copy every tracker in this process without replaying its events."""
    DialogueStateTracker.copy = copy_tracker  # type: ignore[method-assign]
    FormAction._temporary_tracker = temporary_tracker  # type: ignore[method-assign]
