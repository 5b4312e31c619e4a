"""Aspects of a question the guide may not state (cost, duration, place …).

A merchant asking "解绑收费吗" asks about the *cost* of unbinding; the topic the NLU
picks (the process, the online application) says nothing about cost. When a message
asks about an aspect that the chosen topic does not address, the bot says the guide
does not state it instead of answering the neighbouring passage. The aspects and their
cue words are data (``data/knowledge/aspects.yml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.knowledge.topics import Topic
from bot.paths import DATA

ASPECTS_PATH = DATA / "knowledge" / "aspects.yml"
GAP = "…"
"""In a cue, stands for up to ``MAX_GAP`` characters: "钱…退" matches 钱会退, 钱能不能退."""
MAX_GAP = 4
NOT_GIVEN = "指南没有"
"""How a topic's answer says the guide gives no such detail ("指南没有给出解绑审核的具体时长")."""
_SENTENCE = re.compile(r"[。；;！!？?\n]")


@lru_cache(maxsize=512)
def _gap_pattern(cue: str) -> re.Pattern[str]:
    return re.compile(f".{{0,{MAX_GAP}}}".join(re.escape(part) for part in cue.split(GAP)))


def cue_in(cue: str, text: str) -> bool:
    """True when ``cue`` occurs in ``text`` (a cue with "…" allows a short gap there)."""
    if GAP not in cue:
        return cue in text
    return _gap_pattern(cue).search(text) is not None


def _mandarin(text: str) -> str:
    from bot.nlu.normaliser import mandarin  # imported when first asked: it loads Rasa

    return mandarin(text)


@dataclass(frozen=True)
class Aspect:
    """One thing a question can ask about, and the words that show it is addressed."""

    id: str
    name: str
    cues: tuple[str, ...]
    stated: tuple[str, ...]
    ignore: tuple[str, ...] = ()
    only_about: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Topics whose answer only says the guide gives no such detail *for that topic*
    ("指南没有给出解绑审核的具体时长"), with the words that show a question is about
    the topic: they address the aspect only for such questions."""

    def asked_in(self, text: str) -> bool:
        """Whether ``text`` asks about the aspect, as typed or with its dialect words read
        as Mandarin ("使唔使俾钱" → "用不用给钱", data/dialect.yml)."""
        return any(self._asked_in(form) for form in dict.fromkeys((text, _mandarin(text))))

    def _asked_in(self, text: str) -> bool:
        compact = "".join(text.split()).lower()
        for phrase in self.ignore:
            compact = compact.replace(phrase, " ")
        return any(cue_in(cue, compact) for cue in self.cues)

    def addressed_by(self, topic: Topic, question: str = "") -> bool:
        """True when the topic's guide passages or its answer mention the aspect. A topic
        of ``only_about`` addresses it only when ``question`` is about the topic's own
        subject (the POS application's 3-7个工作日 says nothing about the unbind's)."""
        subject = dict(self.only_about).get(topic.id)
        if subject is not None and not any(word in question.lower() for word in subject):
            return False
        text = "".join((*topic.sources, *topic.answer))
        return any(word in text for word in self.stated)

    def declined_by(self, topic: Topic) -> bool:
        """True when the topic addresses the aspect only by saying the guide does not give
        it: every sentence of its answer that names the aspect says 指南没有…, and its guide
        passages do not name it."""
        if any(word in source for source in topic.sources for word in self.stated):
            return False
        sentences = [s for part in topic.answer for s in _SENTENCE.split(part)]
        naming = [s for s in sentences if any(word in s for word in self.stated)]
        return bool(naming) and all(NOT_GIVEN in s for s in naming)


@lru_cache(maxsize=2)
def load_aspects(path: Path = ASPECTS_PATH) -> tuple[Aspect, ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["aspects"]
    return tuple(
        Aspect(item["id"], item["name"], tuple(item["cues"]), tuple(item["stated"]),
               tuple(item.get("ignore") or ()),
               tuple((topic, tuple(words))
                     for topic, words in (item.get("only_about") or {}).items()))
        for item in raw
    )


def asked_aspects(text: str) -> list[Aspect]:
    """The aspects ``text`` asks about, in file order."""
    return [aspect for aspect in load_aspects() if aspect.asked_in(text)]


def unstated_aspects(text: str, topic: Topic) -> list[Aspect]:
    """The aspects ``text`` asks about that ``topic`` does not address (empty when the
    message asks about none, or the topic addresses every one asked)."""
    return [aspect for aspect in asked_aspects(text) if not aspect.addressed_by(topic, text)]


def declined_aspects(text: str, topic: Topic) -> list[Aspect]:
    """The aspects ``text`` asks that ``topic`` answers only by saying the guide does not
    state them ("审核要多久": the audit answer says the guide gives no duration); such an
    answer also answers the question as one the guide does not answer (``out_of_scope``)."""
    return [aspect for aspect in asked_aspects(text)
            if aspect.addressed_by(topic, text) and aspect.declined_by(topic)]
