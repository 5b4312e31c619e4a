"""Impatience and complaint that ask nothing of their own (bot.nlu.impatience), and what
the ranking makes of them (bot.nlu.ranking_rules)."""

from __future__ import annotations

import pytest

from bot.nlu.impatience import filler, urges
from bot.nlu.ranking_rules import asked_first, urged


@pytest.mark.parametrize("piece", ["急死了", "搞什么啊", "都几天了", "烦死了！！", "什么破系统",
                                   "我的天", "快点快点", "说重点", "等半天了都"])
def test_impatience_alone_is_filler(piece: str) -> None:
    assert filler(piece)


@pytest.mark.parametrize("piece", [
    "资料要哪些", "审核怎么这么慢", "解绑这么麻烦", "什么情况下要解绑", "问了半天都没用",
    "给我转人工", "快点告诉我客服怎么联系", "什么"])
def test_a_clause_that_names_or_asks_something_is_no_filler(piece: str) -> None:
    assert not filler(piece)


def test_only_urging_urges() -> None:
    assert urges("快点快点") and urges("催一下 急死了")
    assert not urges("搞什么啊") and not urges("快点 要什么资料")


def test_bare_urging_asks_after_the_application() -> None:
    ranking = [{"name": "out_of_scope", "confidence": 0.44}, {"name": "inform", "confidence": 0.2}]
    assert urged("快点快点", ranking)[0] == {"name": "check_status", "confidence": 0.44}
    assert urged("快点 要什么资料", ranking) == ranking


def _clause(name: str, question: bool = True, text: str = "要看什么") -> dict:
    return {"text": text, "intent": {"name": name, "confidence": 0.9}, "question": question}


def test_a_request_asked_first_is_served_first() -> None:
    """"关了通知吧 对了我的进度怎么样" reads as a status check as a whole: the notices
    were asked first; so was the guide question of "审核看什么 另外帮我看看我的单子"."""
    assert asked_first("check_status", [_clause("notices_off"), _clause("check_status")])
    assert asked_first("check_status", [_clause("faq_audit"), _clause("check_status")])
    assert not asked_first("check_status", [_clause("check_status"), _clause("faq_audit")])
    assert not asked_first("check_status", [_clause("notices_off", False),
                                            _clause("check_status")])
    assert not asked_first("check_status", [_clause("request_unbind"), _clause("check_status")])
    assert not asked_first("faq_audit", [_clause("faq_materials"), _clause("faq_audit")])
    # a difficulty stated, not asked: the hand-off after it is what the merchant asks
    assert not asked_first("human_handoff", [_clause("faq_terminal_steps", text="我整不明白"),
                                             _clause("human_handoff")])
