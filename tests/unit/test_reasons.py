"""Tests for unbind reason classification (bot.fields.classify_reason, data/reasons.yml)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.fields import ReasonResult, classify_reason, reason_categories, reason_names

CATEGORIES = ["更换设备", "业务调整", "系统升级", "迁移支付平台", "停业注销", "设备故障", "其他"]


def test_categories_in_button_order() -> None:
    assert reason_names() == CATEGORIES


@pytest.mark.parametrize("name", CATEGORIES)
def test_exact_names_map_directly(name: str) -> None:
    assert classify_reason(name) == ReasonResult(name, None)
    assert classify_reason(f" {name} ") == ReasonResult(name, None)


@pytest.mark.parametrize("category", reason_categories(), ids=lambda c: c.code)
def test_button_payloads_map_directly(category: Any) -> None:
    for value in (category.name, category.code):
        payload = "/inform" + json.dumps({"unbind_reason": value}, ensure_ascii=False)
        assert classify_reason(payload) == ReasonResult(category.name, None)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("换新机了", "更换设备"),
        ("买了台新机器，旧机器不用了", "更换设备"),
        ("換機器", "更换设备"),
        ("店不开了", "停业注销"),
        ("我们关门了", "停业注销"),
        ("公司要注销", "停业注销"),
        ("不做了", "停业注销"),
        ("店鋪關門了", "停业注销"),
        ("机器坏了", "设备故障"),
        ("开不了机", "设备故障"),
        ("屏幕碎了", "设备故障"),
        ("刷不了卡", "设备故障"),
        ("機器壞了，開不了機", "设备故障"),
        ("要换支付平台", "迁移支付平台"),
        ("换一家，你们费率太高", "迁移支付平台"),
        ("转到别的平台去", "迁移支付平台"),
        ("轉到別的平台", "迁移支付平台"),
        ("系统要升级", "系统升级"),
        ("收银系统更新了要换", "系统升级"),
        ("系統升級", "系统升级"),
        ("业务调整一下", "业务调整"),
        ("我们转型做外卖了", "业务调整"),
        ("業務調整", "业务调整"),
        ("机器坏了要换新机", "设备故障"),
    ],
)
def test_free_text(text: str, category: str) -> None:
    assert classify_reason(text) == ReasonResult(category, text)


@pytest.mark.parametrize("text", ["老板说的", "不知道，就是想解绑", "asdf"])
def test_unknown_is_other_with_detail(text: str) -> None:
    assert classify_reason(text) == ReasonResult("其他", text)


def test_detail_keeps_the_merchants_words() -> None:
    result = classify_reason("  隔壁那家费率低，我们换一家  ")
    assert result == ReasonResult("迁移支付平台", "隔壁那家费率低，我们换一家")


@pytest.mark.parametrize("text", ["", "   ", None, "/inform{broken json", "/inform"])
def test_never_raises(text: str | None) -> None:
    assert classify_reason(text).category in CATEGORIES  # type: ignore[arg-type]
