"""Answer search: BM25 over jieba-segmented topics, fused with the bot's NLU ranking.

Each topic is one document: its title, answer and source passages. The index is built
once per process; a query costs well under a millisecond. Every hit says why it matched
(query terms found in the topic, NLU confidence) and where its passages are in the guide.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import bm25s
import jieba

from bot.knowledge.guide import guide_text
from bot.knowledge.topics import INTENT_PREFIX, Topic, load_topics

jieba.setLogLevel(logging.WARNING)
# Domain words jieba's dictionary splits badly ("POS机有" would become "机有").
for _word in ("解绑", "POS机", "pos机", "商户号", "序列号", "验证码", "有什么用", "绑错", "新机"):
    jieba.add_word(_word)

BM25_WEIGHT = 0.5
NLU_WEIGHT = 0.5
MAX_QUERY = 200

# Words that carry no meaning for the search (question words, particles, fillers).
STOPWORDS = frozenset(
    str.split(
        "的 了 吗 呢 吧 啊 呀 么 嘛 是 在 有 要 我 你 您 他 她 它 们 我们 你们 这 那 哪 哪里 哪儿 "
        "什么 怎么 怎么样 怎样 如何 多少 几 会 能 可以 可不可以 不 没 没有 还 还要 就 都 "
        "也 和 与 及 或 或者 把 被 给 让 对 到 从 向 个 一 一下 一个 一台 下 上 吗 请问 想 想要 "
        "需要 需 应该 得 地 着 过 时候 时 啥 咋 怎 呐 哦 嗯 好 请 "
        "解绑 pos pos机 机 海科 融通 海科融通"
    )
)
"""``解绑``/``POS机``/``海科融通`` are in every topic, so they only add noise."""

# A small thesaurus of the words merchants use for the guide's words. Query side only.
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "证件": ("资料", "证明", "执照", "文件"),
    "材料": ("资料", "文件"),
    "电话": ("热线", "客服"),
    "热线": ("客服",),
    "人工": ("客服",),
    "钱": ("资金", "款项", "账户"),
    "款": ("款项", "资金"),
    "到账": ("款项", "结算"),
    "多久": ("时间", "工作日"),
    "几天": ("时间", "工作日"),
    "时间": ("工作日",),
    "坏": ("故障", "损坏", "维修"),
    "坏了": ("故障", "损坏", "维修"),
    "故障": ("损坏", "维修"),
    "机器": ("设备",),
    "设备": ("机器",),
    "网上": ("在线", "管理系统"),
    "线上": ("在线", "管理系统"),
    "网点": ("服务中心", "分支机构", "现场"),
    "线下": ("现场", "服务中心"),
    "丢": ("备份", "损失"),
    "数据": ("备份",),
    "绑错": ("错误", "重新", "绑定"),
    "键": ("按下", "菜单"),
    "按键": ("按下", "菜单"),
    "步骤": ("流程",),
    "流程": ("步骤",),
    "规定": ("政策",),
    "政策": ("规定",),
    "用途": ("功能",),
    "有什么用": ("功能", "作用", "应用", "支付"),
    "干什么": ("功能", "作用", "应用", "支付"),
    "为什么": ("原因",),
    "办": ("申请",),
    "以后": ("之后", "完成"),
    "之后": ("完成",),
    "后": ("之后", "完成"),
    "以前": ("之前",),
    "新机": ("新POS机", "申请"),
    "冻结": ("账户冻结",),
}

_WORD = re.compile(r"[0-9a-z]+|[\u4e00-\u9fff]+", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """jieba search-mode words (lower case, no punctuation or stopwords)."""
    words = (w.strip().lower() for w in jieba.cut_for_search(text))
    return [w for w in words if w and _WORD.fullmatch(w) and w not in STOPWORDS]


def expand(tokens: Sequence[str]) -> list[str]:
    """Query tokens plus their synonyms (each synonym segmented like the documents)."""
    out = list(tokens)
    for token in tokens:
        for synonym in SYNONYMS.get(token, ()):
            out.extend(t for t in tokenize(synonym) if t not in out)
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
    """BM25 index of the guide topics."""

    topics: Sequence[Topic]
    guide: str
    retriever: bm25s.BM25 = field(init=False)
    doc_terms: list[frozenset[str]] = field(init=False)
    passages: list[tuple[Passage, ...]] = field(init=False)

    def __post_init__(self) -> None:
        docs = [tokenize(self._document(t)) for t in self.topics]
        self.doc_terms = [frozenset(d) for d in docs]
        self.retriever = bm25s.BM25()
        self.retriever.index(docs, show_progress=False)
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

    def search(
        self, query: str, nlu: Mapping[str, float] | None = None, limit: int = 5
    ) -> SearchResult:
        """Rank topics for ``query``; ``nlu`` maps topic ids to NLU confidences."""
        terms = expand(tokenize(query[:MAX_QUERY]))
        vocab = self.retriever.vocab_dict
        known = [t for t in terms if t in vocab]
        scores = self.retriever.get_scores(known) if known else [0.0] * len(self.topics)
        top = max(scores, default=0.0) or 1.0
        ranked = []
        for i, topic in enumerate(self.topics):
            confidence = nlu.get(topic.id) if nlu else None
            bm25 = float(scores[i])
            if bm25 <= 0 and not confidence:
                continue
            fused = bm25 / top if nlu is None else (
                BM25_WEIGHT * bm25 / top + NLU_WEIGHT * (confidence or 0.0)
            )
            matched = tuple(t for t in dict.fromkeys(terms) if t in self.doc_terms[i])
            ranked.append((fused, bm25, i, matched, confidence))
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
        return SearchResult(hits, tuple(dict.fromkeys(terms)), nlu is not None)


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
