"""Find and hide secrets that merchants should never type into a chat.

Passwords, PINs, verification codes and CVVs (recognised by the word that introduces
them, simplified or traditional, spaced or not, typed with a homophone slip or in
pinyin), bank card numbers (Luhn-valid, after a card cue such as 卡, or with a UnionPay,
Visa, Mastercard or JCB prefix) and ID-card numbers (valid checksum) are replaced by
``MASK``. Merchant numbers (15 digits), phone numbers, serials and ticket numbers are
never secrets. The same function serves the NLU
pipeline, the tracker store and the logs, so there is one definition of a secret.

Every channel already redacts what the merchant typed (``bot.channels.screening``), so
Rasa, the action server and their logs only ever see ``MASK``; a text that contains
``MASK`` therefore counts as a found secret (kind ``masked``) and the bot still warns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MASK = "[已隐藏]"

# The probe a text is searched in: full-width ASCII folded, and the traditional forms
# of the cue words (密碼, 驗證碼, 卡號 …) folded to simplified, one character for one, so
# that offsets found in the probe are offsets in the text.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FOLD |= str.maketrans("碼瑪驗證號動態簡訊銀儲記為", "码玛验证号动态简讯银储记为")


def _spaced(words: str) -> str:
    """``a|bc`` → ``a|b\\s?c``: a cue still counts when typed with spaces (``密 码``)."""
    return "|".join(r"\s?".join(map(re.escape, word)) for word in words.split("|"))


# Cues typed with a homophone slip or in pinyin count too (蜜码, 密马, mima, 验证玛,
# yanzhengma): the merchant still means the secret.
_CUE_KINDS = (
    (
        "password",
        _spaced("密码|口令|蜜码|密马|密玛|秘码|觅码|蜜马")
        + r"|password|passwd|pwd|(?<![a-z])mi\s?ma(?![a-z])",
    ),
    ("pin", r"pin\s*码?"),
    (
        "code",
        r"(?:短信|手机|动态|安全|简讯)?\s?(?:" + _spaced("验证|校验|动态|验正|验症|严正")
        + r")\s?[码玛]"
        r"|" + _spaced("短信码|简讯码") + r"|[六6]位数字?|otp|(?:sms|verification)?\s*code"
        r"|(?<![a-z])(?:yan\s?zheng\s?ma|yzm)(?![a-z])",
    ),
    ("cvv", _spaced("安全码") + r"|(?<![a-z])cv[vcn]2?(?![a-z])"),
)
_CUE_RE = re.compile(
    "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _CUE_KINDS), re.IGNORECASE
)
# What may stand between the cue and the secret: 是/为/: and a few filler words.
# Every secret has a digit or a cue: text with neither is passed over in one scan.
_MAYBE_SECRET_RE = re.compile(r"\d|" + _CUE_RE.pattern, re.IGNORECASE)
_GAP_RE = re.compile(r"(?:[\s:：=是为號号码了的就都一下我发给你]|is\b|was\b){0,6}", re.IGNORECASE)
_VALUE_RE = re.compile(r"[A-Za-z0-9!@#$%^&*._+\-]{3,32}")
# A letters-only value counts from 6 characters, or from 3 when the merchant says that
# this is the secret ("我的密码是 hello", "密码：abc") — unless it is a word about it.
_ASSIGNED_RE = re.compile(r"[是为:=]|\bis\b|\bwas\b", re.IGNORECASE)
_NOT_A_VALUE = frozenset((
    "pos", "app", "wifi", "web", "ok", "okay", "wrong", "right", "correct", "incorrect",
    "invalid", "expired", "locked", "reset", "forgot", "forgotten", "changed", "same",
    "what", "the", "not", "none", "null", "true", "false", "text", "str", "int", "any",
))
_IDENTIFIER = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
# A code or PIN may come a few words after its cue ("验证码收到了是 552301"); a CVV has 3.
# Never part of a longer number ("密码忘了，138 1234 5678" names a phone).
_LOOSE_CODE_RE = re.compile(r"[^0-9A-Za-z]{0,10}?(\d(?: ?\d){3,7})(?![\dA-Za-z]|[ -]\d)")
_LOOSE_CVV_RE = re.compile(r"[^0-9A-Za-z]{0,10}?(\d{3,4})(?![\dA-Za-z]|[ -]\d)")
# ... or be read out in Chinese numerals ("密码是九八七六五四").
_CN_DIGIT = "零〇一二三四五六七八九幺两"
_CN_CODE_RE = re.compile(
    rf"[^0-9A-Za-z{_CN_DIGIT}]{{0,10}}?([{_CN_DIGIT}](?: ?[{_CN_DIGIT}]){{3,7}})"
)
_CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")
# 卡 alone is a cue ("我的卡4111…"); merchant numbers (15 digits) are never cards. The
# nearest cue before a number decides: right after 序列号 / SN it is the POS serial.
_NUMBER_CUE_RE = re.compile(
    r"(?P<card>卡|(?<![a-z])cards?(?![a-z]))|(?P<serial>序列|机身号|串号|(?<![a-z])s/?n(?![a-z]))",
    re.IGNORECASE,
)
# Card numbers recognised without a cue: UnionPay (62, 16–19 digits), and Visa
# (4, 16 or 19), Mastercard (51–55, 2221–2720) and JCB (3528–3589) of 16 digits.
_BARE_CARD_RE = re.compile(
    r"62\d{14,17}|4(?:\d{15}|\d{18})|(?:5[1-5]\d\d|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d"
    r"|2720|352[89]|35[3-8]\d)\d{12}"
)
_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Redaction:
    """Redacted text and the kinds of secret that were hidden."""

    text: str
    kinds: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.kinds)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _id_card_ok(number: str) -> bool:
    body, check = number[:17], number[17].upper()
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    month, day = int(number[10:12]), int(number[12:14])
    return _ID_CHECK[total % 11] == check and 1 <= month <= 12 and 1 <= day <= 31


def _is_value(text: str, cue: re.Match[str], value: re.Match[str]) -> bool:
    """Whether ``value``, found after ``cue`` in ``text``, is the secret itself."""
    word = value.group()
    if any(ch.isdigit() for ch in word) or len(word) >= 6:
        return True
    if not _ASSIGNED_RE.search(text, cue.end(), value.start()) or word.lower() in _NOT_A_VALUE:
        return False
    # Not code in a log line or traceback: "code: other", "hide_password=True", "f(pwd=x)".
    in_code = cue.lastgroup == "code" and cue.group().isascii()
    in_code |= bool(cue.start()) and text[cue.start() - 1] in _IDENTIFIER
    return not in_code and text[value.end() : value.end() + 1] != "("


def _spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for cue in _CUE_RE.finditer(text):
        gap = _GAP_RE.match(text, cue.end())
        value = _VALUE_RE.match(text, gap.end() if gap else cue.end())
        kind = cue.lastgroup or "password"
        if value and _is_value(text, cue, value):
            spans.append((value.start(), value.end(), kind))
        elif loose := (
            (_LOOSE_CVV_RE if kind == "cvv" else _LOOSE_CODE_RE).match(text, cue.end())
            or _CN_CODE_RE.match(text, cue.end())
        ):
            spans.append((loose.start(1), loose.end(1), kind))
    for card in _CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", card.group())
        window = text[max(0, card.start() - 12) : card.start()]
        cues = [cue.lastgroup for cue in _NUMBER_CUE_RE.finditer(window)]
        cued = cues[-1] == "card" if cues else bool(_BARE_CARD_RE.fullmatch(digits))
        if 16 <= len(digits) <= 19 and _luhn_ok(digits) and cued:
            spans.append((card.start(), card.end(), "bank_card"))
    for id_card in _ID_RE.finditer(text):
        if _id_card_ok(id_card.group()):
            spans.append((id_card.start(), id_card.end(), "id_card"))
    return sorted(spans)


# Texts already found to hold no secret (the same responses, slot values and intent
# names are redacted on every turn); only secret-free texts are remembered.
_CLEAN: dict[str, None] = {}
_CLEAN_MAX, _CLEAN_TEXT_MAX = 4096, 1024


def redact(text: str | None) -> Redaction:
    """Hide every secret in ``text``; offsets of the rest of the text are kept."""
    if not text:
        return Redaction(text or "", ())
    if text in _CLEAN:
        return Redaction(text, ())
    result = _redact(text)
    if not result.kinds and len(text) <= _CLEAN_TEXT_MAX:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN[text] = None
    return result


def _redact(text: str) -> Redaction:
    probe = text.translate(_FOLD)
    kinds = ["masked"] if MASK in text else []
    if not _MAYBE_SECRET_RE.search(probe):
        return Redaction(text, tuple(kinds))
    out, last = [], 0
    for start, end, kind in _spans(probe):
        if start < last:
            continue
        out.append(text[last:start])
        out.append(MASK)
        kinds.append(kind)
        last = end
    out.append(text[last:])
    return Redaction("".join(out), tuple(dict.fromkeys(kinds)))


def mentions_secret(text: str | None) -> bool:
    """True when the text names a password, PIN or code, with or without a value."""
    return bool(text and _CUE_RE.search(text.translate(_FOLD)))


def redact_text(text: str | None) -> str:
    """Shorthand for ``redact(text).text``."""
    return redact(text).text
