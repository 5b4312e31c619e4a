"""Evaluation message sets: what a merchant typed and which answer satisfies them.

Two formats are read:

- the blind-set format (``version: 1``, ``messages:`` with ``text``, ``expect``, optional
  ``second``/``also_ok``, ``kinds``), used by ``tests/blind/merchant_messages.yml`` (never
  used for training or tuning), ``tests/nlu_dev.yml`` (the development set) and
  ``tests/dev/merchant_messages_dev.yml`` (a second development set written by someone
  else, split by :func:`split_half` into a half to tune on and a half never looked at);
- Rasa NLU YAML (``tests/nlu_holdout.yml``, ``tests/nlu_holdout_gibberish.yml``), whose
  intent is the expected label. These sets were labelled before the eight step topics
  existed, so they are marked ``legacy``: there, an answer from a narrower topic (a step
  whose guide passages lie inside the expected topic's) also satisfies the label
  (``bot.evaluation.scoring``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.knowledge.topics import load_topics

KINDS = (
    "plain", "traditional", "typo_homophone", "pinyin_english", "voice_runon",
    "two_questions", "very_short", "impatient", "dialect", "not_in_guide", "step",
)
CONVERSATION_LABELS = (
    "greet", "goodbye", "thank", "bot_challenge", "human_handoff", "request_unbind",
    "check_status", "cancel_ticket", "stop", "share_secret", "out_of_scope",
    "not_helpful", "notices_off", "notices_on", "leave_message",
)
LEGACY_ONLY_LABELS = ("affirm", "deny", "inform", "nlu_fallback")
"""Labels of the older sets: answers to a question the bot asked, and gibberish."""


def topic_labels() -> tuple[str, ...]:
    """``faq_<topic>`` for every topic of data/knowledge/topics.yml (steps included)."""
    return tuple(topic.intent for topic in load_topics().values())


def labels() -> frozenset[str]:
    """Every label a blind-format set may use."""
    return frozenset((*topic_labels(), *CONVERSATION_LABELS))


@dataclass(frozen=True)
class Case:
    """One message and the answers that satisfy the merchant who sent it."""

    text: str
    expect: str
    kinds: tuple[str, ...]
    second: str | None = None
    also_ok: tuple[str, ...] = ()
    legacy: bool = False

    @property
    def accepted(self) -> frozenset[str]:
        return frozenset((self.expect, *self.also_ok))


class MessageSetError(ValueError):
    """A message set that does not follow its format."""


def load_cases(path: Path) -> list[Case]:
    """The cases of ``path``, in file order (either format)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "messages" in document:
        return _blind_format(document, path)
    if "nlu" in document:
        return _rasa_format(path)
    raise MessageSetError(f"{path}: neither `messages:` nor `nlu:`")


def _blind_format(document: dict, path: Path) -> list[Case]:
    known = labels()
    cases = []
    for number, item in enumerate(document["messages"] or (), start=1):
        where = f"{path.name} message {number}"
        text, expect = item.get("text"), item.get("expect")
        kinds = tuple(item.get("kinds") or ())
        second, also_ok = item.get("second"), tuple(item.get("also_ok") or ())
        if not isinstance(text, str) or not text.strip():
            raise MessageSetError(f"{where}: no text")
        unknown = {x for x in (expect, second, *also_ok) if x is not None} - known
        if unknown:
            raise MessageSetError(f"{where}: unknown label(s) {sorted(unknown)}")
        if not kinds or set(kinds) - set(KINDS):
            raise MessageSetError(f"{where}: kinds must be some of {KINDS}, got {kinds}")
        if second is not None and "two_questions" not in kinds:
            raise MessageSetError(f"{where}: `second` is only for kind two_questions")
        cases.append(Case(str(text), str(expect), kinds, second, also_ok))
    return cases


def _rasa_format(path: Path) -> list[Case]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    kind = "gibberish" if "gibberish" in path.stem else "holdout"
    return [
        Case(m.get("text"), m.get("intent"), (kind,), legacy=True)
        for m in data.intent_examples
    ]


HALVES = ("a", "b")


def half_of(text: str) -> str:
    """``"a"`` or ``"b"``: a set's half a message belongs to, from its text alone, so the
    split stays the same whatever order, additions or removals the file sees."""
    return HALVES[hashlib.sha256(text.strip().encode("utf-8")).digest()[0] % 2]


def split_half(cases: Sequence[Case], half: str) -> list[Case]:
    """The cases of one half (``a``: looked at and tuned on; ``b``: never looked at)."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    return [case for case in cases if half_of(case.text) == half]
