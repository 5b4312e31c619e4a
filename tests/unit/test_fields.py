"""Tests for bot.fields: normalisers, masks and half-width conversion."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.fields import (
    FieldResult,
    mask_merchant_id,
    mask_phone,
    normalize_merchant_id,
    normalize_phone,
    normalize_serial,
    normalize_ticket_no,
    to_halfwidth,
)

NORMALIZERS = [normalize_merchant_id, normalize_serial, normalize_phone, normalize_ticket_no]
FULLWIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}


def test_to_halfwidth_maps_one_char_for_one() -> None:
    text = "商户号：８４９５　ＳＮ８Ａ－１"
    half = to_halfwidth(text)
    assert half == "商户号:8495 SN8A-1"
    assert len(half) == len(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("849581058120001", "849581058120001"),
        ("８４９５ 8105-8120 001", "849581058120001"),
        (" 8495 8105 8120 001 ", "849581058120001"),
        ("849-581-058-120-001", "849581058120001"),
        ("８４９５８１０５８１２０００１", "849581058120001"),
    ],
)
def test_merchant_id_accepts_formatting(text: str, value: str) -> None:
    assert normalize_merchant_id(text) == FieldResult(value=value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("84958", "商户号应为15位数字，您输入的是5位"),
        ("8495 8105 8120 0011", "商户号应为15位数字，您输入的是16位"),
        ("84958105812000O", "商户号只能包含数字"),
        ("商户号849581058120001", "商户号只能包含数字"),
        ("", "请输入15位数字的商户号"),
        ("  - ", "请输入15位数字的商户号"),
    ],
)
def test_merchant_id_rejects(text: str, error: str) -> None:
    result = normalize_merchant_id(text)
    assert result.value is None
    assert result.error is not None and error in result.error
    assert not result.ok


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("SN8A2B3C4D5", "SN8A2B3C4D5"),
        ("sn8a2b-3c4d5", "SN8A2B3C4D5"),
        ("N910 1234 56", "N910123456"),
        ("ＳＮ８Ａ２Ｂ３Ｃ４Ｄ５", "SN8A2B3C4D5"),
        ("12345678", "12345678"),
        ("A" * 20, "A" * 20),
    ],
)
def test_serial_accepts(text: str, value: str) -> None:
    assert normalize_serial(text).value == value


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("SN12", "您输入的是4位"),
        ("A" * 21, "您输入的是21位"),
        ("SN8A2B3C4D5#", "只能包含英文字母和数字"),
        ("序列号N910123456", "只能包含英文字母和数字"),
        ("", "请输入原POS机序列号"),
    ],
)
def test_serial_rejects(text: str, error: str) -> None:
    result = normalize_serial(text)
    assert result.value is None and result.error is not None and error in result.error


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "8613812345678",
        "0086 13812345678",
        "(+86) 138-1234-5678",
        "１３８１２３４５６７８",
    ],
)
def test_phone_accepts(text: str) -> None:
    assert normalize_phone(text) == FieldResult(value="13812345678")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1381234567", "手机号应为11位数字，您输入的是10位"),
        ("12812345678", "手机号格式不正确"),
        ("0531-88886666", "您输入的是12位"),
        ("+852 6123 4567", "中国大陆"),
        ("138abcd5678", "只能包含数字"),
        ("", "请输入11位手机号码"),
    ],
)
def test_phone_rejects(text: str, error: str) -> None:
    result = normalize_phone(text)
    assert result.value is None and result.error is not None and error in result.error


@pytest.mark.parametrize(
    "text",
    [
        "UB-20261128-0001",
        "ub-20261128-0001",
        "ub202611280001",
        "UB20261128-0001",
        "UB 20261128 0001",
        "ＵＢ－２０２６１１２８－０００１",
    ],
)
def test_ticket_accepts(text: str) -> None:
    assert normalize_ticket_no(text) == FieldResult(value="UB-20261128-0001")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("20261128-0001", "应以UB开头"),
        ("UB-2026112-0001", "您输入的是11位数字"),
        ("UB-20261332-0001", "日期20261332不存在"),
        ("", "请输入工单号"),
    ],
)
def test_ticket_rejects(text: str, error: str) -> None:
    result = normalize_ticket_no(text)
    assert result.value is None and result.error is not None and error in result.error


def test_masks() -> None:
    assert mask_merchant_id("849581058120001") == "849581******001"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_merchant_id("123") == "***"
    assert mask_phone("") == ""


# --- property tests -------------------------------------------------------------------------

separators = st.sampled_from(["", "", "", " ", "-", "　", "－", " - "])


@st.composite
def formatted(draw: st.DrawFn, digits: str) -> str:
    """``digits`` with random full-width digits and separators between characters."""
    out = []
    for i, d in enumerate(digits):
        if i:
            out.append(draw(separators))
        out.append(FULLWIDTH[d] if draw(st.booleans()) else d)
    return draw(st.sampled_from(["", " "])) + "".join(out) + draw(st.sampled_from(["", " "]))


@st.composite
def formatted_number(draw: st.DrawFn, size: int) -> tuple[str, str]:
    digits = draw(st.text(alphabet="0123456789", min_size=size, max_size=size))
    return digits, draw(formatted(digits))


@given(formatted_number(15))
def test_any_15_digits_normalise_back(case: tuple[str, str]) -> None:
    digits, text = case
    assert normalize_merchant_id(text) == FieldResult(value=digits)


@given(st.integers(min_value=1, max_value=40).filter(lambda n: n != 15).flatmap(formatted_number))
def test_wrong_length_merchant_id_rejected_with_count(case: tuple[str, str]) -> None:
    digits, text = case
    result = normalize_merchant_id(text)
    assert result.value is None
    assert result.error == f"商户号应为15位数字，您输入的是{len(digits)}位"


@st.composite
def formatted_mobile(draw: st.DrawFn) -> tuple[str, str]:
    rest = draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    phone = "1" + draw(st.sampled_from("3456789")) + rest
    return phone, draw(formatted(phone))


@given(formatted_mobile())
def test_any_mobile_normalises_back(case: tuple[str, str]) -> None:
    phone, text = case
    assert normalize_phone(text).value == phone
    assert normalize_phone("+86 " + text).value == phone


@given(st.text(alphabet="0123456789", min_size=1, max_size=30).filter(lambda s: len(s) != 11))
def test_wrong_length_phone_rejected_with_count(digits: str) -> None:
    result = normalize_phone(digits)
    assert result.value is None and result.error is not None
    if not (len(digits) == 13 and digits.startswith("86")) and not digits.startswith("0086"):
        assert f"您输入的是{len(digits)}位" in result.error


@settings(max_examples=300)
@given(st.one_of(st.text(), st.text(alphabet="0123456789 -－ＵＢub８Ａ+()　")))
def test_normalisers_never_raise(text: str) -> None:
    for normalize in NORMALIZERS:
        result = normalize(text)
        assert (result.value is None) != (result.error is None)
        if result.value is not None:
            assert re.fullmatch(r"[A-Z0-9-]+", result.value)


@given(st.text())
def test_to_halfwidth_preserves_length(text: str) -> None:
    assert len(to_halfwidth(text)) == len(text)


def test_normalisers_tolerate_non_strings() -> None:
    for normalize in NORMALIZERS:
        assert normalize(None).error  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["ABCDEFGß", "abcdefgſ", "abcdefgı12"])
def test_serial_letters_that_upper_case_into_ascii_are_refused(text: str) -> None:
    result = normalize_serial(text)
    assert result.value is None and "只能包含英文字母和数字" in result.error
