"""Unit and property tests: reply rendering, numbered choices, safe XML parsing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.wechat_render import (
    TEXT_MAX_BYTES,
    ChoiceMemory,
    cdata_safe,
    parse_choice,
    render_messages,
    reply_bytes,
    split_text,
    strip_markdown,
)
from bot.channels.wechat_store import MemoryStore
from bot.channels.wechat_xml import XmlRejected, parse_xml


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**重要**：请先备份", "重要：请先备份"),
        ("## 操作步骤\n1. 按 `F1+F4`", "操作步骤\n1. 按 F1+F4"),
        ("- 营业执照\n* 法人身份证", "• 营业执照\n• 法人身份证"),
        ("详见[帮助中心](https://example.com/help)", "详见帮助中心（https://example.com/help）"),
        ("> 注意：__不要__泄露密码", "注意：不要泄露密码"),
        ("```\ncode\n```", "code"),
        ("商户号_849581_", "商户号_849581_"),
        ("a\n\n\n\nb", "a\n\nb"),
        ("请按*确认*键", "请按确认键"),
        ("*注意*：先备份", "注意：先备份"),
        ("面积 2*3*4 立方", "面积 2*3*4 立方"),
        ("a * b * c", "a * b * c"),
    ],
)
def test_strip_markdown(markdown: str, plain: str) -> None:
    assert strip_markdown(markdown) == plain


def test_split_text_breaks_at_sentence_ends() -> None:
    text = "第一句。" * 300 + "第二段！" * 300
    chunks = split_text(text)
    assert len(chunks) > 1
    assert all(len(c.encode()) <= 2048 for c in chunks)
    assert all(c[-1] in "。！" for c in chunks)
    assert "".join(chunks) == text


def test_split_text_hard_splits_one_endless_sentence() -> None:
    chunks = split_text("啊" * 2000)
    assert [len(c.encode()) for c in chunks] == [2046, 2046, 1908]


def test_split_text_uses_secondary_boundaries_before_cutting_words() -> None:
    english = "Press F1 and F4 to open the menu. " * 120  # no 。！？ or newline at all
    chunks = split_text(english)
    assert len(chunks) > 1
    assert all(len(c.encode()) <= 2048 and c.endswith("menu.") for c in chunks)
    assert " ".join(chunks) == english.strip()
    clauses = "第一项内容需要认真核对；" * 200 + "结束"
    chunks = split_text(clauses)
    assert all(len(c.encode()) <= 2048 for c in chunks)
    assert all(c.endswith("；") for c in chunks[:-1]) and chunks[-1].endswith("结束")
    assert "".join(chunks) == clauses
    mixed = "Step one; step two! Really? " * 100
    assert all(c[-1] in ";!?" for c in split_text(mixed, max_bytes=300)[:-1])


def test_split_text_keeps_chunks_under_the_limit_after_cdata_escaping() -> None:
    text = "]]>" + "啊" * 681  # 2046 bytes, but 2058 once "]]>" is escaped
    chunks = split_text(text)
    assert len(chunks) == 2 and "".join(chunks) == text
    assert all(reply_bytes(c) <= TEXT_MAX_BYTES for c in chunks)
    only = split_text("]]>" * 1000)
    assert "".join(only) == "]]>" * 1000
    assert all(len(cdata_safe(c).encode()) <= TEXT_MAX_BYTES for c in only)


def _without_space(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=4000)
    | st.text(
        alphabet=st.sampled_from(list("]]>>]解绑。；;.!? \n😀a")), min_size=2100, max_size=6000
    )
)
def test_every_chunk_fits_in_2048_bytes_for_arbitrary_text(text: str) -> None:
    """Any text; the second strategy is always over the limit, and dense in "]]>"."""
    chunks = split_text(text)
    assert all(0 < len(c.encode("utf-8")) <= TEXT_MAX_BYTES for c in chunks)
    assert all(reply_bytes(c) <= TEXT_MAX_BYTES for c in chunks)
    assert _without_space("".join(chunks)) == _without_space(text)
    rendered = render_messages([{"text": text, "buttons": [{"title": text[:50], "payload": "/a"}]}])
    assert all(reply_bytes(c) <= TEXT_MAX_BYTES for c in rendered.chunks)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("解绑。！？\n ab1😀")), max_size=3000))
def test_split_text_never_exceeds_the_limit_nor_loses_text(text: str) -> None:
    chunks = split_text(text, max_bytes=200)
    assert all(0 < len(c.encode()) <= 200 for c in chunks)
    assert "".join(chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


@pytest.mark.parametrize(
    ("text", "number"),
    [("1", 1), ("１", 1), ("第1个", 1), ("第一个", 1), ("选2", 2), ("3.", 3), ("第十项", 10)],
)
def test_parse_choice(text: str, number: int) -> None:
    assert parse_choice(text) == number


@pytest.mark.parametrize("text", ["849581058120003", "我要解绑", "1个月", "", "100"])
def test_parse_choice_ignores_other_text(text: str) -> None:
    assert parse_choice(text) is None


def test_render_numbers_buttons_across_messages_and_keeps_urls() -> None:
    rendered = render_messages(
        [
            {"text": "请选择原因", "buttons": [{"title": "更换设备", "payload": "/a"}]},
            {"text": "或者", "buttons": [{"title": "转人工", "payload": "/human_handoff"}]},
            {"text": "帮助", "buttons": [{"title": "帮助中心", "url": "https://example.com"}]},
            {"image": "https://example.com/x.png"},
            {"custom": {"only": "web"}},
        ]
    )
    assert rendered.options == {"1": "/a", "2": "/human_handoff"}
    assert rendered.chunks == [
        "请选择原因\n回复数字选择：\n1. 更换设备\n\n或者\n回复数字选择：\n2. 转人工\n\n"
        "帮助\n帮助中心：https://example.com\n\n图片：https://example.com/x.png"
    ]


async def test_choice_memory_resolves_and_forgets() -> None:
    memory = ChoiceMemory(MemoryStore(), "t")
    await memory.remember("u1", {"1": "/a", "2": "/b"})
    assert await memory.resolve("u1", "２") == "/b"
    assert await memory.resolve("u1", "3") is None
    assert await memory.resolve("u2", "1") is None
    await memory.remember("u1", {})
    assert await memory.resolve("u1", "1") is None


def test_parse_xml_flat_fields_and_cdata() -> None:
    fields = parse_xml("<xml><A><![CDATA[<b>&amp;]]></A><B>2</B><N><C>x</C></N></xml>")
    assert fields == {"A": "<b>&amp;", "B": "2"}


@pytest.mark.parametrize(
    "doc",
    [
        '<!DOCTYPE xml [<!ENTITY e "x">]><xml><A>&e;</A></xml>',
        '<!DOCTYPE xml SYSTEM "http://example.com/x.dtd"><xml/>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd">%p;]><xml/>',
        "<xml><A>&undefined;</A></xml>",
        "<xml><A></xml>",
        "\xff\xfe",
    ],
)
def test_parse_xml_rejects_dtds_entities_and_garbage(doc: str) -> None:
    with pytest.raises(XmlRejected):
        parse_xml(doc.encode("latin-1") if doc.startswith("\xff") else doc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048) | st.text(max_size=512).map(lambda t: f"<xml><A>{t}</A></xml>"))
def test_parse_xml_never_raises_anything_but_rejection(data: bytes | str) -> None:
    with contextlib.suppress(XmlRejected):
        assert isinstance(parse_xml(data), dict)
