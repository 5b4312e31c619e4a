"""Answer search: BM25 over jieba-segmented topics, fused with the bot's NLU ranking.

Each topic is one document: its title, answer and source passages, without the domain
words every topic contains; a second index holds the titles alone, domain words kept, so
that "海科融通POS机是什么" still finds its topic. A query word the index does not know
backs off to its known characters. Stopwords, domain words and synonyms are data
(``data/knowledge/console_search.yml``). The indexes are built once per process; a query
costs well under a millisecond. Every hit says why it matched (query terms found in the
topic, NLU confidence) and where its passages are in the guide.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import bm25s
import jieba
import yaml

from bot.knowledge.guide import guide_text
from bot.knowledge.topics import INTENT_PREFIX, Topic, load_topics
from bot.paths import DATA

jieba.setLogLevel(logging.WARNING)

VOCABULARY_PATH = DATA / "knowledge" / "console_search.yml"
BM25_WEIGHT = 0.5
NLU_WEIGHT = 0.5
TITLE_WEIGHT = 0.3
"""Share of the lexical score that comes from the topic's title (the rest: its text)."""
MAX_QUERY = 200


@dataclass(frozen=True)
class Vocabulary:
    """Stopwords, domain words and synonyms (``data/knowledge/console_search.yml``)."""

    stopwords: frozenset[str]
    domain_words: frozenset[str]
    synonyms: Mapping[str, tuple[str, ...]]
    jieba_words: tuple[str, ...]


def load_vocabulary(path: Path = VOCABULARY_PATH) -> Vocabulary:
    """Read the search vocabulary and teach jieba its domain words."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    vocabulary = Vocabulary(
        stopwords=frozenset(raw["stopwords"].split()),
        domain_words=frozenset(raw["domain_words"].split()),
        synonyms={k: tuple(v) for k, v in raw["synonyms"].items()},
        jieba_words=tuple(raw["jieba_words"]),
    )
    for word in vocabulary.jieba_words:
        jieba.add_word(word)
    return vocabulary


VOCABULARY = load_vocabulary()
STOPWORDS = VOCABULARY.stopwords
DOMAIN_WORDS = VOCABULARY.domain_words
"""``解绑``/``POS机``/``海科融通`` are in every topic's text, so they only rank titles."""
SYNONYMS = VOCABULARY.synonyms

_WORD = re.compile(r"[0-9a-z\u4e00-\u9fff]+", re.IGNORECASE)


def tokenize(text: str, keep_domain: bool = False) -> list[str]:
    """jieba search-mode words (lower case, no punctuation or stopwords).

    Domain words (``解绑``, ``POS机``…) are dropped unless ``keep_domain``.
    """
    words = (w.strip().lower() for w in jieba.cut_for_search(text))
    return [
        w for w in words
        if w and _WORD.fullmatch(w) and w not in STOPWORDS
        and (keep_domain or w not in DOMAIN_WORDS)
    ]


def expand(tokens: Sequence[str]) -> list[str]:
    """Query tokens plus their synonyms (each synonym segmented like the documents)."""
    out = list(tokens)
    for token in tokens:
        for synonym in SYNONYMS.get(token, ()):
            out.extend(t for t in tokenize(synonym) if t not in out)
    return out


def back_off(tokens: Sequence[str], vocab: Mapping[str, int]) -> list[str]:
    """Tokens, with each word unknown to the index replaced by its known characters.

    jieba glues words it does not know to their neighbours ("解绑前要" → "前要"); the
    characters still carry the meaning ("前").
    """
    out: list[str] = []
    for token in tokens:
        parts = [token] if token in vocab or len(token) < 2 else [
            ch for ch in token if ch in vocab and ch not in STOPWORDS
        ]
        out.extend(p for p in parts if p not in out)
    return out


@dataclass(frozen=True)
class Passage:
    """A source passage of a topic, located in the guide text."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Hit:
    """A ranked topic and the reasons it matched."""

    topic: Topic
    score: float
    bm25: float
    matched_terms: tuple[str, ...]
    nlu_confidence: float | None
    passages: tuple[Passage, ...]
    highlights: tuple[tuple[tuple[int, int], ...], ...]
    """For each passage, the ``(start, end)`` guide offsets of matched terms."""


@dataclass(frozen=True)
class SearchResult:
    """Hits best first, the query's terms and whether the NLU ranking was used."""

    hits: tuple[Hit, ...]
    terms: tuple[str, ...]
    nlu_used: bool


def locate(quote: str, text: str) -> tuple[int, int] | None:
    """Start and end of ``quote`` in ``text``, ignoring whitespace differences."""
    start = text.find(quote)
    if start >= 0:
        return start, start + len(quote)
    pattern = r"\s*".join(re.escape(ch) for ch in "".join(quote.split()))
    match = re.search(pattern, text)
    return (match.start(), match.end()) if match else None


def term_spans(terms: Iterable[str], passage: Passage, guide: str) -> tuple[tuple[int, int], ...]:
    """Guide offsets of every occurrence of ``terms`` in the passage, merged."""
    body = guide[passage.start : passage.end].lower()
    spans = sorted(
        (passage.start + m.start(), passage.start + m.end())
        for term in terms
        for m in re.finditer(re.escape(term), body)
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass
class AnswerIndex:
    """BM25 indexes of the guide topics: their whole text, and their titles alone."""

    topics: Sequence[Topic]
    guide: str
    retriever: bm25s.BM25 = field(init=False)
    titles: bm25s.BM25 = field(init=False)
    doc_terms: list[frozenset[str]] = field(init=False)
    title_terms: list[frozenset[str]] = field(init=False)
    passages: list[tuple[Passage, ...]] = field(init=False)

    def __post_init__(self) -> None:
        docs = [tokenize(self._document(t)) for t in self.topics]
        titles = [tokenize(t.title, keep_domain=True) for t in self.topics]
        self.doc_terms = [frozenset(d) for d in docs]
        self.title_terms = [frozenset(t) for t in titles]
        self.retriever = bm25s.BM25()
        self.retriever.index(docs, show_progress=False)
        self.titles = bm25s.BM25()
        self.titles.index(titles, show_progress=False)
        self.passages = [self._passages(t) for t in self.topics]

    @staticmethod
    def _document(topic: Topic) -> str:
        # The title counts twice: it is what the topic is about.
        return "\n".join([topic.title, topic.title, *topic.answer, *topic.sources])

    def _passages(self, topic: Topic) -> tuple[Passage, ...]:
        found = []
        for quote in topic.sources:
            where = locate(quote, self.guide)
            if where is not None:
                found.append(Passage(self.guide[where[0] : where[1]], *where))
        return tuple(found)

    @staticmethod
    def _scores(retriever: bm25s.BM25, terms: Sequence[str], size: int) -> list[float]:
        known = [t for t in terms if t in retriever.vocab_dict]
        return [float(x) for x in retriever.get_scores(known)] if known else [0.0] * size

    def search(
        self, query: str, nlu: Mapping[str, float] | None = None, limit: int = 5
    ) -> SearchResult:
        """Rank topics for ``query``; ``nlu`` maps topic ids to NLU confidences.

        The lexical score mixes BM25 over the topic's text (domain words left out) with
        BM25 over its title (domain words kept), each scaled to the best topic's.
        """
        words = tokenize(query[:MAX_QUERY], keep_domain=True)
        title_terms = expand(words)
        text_terms = back_off(
            expand([w for w in words if w not in DOMAIN_WORDS]), self.retriever.vocab_dict
        )
        size = len(self.topics)
        text = self._scores(self.retriever, text_terms, size)
        title = self._scores(self.titles, title_terms, size)
        top_text, top_title = max(text, default=0.0) or 1.0, max(title, default=0.0) or 1.0
        ranked = []
        for i, topic in enumerate(self.topics):
            confidence = nlu.get(topic.id) if nlu else None
            if text[i] <= 0 and title[i] <= 0 and not confidence:
                continue
            lexical = (1 - TITLE_WEIGHT) * text[i] / top_text + TITLE_WEIGHT * title[i] / top_title
            fused = lexical if nlu is None else (
                BM25_WEIGHT * lexical + NLU_WEIGHT * (confidence or 0.0)
            )
            matched = tuple(
                t for t in dict.fromkeys([*text_terms, *title_terms])
                if t in self.doc_terms[i] or t in self.title_terms[i]
            )
            ranked.append((fused, text[i], i, matched, confidence))
        ranked.sort(key=lambda r: (-r[0], r[2]))
        hits = tuple(
            Hit(
                topic=self.topics[i],
                score=round(fused, 4),
                bm25=round(bm25, 4),
                matched_terms=matched,
                nlu_confidence=confidence,
                passages=self.passages[i],
                highlights=tuple(
                    term_spans(matched, p, self.guide) for p in self.passages[i]
                ),
            )
            for fused, bm25, i, matched, confidence in ranked[:limit]
        )
        terms = tuple(dict.fromkeys([*text_terms, *title_terms]))
        return SearchResult(hits, terms, nlu is not None)


def nlu_confidences(parse: Mapping[str, object]) -> dict[str, float]:
    """Topic id → confidence from a Rasa ``/model/parse`` response."""
    ranking = parse.get("intent_ranking") or [parse.get("intent") or {}]
    out: dict[str, float] = {}
    for item in ranking:  # type: ignore[union-attr]
        if not isinstance(item, dict):
            continue
        name, confidence = item.get("name"), item.get("confidence")
        if isinstance(name, str) and name.startswith(INTENT_PREFIX):
            out[name[len(INTENT_PREFIX) :]] = float(confidence or 0.0)
    return out


@lru_cache(maxsize=1)
def default_index() -> AnswerIndex:
    """The index of the shipped topics and guide (built once per process)."""
    return AnswerIndex(tuple(load_topics().values()), guide_text())
