"""Training-time variants: homophone slips and typed pinyin keep the sound of an example."""

from __future__ import annotations

from bot.nlu.augment import Token, homophone_pool, homophone_slip, reading, typed_pinyin
from bot.nlu.pinyin import to_pinyin


def tokens(*words: str) -> list[Token]:
    out, position = [], 0
    for word in words:
        out.append(Token(word, position, position + len(word)))
        position += len(word)
    return out


POOL = homophone_pool(["解绑需要什么资料", "界面", "帮忙", "审和", "号码", "材料"])


def test_the_pool_groups_characters_by_their_toneless_reading() -> None:
    assert set(POOL["jie"]) == {"解", "界"} and set(POOL["bang"]) == {"绑", "帮"}
    assert all(len(chars) > 1 for chars in POOL.values())


def test_a_slip_changes_one_character_to_one_that_reads_the_same() -> None:
    text = "解绑需要什么资料"
    variant = homophone_slip(text, tokens("解绑", "需要", "什么", "资料"), POOL)
    assert variant is not None and len(variant.text) == len(text)
    changed = [(a, b) for a, b in zip(text, variant.text, strict=True) if a != b]
    assert len(changed) == 1 and reading(changed[0][0]) == reading(changed[0][1])
    assert to_pinyin(variant.text) == to_pinyin(text)
    assert variant.words.replace(" ", "") == variant.text
    again = homophone_slip(text, tokens("解绑", "需要", "什么", "资料"), POOL)
    assert again == variant  # seeded by the text: training twice gives the same model


def test_short_examples_get_no_variant() -> None:
    assert homophone_slip("解绑", tokens("解绑"), POOL) is None
    assert typed_pinyin("转人工", tokens("转", "人工")) is None


def test_typed_pinyin_sounds_like_the_example() -> None:
    text = "解绑需要什么资料"
    variant = typed_pinyin(text, tokens("解绑", "需要", "什么", "资料"))
    assert variant is not None and variant.text != text
    assert to_pinyin(variant.text) == to_pinyin(text)
    assert len(variant.words.split()) == 4
    assert typed_pinyin("ok", tokens("ok")) is None
