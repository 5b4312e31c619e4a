"""The normaliser reads traditional characters and dialect function words as Mandarin."""

from __future__ import annotations

import pytest

from bot.nlu.normaliser import mandarin, normalise


@pytest.mark.parametrize(("typed", "read"), [
    ("唔该晒", "谢谢晒"),              # Cantonese "thanks", not 不该
    ("唔好意思", "不好意思"),
    ("唔好搞", "不要搞"),
    ("系唔系要身份证", "是不是要身份证"),
    ("冇用", "没用"),
    ("我個單搞掂未啊", "我个单搞定没啊"),  # traditional first, then dialect
    ("好伐？", "好吗?"),            # full-width ？ is NFKC-ed to ?
    ("要咩資料", "要啥资料"),
    ("啥子材料", "什么材料"),
    ("注销使唔使排队", "注销用不用排队"),  # 使唔使, not 使 + 唔使
    ("洗唔洗俾押金", "用不用给押金"),
    ("审核要几多日", "审核要多少日"),
    ("你哋仲要我交咩", "你们还要我交啥"),
])
def test_dialect_words_are_read_as_mandarin(typed: str, read: str) -> None:
    assert normalise(typed) == read


@pytest.mark.parametrize("text", ["未到账的钱怎么办", "采伐", "系统设置在哪", "能申请仲裁吗"])
def test_words_that_only_contain_a_dialect_character_are_kept(text: str) -> None:
    assert mandarin(text) == text


def test_replacements_keep_the_length_so_entity_offsets_stay_put() -> None:
    text = "唔该 冇搞掂未 商户号849581058120052 系唔系"
    assert len(normalise(text)) == len(text)
