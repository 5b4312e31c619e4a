"""Grounded answers: the guide passage that best matches a message the NLU was unsure of.

The topics are ranked by the console's answer search (``bot.web.console.search``: BM25
over the guide topics fused with the NLU ranking already in the parsed message), so there
is one retriever and no call back to Rasa. The best topic is trusted only when its
*grounding score* reaches the threshold in ``data/knowledge/grounding.yml``, measured by
``python -m bot.bench --answers-only`` on the development set (docs/nlu.md):

    score = (1 - nlu_weight) * coverage + nlu_weight * NLU confidence of the topic

``coverage`` is the IDF-weighted share of the message's words (stopwords and the domain
words every topic contains left out) that the topic's text contains, as they are, through
a synonym or through their sub-words. Unlike the
search's own scores, which are scaled to the best topic, it is absolute: a message made of
words the guide never uses ("收费", "征信") covers nothing, whatever ranks first.

The passage quoted is the topic's source passage with the most (IDF-weighted) words of
the message in it. Everything here is in-process and costs about a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.knowledge.topics import INTENT_PREFIX, Topic
from bot.paths import DATA
from bot.web.console.search import (
    DOMAIN_WORDS,
    AnswerIndex,
    Passage,
    default_index,
    expand,
    tokenize,
)

SETTINGS_PATH = DATA / "knowledge" / "grounding.yml"


@dataclass(frozen=True)
class GroundingSettings:
    """When a grounded answer is given (``data/knowledge/grounding.yml``)."""

    threshold: float
    nlu_weight: float
    alternatives: int


@lru_cache(maxsize=2)
def settings(path: Path = SETTINGS_PATH) -> GroundingSettings:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return GroundingSettings(
        threshold=float(raw["threshold"]), nlu_weight=float(raw["nlu_weight"]),
        alternatives=int(raw.get("alternatives", 2)),
    )


@dataclass(frozen=True)
class Grounding:
    """The best-matching topic and passage for a message, and how sure that is."""

    topic: Topic
    passage: Passage
    score: float
    coverage: float
    nlu_confidence: float
    alternatives: tuple[Topic, ...]
    """The next topics of the ranking, offered as buttons."""

    def accepted(self, threshold: float | None = None) -> bool:
        """True when the score reaches ``threshold`` (default: the configured one)."""
        return self.score >= (settings().threshold if threshold is None else threshold)


def topic_confidences(ranking: Sequence[Mapping[str, object]]) -> dict[str, float]:
    """Topic id → NLU confidence, from a parsed message's ``intent_ranking``."""
    out: dict[str, float] = {}
    for item in ranking:
        name, confidence = item.get("name"), item.get("confidence")
        if isinstance(name, str) and name.startswith(INTENT_PREFIX):
            out[name[len(INTENT_PREFIX):]] = float(confidence or 0.0)  # type: ignore[arg-type]
    return out


@lru_cache(maxsize=1)
def _idf() -> dict[str, float]:
    index = default_index()
    n = len(index.doc_terms)
    df: dict[str, int] = {}
    for terms in index.doc_terms:
        for term in terms:
            df[term] = df.get(term, 0) + 1
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}


def _unknown_idf() -> float:
    n = len(default_index().doc_terms)
    return math.log(1 + (n + 0.5) / 0.5)


def _forms(word: str) -> set[str]:
    """What stands for ``word`` in a topic's text: itself, its synonyms, its sub-words."""
    forms = set(expand([word]))
    forms.update(w for w in tokenize(word) if len(w) > 1)
    return forms


@lru_cache(maxsize=1)
def _texts() -> tuple[str, ...]:
    """Each topic's searchable text (title, answer, sources), lower case."""
    return tuple(AnswerIndex._document(t).lower() for t in default_index().topics)


def coverage(words: Sequence[str], topic_no: int) -> float:
    """IDF-weighted share of ``words`` found in the text of topic number ``topic_no``."""
    return _share(words, _texts()[topic_no])


def _share(words: Sequence[str], text: str) -> float:
    idf, unknown = _idf(), _unknown_idf()
    total = found = 0.0
    for word in dict.fromkeys(words):
        weight = idf.get(word, unknown)
        total += weight
        if any(form in text for form in _forms(word)):
            found += weight
    return found / total if total else 0.0


def best_passage(topic_no: int, words: Sequence[str], index: AnswerIndex) -> Passage:
    """The topic's source passage holding the largest share of the message's words."""
    return max(index.passages[topic_no], key=lambda p: _share(words, p.text.lower()))


def ground(text: str, ranking: Sequence[Mapping[str, object]] = ()) -> Grounding | None:
    """The best topic and passage for ``text`` (``None`` when nothing matches at all).

    ``ranking`` is the parsed message's ``intent_ranking``. Whether the answer may be
    given is :meth:`Grounding.accepted`.
    """
    index = default_index()
    nlu = topic_confidences(ranking)
    result = index.search(text, nlu or None, limit=1 + settings().alternatives)
    if not result.hits:
        return None
    top = result.hits[0]
    number = next(i for i, t in enumerate(index.topics) if t.id == top.topic.id)
    words = [w for w in tokenize(text) if w not in DOMAIN_WORDS]
    covered = coverage(words, number)
    confidence = nlu.get(top.topic.id, 0.0)
    weight = settings().nlu_weight
    return Grounding(
        topic=top.topic,
        passage=best_passage(number, words, index),
        score=round((1 - weight) * covered + weight * confidence, 4),
        coverage=round(covered, 4),
        nlu_confidence=confidence,
        alternatives=tuple(h.topic for h in result.hits[1:]),
    )
