"""The text normaliser: dialect, homophone typos, pinyin and English domain words, filler."""

from pathlib import Path

import pytest

from bot.nlu.normalisation import WORDS_PATH, normalise, rewrites


@pytest.mark.parametrize(("typed", "expected"), [
    ("这机器解绑咋整啊", "这机器解绑怎么办啊"),
    ("解绑要带啥资料", "解绑要带什么资料"),
    ("咋个解帮", "怎么解绑"),
    ("机器坏了弄哪样", "机器坏了怎么办"),
    ("我的商护号填错了", "我的商户号填错了"),
    ("审和要几天", "审核要几天"),
    ("届绑的近度在哪看", "解绑的进度在哪看"),
])
def test_dialect_and_typos_become_the_domain_words(typed: str, expected: str) -> None:
    assert normalise(typed) == expected


@pytest.mark.parametrize(("typed", "expected"), [
    ("how to unbind my POS", "how to 解绑 my pos"),
    ("Jie Bang xuyao shenme ziliao", "解绑 xuyao 什么 资料"),
    ("jiebang yao duojiu", "解绑 yao 多久"),
    ("shenhe tongguo le ma", "审核 tongguo le ma"),
    ("POS ji 怎么解绑", "pos机 怎么解绑"),
    ("posji咋解绑", "pos机怎么解绑"),
])
def test_pinyin_and_english_domain_words_are_read_as_chinese(typed: str, expected: str) -> None:
    assert normalise(typed) == expected


@pytest.mark.parametrize("typed", [
    "SN8A2B3C4D5", "849581000000003", "JB20261207001", "reviewer", "shenheyuan", "posjia",
])
def test_values_and_longer_words_are_left_alone(typed: str) -> None:
    assert normalise(typed) == typed.lower()


@pytest.mark.parametrize(("typed", "expected"), [
    ("嗯 那个 就是说 解绑要多久", "解绑要多久"),
    ("呃，那个，审核要几天", "审核要几天"),
    ("额，解绑要带什么", "解绑要带什么"),
    ("好的,那个,审核要几天", "好的,审核要几天"),
    ("我想问下那个那个解绑要多久", "我想问下解绑要多久"),
])
def test_voice_filler_is_dropped(typed: str, expected: str) -> None:
    assert normalise(typed) == expected


@pytest.mark.parametrize("typed", ["嗯", "嗯嗯", "嗯嗯啊", "额度有限制吗", "那个步骤"[:2]])
def test_filler_that_is_the_whole_message_or_part_of_a_word_stays(typed: str) -> None:
    assert normalise(typed) == typed


def test_a_determiner_inside_a_sentence_stays() -> None:
    assert normalise("选那个步骤") == "选那个步骤"


def test_the_words_file_is_read_longest_first(tmp_path: Path) -> None:
    words = tmp_path / "words.yml"
    words.write_text("dialect:\n  咋: 怎么\n  咋整: 怎么办\nlatin:\n  jie bang: 解绑\n",
                     encoding="utf-8")
    table = rewrites(words)
    assert table.replace_words("咋整") == "怎么办"
    assert table.replace_words("jiebang") == "解绑"
    assert table.replace_words("jie   bang") == "解绑"
    assert table.drop_filler("嗯 好") == "嗯 好"  # no fillers in this file


def test_the_project_words_file_has_every_section() -> None:
    import yaml

    raw = yaml.safe_load(WORDS_PATH.read_text(encoding="utf-8"))
    assert {"dialect", "typos", "latin", "fillers"} <= set(raw)
    replaced = {**raw["dialect"], **raw["typos"]}
    # A rewrite never produces a word that is rewritten again (one pass is enough).
    for standard in replaced.values():
        assert normalise(standard) == standard
