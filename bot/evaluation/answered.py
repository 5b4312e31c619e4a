"""What the bot answered in one turn, read from the tracker's events, not from its text.

Every bot message carries, in its metadata, the intents or topics it answers
(``answers``): the custom actions set it on each message they send, and every response
of domain.yml declares it (``metadata: {answers: [...]}``; Rasa passes a response's
metadata through under ``metadata``). Buttons offer further answers by their payload
(``/faq_audit``, ``/request_unbind``). A message's ``answers`` are alternatives: one
reply to "好的" (``utter_anything_else``) answers affirm, deny and stop alike. The
ticket actions (status, cancel) do not tag their messages: what they answer follows from
the action that sent them (:data:`ACTION_ANSWERS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_PAYLOAD = re.compile(r"^/(\w+)")
ACTION_ANSWERS = {
    "action_check_status": "check_status",
    "action_show_verified_ticket": "check_status",
    "action_confirm_cancel": "cancel_ticket",
    "action_cancel_ticket": "cancel_ticket",
    "action_stop_form": "stop",
}


@dataclass(frozen=True)
class Reply:
    """One bot message: its text, buttons and the answers its metadata names."""

    text: str
    answers: frozenset[str]
    offered: tuple[str, ...] = ()
    grounded: bool = False


@dataclass(frozen=True)
class TurnAnswers:
    """The bot's replies to one merchant message, in order."""

    replies: tuple[Reply, ...] = field(default_factory=tuple)

    @property
    def first(self) -> frozenset[str]:
        """What the first reply that names an answer answers (empty if none does)."""
        return next((r.answers for r in self.replies if r.answers), frozenset())

    @property
    def answered(self) -> frozenset[str]:
        return frozenset().union(*(r.answers for r in self.replies))

    @property
    def offered(self) -> frozenset[str]:
        return frozenset(label for r in self.replies for label in r.offered)

    @property
    def grounded(self) -> bool:
        return any(r.grounded for r in self.replies)

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)


def _answers(event: Mapping[str, Any]) -> frozenset[str]:
    metadata = event.get("metadata") or {}
    labels = metadata.get("answers") or (metadata.get("metadata") or {}).get("answers") or ()
    return frozenset(str(label) for label in labels)


def _offered(event: Mapping[str, Any]) -> tuple[str, ...]:
    buttons = (event.get("data") or {}).get("buttons") or ()
    found = []
    for button in buttons:
        match = _PAYLOAD.match(str(button.get("payload") or ""))
        if match:
            found.append(match.group(1))
    return tuple(found)


def turn_answers(events: Sequence[Mapping[str, Any]]) -> TurnAnswers:
    """The replies after the last user message of a tracker's ``events``."""
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    replies = []
    action = ""
    for event in events[last_user + 1:]:
        if event.get("event") == "action":
            action = str(event.get("name") or "")
        elif event.get("event") == "bot":
            answers = _answers(event)
            if not answers and action in ACTION_ANSWERS:
                answers = frozenset({ACTION_ANSWERS[action]})
            replies.append(Reply(
                text=str(event.get("text") or ""), answers=answers, offered=_offered(event),
                grounded=bool((event.get("metadata") or {}).get("grounded")),
            ))
    return TurnAnswers(tuple(replies))
