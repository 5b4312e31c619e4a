"""The normaliser reads traditional characters and dialect function words as Mandarin."""

from __future__ import annotations

import random

import pytest

from bot.nlu import normaliser
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
    ("啷个还没审完", "怎么还没审完"),       # south-western
    ("要交么子证件", "要交什么证件"),       # Hunan, Hubei
    ("不晓得找哪个", "不知道找哪个"),
    ("俺那台机子", "我那台机子"),
    ("肿么还木有消息", "怎么还没有消息"),   # spellings typed online
    ("注销使唔使排队", "注销用不用排队"),  # 使唔使, not 使 + 唔使
    ("洗唔洗俾押金", "用不用给押金"),
    ("审核要几多日", "审核要多少日"),
    ("你哋仲要我交咩", "你们还要我交啥"),
    ("机子上头能直接弄不", "机子上面能直接弄不"),  # localiser 头
    ("设置里头找不到", "设置里面找不到"),
    ("冻结要冻好耐", "冻结要冻好久"),      # Cantonese 耐 is 久
    ("新机几时到", "新机啥时到"),
    ("这个要点整", "这个要咋整"),          # Cantonese 点 + verb: how
    ("侬晓得解绑哪能弄", "你知道解绑怎么弄"),  # Wu 哪能 + verb: how
])
def test_dialect_words_are_read_as_mandarin(typed: str, read: str) -> None:
    assert normalise(typed) == read


@pytest.mark.parametrize("text", ["未到账的钱怎么办", "采伐", "系统设置在哪", "能申请仲裁吗",
                                  "去网点办行吗", "快点搞定", "去哪能办"])
def test_words_that_only_contain_a_dialect_character_are_kept(text: str) -> None:
    assert mandarin(text) == text


def test_replacements_keep_the_length_so_entity_offsets_stay_put() -> None:
    text = "唔该 冇搞掂未 商户号849581058120052 系唔系"
    assert len(normalise(text)) == len(text)


@pytest.mark.parametrize(("typed", "read"), [
    ("解帮后钱多久到", "解绑后钱多久到"),        # 帮 sounds like 绑
    ("我想借绑这台机子", "我想解绑这台机子"),      # 借 sounds like 解
    ("中端号在哪看", "终端号在哪看"),
    ("商护号输错了", "商户号输错了"),
    ("序例号贴在哪", "序列号贴在哪"),            # 例 looks like 列
    ("审和要几天啊", "审核要几天啊"),
    ("旧机注消了吗", "旧机注销了吗"),
    ("正事解绑完就好了吗", "正式解绑完就好了吗"),  # a step by its name
    ("培训交节是谁来做", "培训交接是谁来做"),
    ("我的公单号忘了", "我的工单号忘了"),
    ("解绑有哪些步奏", "解绑有哪些步骤"),        # zou for zhou: a fuzzy initial (模糊音)
    ("资料申核过了吗", "资料审核过了吗"),
])
def test_domain_words_typed_with_a_slip_are_read_as_the_words(typed: str, read: str) -> None:
    assert normalise(typed) == read
    assert len(normalise(typed)) == len(typed)


@pytest.mark.parametrize("text", [
    "我想了解帮我办的人是谁",  # 了解 is a word: its 解 is no slip for 解绑
    "网络中断了怎么办",       # 中断 shares no character with 终端
    "需要验证吗",            # 验证码 is not one of the words
    "商场里能办吗",
])
def test_real_words_that_sound_like_a_domain_word_are_kept(text: str) -> None:
    assert normalise(text) == text


def test_training_examples_keep_their_slips() -> None:
    assert normalise("解帮流程", slips=False) == "解帮流程"


def _corrected_by_every_span(text: str) -> str:
    """The definition ``corrected`` implements, tried at every place (the slow way)."""
    words, look_alike = normaliser._homophones()
    chars = list(text)
    for word in words:
        for start in range(len(chars) - len(word) + 1):
            span = "".join(chars[start:start + len(word)])
            if (span != word and any(a == b for a, b in zip(span, word, strict=True))
                    and all(normaliser._slip(a, b, look_alike)
                            for a, b in zip(span, word, strict=True))
                    and not normaliser._in_a_word(text, start, start + len(word))):
                chars[start:start + len(word)] = word
    return "".join(chars)


def test_slips_found_from_shared_characters_are_those_of_every_span() -> None:
    """``corrected`` tries only places that share a character with a word; it finds what
    trying every place finds, on texts dense with the words' characters and their slips."""
    words, look_alike = normaliser._homophones()
    alphabet = "".join(sorted({*"".join(words), *look_alike, *"护好邦梆和例助伤了帮的我是"}))
    rng = random.Random(7)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
             for _ in range(6000)]
    changed = [t for t in texts if normaliser.corrected(t) != t]
    assert len(changed) > 100  # the texts do hold slips
    assert [t for t in texts if normaliser.corrected(t) != _corrected_by_every_span(t)] == []
