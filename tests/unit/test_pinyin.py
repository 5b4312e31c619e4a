"""Homophone typos and typed pinyin read as the words they stand for."""

import pytest

from bot.nlu.pinyin import split_syllables, to_pinyin


@pytest.mark.parametrize(("typed", "meant"), [
    ("解帮要带啥", "解绑要带啥"), ("商护号", "商户号"), ("审和要几天", "审核要几天"),
    ("解绑近度", "解绑进度"), ("账户会冻节吗", "账户会冻结吗"),
    ("jiebang yao dai sha", "解绑要带啥"), ("JieBang XuYao", "解绑需要"),
])
def test_homophones_and_pinyin_sound_the_same(typed: str, meant: str) -> None:
    assert to_pinyin(typed) == to_pinyin(meant)


def test_english_words_digits_and_punctuation() -> None:
    assert to_pinyin("我要unbind这台机器！") == "wo yao unbind zhe tai ji qi"
    assert to_pinyin("商户号849581058120003") == "shang hu hao"
    assert split_syllables("training") is None
    assert split_syllables("zhuangxiu") == ["zhuang", "xiu"]
