"""Secrets are hidden everywhere; the numbers the bot needs are not."""

import pytest
from hypothesis import given, settings
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
        # Letters-only short passwords, when the merchant says that this is the password.
        ("我的密码是 hello", "hello", "password"),
        ("密码：abc", "abc", "password"),
        ("my password is qwert", "qwert", "password"),
        # 卡 alone is a card cue; Visa / Mastercard numbers count without any cue.
        ("我的卡4111111111111111", "4111111111111111", "bank_card"),
        ("4111111111111111", "4111111111111111", "bank_card"),
        ("帮我查 5105 1051 0510 5100 这张", "5105 1051 0510 5100", "bank_card"),
        ("我的卡是 3566 0020 2036 0505", "3566 0020 2036 0505", "bank_card"),
        # Traditional and spaced cue words.
        ("密碼是123456", "123456", "password"),
        ("驗證碼 845210", "845210", "code"),
        ("動態碼是 552301", "552301", "code"),
        ("密 码 是 123456", "123456", "password"),
        ("验 证 码 552301", "552301", "code"),
        # Cue words typed with a homophone slip or in pinyin.
        ("我的mima是123456", "123456", "password"),
        ("mi ma 778899", "778899", "password"),
        ("蜜码是654321", "654321", "password"),
        ("密马 778899", "778899", "password"),
        ("验证玛 552301", "552301", "code"),
        ("短信验证玛是 5523", "5523", "code"),
        ("驗證瑪 845210", "845210", "code"),
        ("yanzhengma 552301", "552301", "code"),
        # Card security codes.
        ("CVV 123", "123", "cvv"),
        ("卡背面的安全码是 321", "321", "cvv"),
        ("cvn2: 4567", "4567", "cvv"),
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
        "我的卡绑定的商户号是849581058120003",
        "卡号对应的商户号 849 581 058 120 003",
        "卡里预留的手机是 138 1234 5678",
        "卡住了，序列号 SN8A2B3C4D5",
        "工单UB-20261128-0001和UB-20261201-0417",
        "订单号 2026112812345678",
        "密码是 POS 机上的吗",
        "my password is wrong",
        "密碼忘了",
        "蜜码忘了怎么改",
        "cinema 12345",
        "jiemima 1234",
        "安全码在哪里看",
        "password: Text = None, hide_password=True, code: other",
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


def test_redact_value_copies_only_what_holds_a_secret():
    clean = {"text": "我要解绑", "parse_data": {"entities": [{"value": "866123456789012"}]}}
    assert redact_value(clean) is clean
    event = {"text": "好的", "parse_data": {"text": "密码是123456"}, "l": ["ok", "pin 9999"]}
    redacted = redact_value(event)
    assert redacted is not event and redacted["text"] == "好的"
    assert redacted["l"][0] == "ok" and "9999" not in redacted["l"][1]
    assert event["parse_data"]["text"] == "密码是123456"  # the input is left as it was
    assert list(redacted) == list(event)


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
    assert mentions_secret("我把mima发你") and mentions_secret("验证玛收不到")


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


_SEPARATOR = st.sampled_from(["", " ", "-"])
_BEFORE = st.sampled_from([
    "", "商户号", "我的卡绑定的商户号是", "卡号对应商户 ", "手机", "卡里预留 ", "序列号", "查工单 ",
    "密码忘了，",
])


@st.composite
def _grouped(draw: st.DrawFn, digits: str) -> str:
    """``digits`` split into random groups by spaces or hyphens, as merchants type them."""
    return "".join(d + (draw(_SEPARATOR) if i < len(digits) - 1 else "")
                   for i, d in enumerate(digits))


@settings(max_examples=200)
@given(_BEFORE, st.text(alphabet="0123456789", min_size=15, max_size=15).flatmap(_grouped))
def test_a_merchant_number_is_never_masked_whatever_comes_before(before: str, number: str):
    assert redact(f"{before}{number}").text == f"{before}{number}"


@settings(max_examples=200)
@given(_BEFORE, st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True).flatmap(_grouped))
def test_a_mobile_number_is_never_masked(before: str, phone: str):
    assert redact(f"{before}{phone}，谢谢").text == f"{before}{phone}，谢谢"


@settings(max_examples=200)
@given(_BEFORE, st.dates().map(lambda d: d.strftime("%Y%m%d")), st.integers(1, 9999))
def test_a_ticket_number_is_never_masked(before: str, day: str, number: int):
    text = f"{before}UB-{day}-{number:04d}"
    assert redact(text).text == text


@settings(max_examples=200)
@given(
    st.sampled_from(["序列号", "SN", "序列号是 ", "机身SN:", "卡住了，序列号"]),
    st.from_regex(r"[A-Za-z0-9]{8,20}", fullmatch=True),
)
def test_a_serial_is_never_masked_after_its_cue(cue: str, serial: str):
    """Even an all-digit serial that happens to look like a Visa card number."""
    assert redact(f"{cue}{serial}").text == f"{cue}{serial}"


def _luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str((10 - total % 10) % 10)


@settings(max_examples=200)
@given(
    st.sampled_from(["4", "51", "55", "2221", "2720", "3528", "62"]).flatmap(
        lambda iin: st.text(alphabet="0123456789", min_size=15 - len(iin),
                            max_size=15 - len(iin)).map(lambda rest: _luhn_complete(iin + rest))
    ).flatmap(_grouped),
    st.sampled_from(["", "我的卡", "卡号：", "付款用的 ", "card "]),
)
def test_a_card_number_is_masked_with_or_without_a_cue(card: str, before: str):
    result = redact(f"{before}{card} 谢谢")
    assert result.text == f"{before}{MASK} 谢谢" and "bank_card" in result.kinds
