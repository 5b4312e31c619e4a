"""Grounded answers: the best guide passage, trusted only above the measured threshold."""

from __future__ import annotations

from bot.knowledge.grounding import coverage, ground, settings, topic_confidences
from bot.knowledge.guide import guide_text
from bot.web.console.search import default_index, tokenize


def ranking(**confidences: float) -> list[dict]:
    return [{"name": name, "confidence": value} for name, value in confidences.items()]


def test_a_step_question_is_grounded_in_that_steps_passage() -> None:
    found = ground("新机装好以后还会做功能测试吗", ranking(faq_step_testing=0.45, faq_rebind=0.2))
    assert found is not None and found.topic.id == "step_testing"
    assert found.passage.text in guide_text()
    assert "测试验证" in found.passage.text
    assert found.accepted()
    assert found.alternatives and found.topic not in found.alternatives


def test_words_the_guide_never_uses_cover_nothing() -> None:
    found = ground("解绑会不会影响征信", ranking(out_of_scope=0.6, faq_funds=0.1))
    assert found is None or (found.coverage < 0.5 and not found.accepted())


def test_coverage_is_absolute_and_weighted() -> None:
    index = default_index()
    number = next(i for i, t in enumerate(index.topics) if t.id == "materials")
    assert coverage(tokenize("营业执照 税务登记证"), number) == 1.0
    assert coverage(tokenize("征信"), number) == 0.0
    half = coverage(tokenize("营业执照 征信"), number)
    assert 0.0 < half < 1.0


def test_the_nlu_ranking_moves_the_choice_and_the_score() -> None:
    plain = ground("资料要审多久")
    fused = ground("资料要审多久", ranking(faq_audit=0.9))
    assert fused is not None and fused.topic.id == "audit"
    assert plain is None or fused.score > plain.score


def test_nothing_to_match_is_no_grounding() -> None:
    assert ground("qwerqwer") is None
    assert ground("") is None


def test_settings_and_confidences() -> None:
    assert 0 < settings().threshold < 1 and 0 <= settings().nlu_weight <= 1
    assert topic_confidences(ranking(faq_audit=0.7, greet=0.2)) == {"audit": 0.7}
