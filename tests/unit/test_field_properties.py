"""Properties of the serial-number validator and of the log masks (hypothesis).

``tests/unit/test_fields.py`` covers the merchant-number and phone round trips and that
no normaliser ever raises; here: what a serial number is (8–20 ASCII letters or digits,
upper-cased, however it was typed) and what the masks of ``bot.fields`` keep.
"""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.fields import (
    SERIAL_MAX,
    SERIAL_MIN,
    mask_merchant_id,
    mask_phone,
    normalize_serial,
)

ALNUM = string.ascii_letters + string.digits
FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in ALNUM}
# What merchants put between characters: spaces (also the ideographic one), hyphens,
# dashes, underscores.
NOISE = st.sampled_from(["", "", "", " ", "-", "　", "—", "_", " - "])


@st.composite
def typed(draw: st.DrawFn, serial: str) -> str:
    """``serial`` as a merchant might type it: mixed case, full width, separators."""
    out = []
    for ch in serial:
        ch = ch.lower() if draw(st.booleans()) else ch.upper()
        out.append(FULLWIDTH[ch] if draw(st.booleans()) else ch)
        out.append(draw(NOISE))
    return draw(NOISE) + "".join(out)


def serials(min_size: int = SERIAL_MIN, max_size: int = SERIAL_MAX) -> st.SearchStrategy[str]:
    return st.text(alphabet=ALNUM, min_size=min_size, max_size=max_size)


@settings(max_examples=300)
@given(serials().flatmap(lambda s: st.tuples(st.just(s), typed(s))))
def test_any_serial_however_typed_normalises_to_its_upper_case(case: tuple[str, str]) -> None:
    serial, text = case
    assert normalize_serial(text).value == serial.upper()


@settings(max_examples=200)
@given(serials())
def test_serial_normalisation_is_idempotent_and_case_blind(serial: str) -> None:
    value = normalize_serial(serial).value
    assert value is not None and len(value) == len(serial)
    assert normalize_serial(value).value == value
    assert normalize_serial(serial.lower()).value == normalize_serial(serial.upper()).value


@settings(max_examples=200)
@given(
    st.one_of(serials(1, SERIAL_MIN - 1), serials(SERIAL_MAX + 1, 60)).flatmap(
        lambda s: st.tuples(st.just(s), typed(s))
    )
)
def test_a_serial_of_the_wrong_length_is_refused_with_its_length(case: tuple[str, str]) -> None:
    serial, text = case
    result = normalize_serial(text)
    assert result.value is None
    assert result.error == f"序列号应为8到20位字母或数字，您输入的是{len(serial)}位"


@settings(max_examples=200)
@given(
    serials(SERIAL_MIN - 1, SERIAL_MAX - 1),
    st.sampled_from("#/.:*@!?，。（）中号"),
    st.integers(0, SERIAL_MAX),
)
def test_a_serial_with_any_other_character_is_refused(serial: str, odd: str, at: int) -> None:
    text = serial[:at] + odd + serial[at:]
    result = normalize_serial(text)
    assert result.value is None and result.error is not None
    assert "只能包含英文字母和数字" in result.error


@settings(max_examples=300)
@given(st.text())
def test_a_serial_value_is_only_ever_8_to_20_ascii_letters_and_digits(text: str) -> None:
    value = normalize_serial(text).value
    if value is not None:
        assert SERIAL_MIN <= len(value) <= SERIAL_MAX
        assert all(ch in string.ascii_uppercase + string.digits for ch in value)


@given(st.text(alphabet=string.digits, min_size=10, max_size=30))
def test_the_merchant_mask_keeps_length_and_only_the_first_6_and_last_3(digits: str) -> None:
    masked = mask_merchant_id(digits)
    assert len(masked) == len(digits)
    assert masked[:6] == digits[:6] and masked[-3:] == digits[-3:]
    assert set(masked[6:-3]) <= {"*"}


@given(st.text(alphabet=string.digits, min_size=8, max_size=20))
def test_the_phone_mask_keeps_length_and_only_the_first_3_and_last_4(digits: str) -> None:
    masked = mask_phone(digits)
    assert len(masked) == len(digits)
    assert masked[:3] == digits[:3] and masked[-4:] == digits[-4:]
    assert set(masked[3:-4]) <= {"*"}


@given(st.text(alphabet=string.digits, max_size=9))
def test_short_numbers_are_masked_entirely(digits: str) -> None:
    assert mask_merchant_id(digits) == "*" * len(digits)
    assert mask_phone(digits[:7]) == "*" * len(digits[:7])
