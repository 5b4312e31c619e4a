"""👍/👎 in the web chat: the rated turn is found in the tracker, kept once per answer,
and a 👎 keeps the merchant's message (redacted) as a ``feedback`` candidate."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from bot.analytics.feedback import DOWN, UP, FeedbackStore
from bot.analytics.sql import Filters
from bot.db import make_engine
from bot.learning.candidates import CandidateStore
from bot.tickets.migrate import upgrade
from bot.web.chat.feedback import find_turn, keep_rating

TRACKER = {"events": [
    {"event": "user", "text": "要带什么证件 我手机13812345678", "timestamp": 100.0,
     "input_channel": "socketio",
     "parse_data": {"intent": {"name": "faq_materials", "confidence": 0.91}}},
    {"event": "bot", "text": "营业执照副本\n\n法人身份证", "timestamp": 101.0},
    {"event": "bot", "text": "客服张三在此", "timestamp": 102.0, "metadata": {"kind": "agent"}},
]}


def test_the_rated_answer_and_its_question_are_found() -> None:
    turn = find_turn(TRACKER, "法人身份证")  # one part of a split answer
    assert turn is not None and turn.answer_ts == 101.0 and turn.intent == "faq_materials"
    assert turn.channel == "socketio" and turn.question.startswith("要带什么证件")
    assert find_turn(TRACKER, "营业执照副本\n\n法人身份证") == turn
    assert find_turn(TRACKER, "客服张三在此") is None  # an agent's message is not rated
    assert find_turn(TRACKER, "没说过的话") is None


def test_a_thumbs_down_is_kept_once_and_records_a_redacted_candidate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    upgrade(url)
    engine = make_engine(url)
    store, candidates = FeedbackStore(engine), CandidateStore(engine)
    turn = find_turn(TRACKER, "法人身份证")
    assert turn is not None
    assert keep_rating("a" * 32, turn, UP, store)
    assert candidates.candidates(status=None) == []  # 👍 records nothing
    assert keep_rating("a" * 32, turn, DOWN, store)
    assert not keep_rating("a" * 32, turn, DOWN, store)  # same again: nothing new
    [kept] = candidates.candidates(status=None)
    assert (kept.reason, kept.intent, kept.channel) == ("feedback", "faq_materials", "socketio")
    assert "13812345678" not in kept.text and "138****5678" in kept.text
    today = date.today()
    [row] = store.per_topic(Filters(today - timedelta(days=1), today + timedelta(days=1)))
    assert (row.topic, row.up, row.down) == ("faq_materials", 0, 1)
    engine.dispose()
