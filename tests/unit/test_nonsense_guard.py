"""Messages without words go to the fallback; everything with a word stays classified."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.nonsense_guard import NonsenseGuard, is_nonsense


@pytest.mark.parametrize("text", [
    "！！", "...", "？。", "kkkkkk", "qwerty", "lkjhgf", "mnbvcx", "yuiop 12", "ASDFGH",
])
def test_no_words(text: str) -> None:
    assert is_nonsense(text)


@pytest.mark.parametrize("text", [
    "", "ok", "hello", "asdf", "👍", "好的", "嗯", "pos怎么解绑", "SN7845120936",
    "849581058120003", "sn qwert12345678", "help me unbind", "ABC12345",
])
def test_words_or_values(text: str) -> None:
    assert not is_nonsense(text)


def test_guard_zeroes_confidences_only_for_nonsense() -> None:
    ranking = [{"name": "affirm", "confidence": 0.9}, {"name": "deny", "confidence": 0.1}]
    mash = Message(data={TEXT: "zxcvbn", INTENT: ranking[0], INTENT_RANKING_KEY: ranking})
    word = Message(data={TEXT: "对的", INTENT: ranking[0], INTENT_RANKING_KEY: ranking})
    NonsenseGuard().process([mash, word])
    assert mash.get(INTENT) == {"name": "affirm", "confidence": 0.0}
    assert [r["confidence"] for r in mash.get(INTENT_RANKING_KEY)] == [0.0, 0.0]
    assert word.get(INTENT) == {"name": "affirm", "confidence": 0.9}
