"""Secrets are hidden everywhere; the numbers the bot needs are not."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.normaliser import TextNormaliser, normalise
from bot.nlu.secret_guard import SECRET_KINDS, SecretGuard, SecretIntent
from bot.redaction import MASK, mentions_secret, redact
from bot.stores import redact_value


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        ("我密码是123456", "123456", "password"),
        ("我的登录密码abc12345", "abc12345", "password"),
        ("密码：１２３４５６", "１２３４５６", "password"),
        ("验证码 845210", "845210", "code"),
        ("短信验证码收到了是 552301", "552301", "code"),
        ("那个6位数是 203948", "203948", "code"),
        ("pin码是0000", "0000", "pin"),
        ("刚发来的短信码 6 6 3 1 0 9", "6 6 3 1 0 9", "code"),
        ("机器上要输的那个口令我设的是 135790", "135790", "password"),
        ("my password is Pw7731905", "Pw7731905", "password"),
        ("卡号 6222 0212 3456 7890 128", "6222 0212 3456 7890 128", "bank_card"),
        ("身份证号11010519491231002X", "11010519491231002X", "id_card"),
        ("收到的验证码是 三九 七二 零一", "三九 七二 零一", "code"),
        ("支付密码就是幺两三四五六", "幺两三四五六", "password"),
    ],
)
def test_secrets_are_masked(text, secret, kind):
    result = redact(text)
    assert secret not in result.text and MASK in result.text
    assert kind in result.kinds


@pytest.mark.parametrize(
    "text",
    [
        "商户号849581058120003",
        "手机13812345678",
        "序列号SN8A2B3C4D5",
        "查工单 UB-20261128-0001",
        "密码忘了怎么办",
        "验证码收不到，商户号849581058120003",
        "按F1和F4进菜单",
        "风控审核一般3-7个工作日",
    ],
)
def test_what_the_bot_needs_is_kept(text):
    assert redact(text).text == text


@given(st.text(max_size=200))
def test_redact_never_raises_and_only_shrinks_secrets(text):
    result = redact(text)
    assert isinstance(result.text, str)
    assert result.found == (MASK in result.text and MASK not in text) or MASK in text


def test_redact_value_walks_nested_event_data():
    event = {
        "text": "密码是123456", "parse_data": {"text": "密码是123456", "n": 1}, "l": ["pin 9999"]
    }
    flat = str(redact_value(event))
    assert "123456" not in flat and "9999" not in flat and "'n': 1" in flat


def test_secret_guard_masks_text_and_secret_intent_overrides_the_classifier():
    message = Message(data={"text": "验证码 845210"})
    SecretGuard().process([message])
    assert "845210" not in message.get("text") and message.get(SECRET_KINDS) == ["code"]
    message.set("intent", {"name": "inform", "confidence": 0.9})
    message.set("intent_ranking", [{"name": "inform", "confidence": 0.9}])
    SecretIntent().process([message])
    assert message.get("intent")["name"] == "share_secret"


def test_a_share_secret_guess_without_any_secret_word_is_overruled():
    message = Message(data={"text": "56"})
    ranking = [{"name": "share_secret", "confidence": 0.6}, {"name": "inform", "confidence": 0.3}]
    message.set("intent", ranking[0])
    message.set("intent_ranking", ranking)
    SecretIntent().process([message])
    assert message.get("intent")["name"] == "inform"
    assert not mentions_secret("56") and mentions_secret("我把密码发你")


def test_normaliser_folds_width_script_and_case():
    assert normalise("解綁ＰＯＳ機") == "解绑pos机"
    message = Message(data={"text": "營業執照"})
    TextNormaliser().process([message])
    assert message.get("text") == "营业执照"


def test_only_secret_free_texts_are_remembered_between_calls():
    from bot import redaction

    secret, clean = "我的密码是 Zx998877 请帮我看看", "请问解绑需要带什么材料 2026"
    for _ in range(2):
        assert redaction.redact_text(secret) == "我的密码是 ****** 请帮我看看".replace(
            "******", redaction.MASK
        )
        assert redaction.redact_text(clean) == clean
    assert clean in redaction._CLEAN
    assert not any("Zx998877" in text for text in redaction._CLEAN)
