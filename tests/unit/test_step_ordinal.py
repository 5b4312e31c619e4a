"""A step asked about by its number alone ("第三步是啥") is that step of the eight."""

from __future__ import annotations

import pytest

from bot.knowledge.step_ordinal import ordinal_step


@pytest.mark.parametrize(("text", "step"), [
    ("第三步是啥", "step_migration"), ("解绑流程第五步是什么", "step_install"),
    ("第3个环节干嘛的", "step_migration"), ("第二步呢？", "step_freeze"),
    ("第八步", "step_final"), ("請問第一步是什麼", "step_review"),
])
def test_a_step_named_by_its_number_alone(text: str, step: str) -> None:
    found = ordinal_step(text)
    assert found is not None and found.id == step


@pytest.mark.parametrize("text", [
    "机器上解绑第一步按什么",  # the steps on the terminal, not the eight
    "解绑前第一步做啥",  # preparation
    "现在办到第几步了",  # a status question
    "第九步是啥",  # there are eight
    "第一步资料审核具体怎么弄",  # names the step: the classifier's
    "解绑要带什么资料",
])
def test_anything_else_is_left_to_the_classifier(text: str) -> None:
    assert ordinal_step(text) is None
