"""Adjustments of an intent ranking by what a message says, not by how it scores.

The classifier (``bot.nlu.tfidf_classifier``) ranks a message by its words; these rules
correct a ranking where the wording settles the question: a request that is really a
question about something the guide does not state, a stop that names the unbind it
gives up, statements confirmed before a question, bare urging.
"""

from __future__ import annotations

from typing import Any

from bot.knowledge.aspects import asked_aspects
from bot.nlu.clauses import asks, confirms, offers_choice, requests, withdraws
from bot.nlu.impatience import urges

RUN_ON = frozenset(("request_unbind", "check_status", "human_handoff"))
"""Besides guide questions, what a second question run on without a break may ask."""


def guide_or_beyond(name: str) -> bool:
    """A guide question, or one beyond the guide: what a request of ``LEADS`` asked first
    is followed by ("帮我查下进度 另外想问下押金咋退": the status, then the honest answer)."""
    return name.startswith("faq_") or name == "out_of_scope"


def confirmed(clauses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``clauses`` with those up to a confirmation tag ("要先检查机器还有备好文件是吧") no
    longer questions when a question follows the tag ("还有别的准备吗"): the merchant
    states what they believe and asks what comes next."""
    last = max((n for n, c in enumerate(clauses) if confirms(c["text"])), default=-1)
    if last < 0 or not any(c["question"] for c in clauses[last + 1:]):
        return clauses
    return [{**c, "question": False} if n <= last else c
            for n, c in enumerate(clauses)]


ASPECT_NOT = {"request_unbind": (), "check_status": ("duration", "notification", "rejection"),
              "affirm": (), "deny": (), "stop": (), "inform": (), "greet": ()}
"""Requests and small talk that a question about an aspect (``bot.knowledge.aspects``) is
not: "别人能代办解绑吗" asks whether, it does not ask to unbind, and "可以代办不" or "法人换了咋办"
is no yes, no or form value; it goes to ``out_of_scope``, whose action says the guide does
not state it. The aspects listed stay with the request ("我的审核还要多久", "我的申请被驳回了吗"
are status checks)."""


def aspect_question(text: str, ranking: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``ranking`` with ``out_of_scope`` first when a request of ``ASPECT_NOT`` is a
    question about an aspect the guide does not state, not a request."""
    kept = ASPECT_NOT.get(ranking[0]["name"])
    if kept is None or not asks(text) or requests(text):
        return ranking
    if not [a for a in asked_aspects(text) if a.id not in kept]:
        return ranking
    top = {"name": "out_of_scope", "confidence": ranking[0]["confidence"]}
    return [top, *(r for r in ranking if r["name"] != "out_of_scope")]


def withdrawal(text: str, ranking: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``ranking`` with ``cancel_ticket`` first when a stop names the unbind or the
    application it gives up ("不想解绑了取消吧"; a bare "取消吧" stays a stop)."""
    if ranking[0]["name"] != "stop" or not withdraws(text):
        return ranking
    top = {"name": "cancel_ticket", "confidence": ranking[0]["confidence"]}
    return [top, *(r for r in ranking if r["name"] != "cancel_ticket")]


def asks_else(intent: str) -> bool:
    """Whether a part of a run-on message with this intent may be a question of its own."""
    return intent.startswith("faq_") or intent in RUN_ON


URGED = "check_status"
"""What a message of nothing but impatience and urging ("快点快点", "催一下 急死了") asks
after: the merchant's own application."""


def urged(text: str, ranking: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``ranking`` with ``check_status`` first when ``text`` only urges and complains
    (``bot.nlu.impatience.urges``): nothing else is named, so it is the application the
    merchant waits for."""
    if ranking[0]["name"] == URGED or not urges(text):
        return ranking
    top = {"name": URGED, "confidence": ranking[0]["confidence"]}
    return [top, *(r for r in ranking if r["name"] != URGED)]


IN_ORDER = frozenset(("check_status", "cancel_ticket", "human_handoff", "notices_on",
                      "notices_off"))
"""Requests served in the order asked: a request or guide question asked first leads a
message whose whole reads as one of these asked after it ("关了通知吧 对了我的进度怎么样",
"审核啥时候出结果 另外帮我看看我的单子"); the first one's action offers the second."""


def asked_first(top: str, clauses: list[dict[str, Any]]) -> bool:
    """Whether the first clause asks a request of ``IN_ORDER`` or a guide question (in so
    many words: "这个终端管理我整不明白 找个人帮我弄" states a difficulty, the hand-off is
    what it asks) while the whole message (``top``) reads as a request of ``IN_ORDER`` a
    later clause asks."""
    first = clauses[0]["intent"]["name"]
    later = [c["intent"]["name"] for c in clauses[1:] if c["question"]]
    return (clauses[0]["question"] and first != top and top in IN_ORDER and top in later
            and (first in IN_ORDER or (first.startswith("faq_") and asks(clauses[0]["text"]))))


def asks_choice(text: str, ranking: list[dict[str, Any]], least: float) -> bool:
    """Whether a clause asks which of two guide topics ("是网上申请还是在机器上弄",
    ``bot.nlu.clauses.offers_choice``): a question although its sureness is shared, since
    its two surest intents are guide topics sure together at least ``least``."""
    two = ranking[:2]
    return (offers_choice(text) and len(two) == 2
            and all(r["name"].startswith("faq_") for r in two)
            and sum(r["confidence"] for r in two) >= least)
