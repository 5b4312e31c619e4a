"""Rule-based extraction of merchant numbers, serials, phones and ticket numbers.

A blank Chinese spaCy pipeline (jieba segmenter + the domain dictionary) runs an EntityRuler
whose patterns live in ``data/entities/patterns.jsonl``. The ruler proposes spans:

* single tokens shaped like one field (``ticket_no``, ``phone``, ``merchant_id``,
  ``serial_number``) and ``_ignore`` decoys (unified social credit codes);
* ``_chain``: runs of number tokens joined by spaces/hyphens (``8495 8105-8120 001``);
* cue spans (pattern id ``cue``): a cue word plus the numbers after it, e.g. ``序列号 …``.
  The EntityRuler keeps the longest match, so a cue span beats the bare number inside it;
  its label is a hint for the first number after the cue (``_ignore`` for 验证码/密码/…).

Each span is then split into entities by :func:`_partition`, which checks every candidate
with the validators of :mod:`bot.fields`. Values are canonical; offsets refer to the
original text (the text is converted with ``to_halfwidth``, which preserves offsets).
Only after a cue word is an invalid value reported (e.g. a 5-digit 商户号), so that the
form can tell the merchant what is wrong; run the normaliser on ``value`` before using it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jieba
import spacy
from spacy.language import Language
from spacy.tokens import Token

from bot.fields import (
    FieldResult,
    normalize_merchant_id,
    normalize_phone,
    normalize_serial,
    normalize_ticket_no,
    to_halfwidth,
)
from bot.paths import DATA

PATTERNS_FILE: Path = DATA / "entities" / "patterns.jsonl"
DICTIONARY_DIR: Path = DATA / "dictionaries"

MERCHANT_ID, SERIAL_NUMBER, PHONE, TICKET_NO = "merchant_id", "serial_number", "phone", "ticket_no"
LABELS: tuple[str, ...] = (MERCHANT_ID, SERIAL_NUMBER, PHONE, TICKET_NO)
IGNORE = "_ignore"
CUE = "cue"

NORMALIZERS: dict[str, Callable[[str], FieldResult]] = {
    MERCHANT_ID: normalize_merchant_id,
    SERIAL_NUMBER: normalize_serial,
    PHONE: normalize_phone,
    TICKET_NO: normalize_ticket_no,
}

_VALUE_TOKEN = re.compile(r"[A-Za-z0-9]*[0-9][A-Za-z0-9]*|[Uu][Bb]")
_USCC = re.compile(r"[1-9A-GY][1-9]\d{6}[0-9A-HJ-NPQRTUWXY]{10}")  # 营业执照 统一社会信用代码
_LOOSE_SERIAL = re.compile(r"(?=.*[A-Za-z])(?=(?:[A-Za-z]*\d){4})[A-Za-z0-9]{8,20}")
_LETTERS = re.compile(r"[A-Za-z]+")
_INDEPENDENT_GROUP = 6  # a group this long is a number of its own, not part of a grouping


@dataclass(frozen=True)
class Entity:
    """One extracted field; ``start``/``end`` index the original text, ``text`` is that slice."""

    label: str
    value: str
    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def get_nlp() -> Language:
    """Build the pipeline once: blank zh + jieba domain dictionary + EntityRuler patterns."""
    for path in sorted(DICTIONARY_DIR.iterdir()):  # every file, like Rasa's JiebaTokenizer
        if path.is_file():
            jieba.load_userdict(str(path))
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True})
    ruler.from_disk(PATTERNS_FILE)  # type: ignore[attr-defined]
    return nlp


def extract_entities(text: str) -> list[Entity]:
    """Find merchant numbers, serials, phones and ticket numbers in a merchant message."""
    if not isinstance(text, str) or not text.strip():
        return []
    return list(_entities_of(text))


@lru_cache(maxsize=4096)
def _entities_of(text: str) -> tuple[Entity, ...]:
    """The entities of a text, remembered for the texts merchants send again (the texts
    are masked before NLU, ``bot.nlu.secret_guard``; the cache lives only in memory)."""
    doc = get_nlp()(to_halfwidth(text))
    found: list[tuple[str, str, int, int]] = []
    for span in doc.ents:
        if span.ent_id_ == CUE:
            found.extend(_partition(_after_cue(list(span)), span.label_))
        elif span.label_ != IGNORE:
            found.extend(_partition(list(span), None))
    return tuple(
        Entity(label, value, start, end, text[start:end])
        for label, value, start, end in sorted(found, key=lambda e: e[2])
    )


def _after_cue(tokens: list[Token]) -> list[Token]:
    """The value tokens of a cue span; ``SN-2023-…`` keeps its letters (hyphen, no space)."""
    first = next((i for i, t in enumerate(tokens) if _VALUE_TOKEN.fullmatch(t.text)), len(tokens))
    if (
        first >= 2
        and tokens[first - 1].text == "-"
        and _LETTERS.fullmatch(tokens[first - 2].text)
        and not tokens[first - 2].whitespace_ + tokens[first - 1].whitespace_
    ):
        first -= 2
    return tokens[first:]


def _classify(raw: str, hint: str | None) -> tuple[str, str] | None:
    """Label and canonical value for one candidate string, or None."""
    if hint in NORMALIZERS:
        result = NORMALIZERS[hint](raw)
        return (hint, result.value) if result.value else None
    if raw[:2].upper() == "UB":
        result = normalize_ticket_no(raw)
        return (TICKET_NO, result.value) if result.value else None
    if raw.isdigit():
        if len(raw) == 15:
            return MERCHANT_ID, raw
        result = normalize_phone(raw)
        return (PHONE, result.value) if result.value else None
    if _LOOSE_SERIAL.fullmatch(raw) and not _USCC.fullmatch(raw):
        return SERIAL_NUMBER, raw.upper()
    return None


def _partition(tokens: Sequence[Token], hint: str | None) -> list[tuple[str, str, int, int]]:
    """Split a run of value tokens into entities; ``hint`` labels the first value (cue)."""
    groups = [
        t for k, t in enumerate(tokens) if _VALUE_TOKEN.fullmatch(t.text) or k == 0 and t.is_alpha
    ]
    if not groups:
        return []
    alone = [_classify(g.text, None) is not None for g in groups]
    out: list[tuple[str, str, int, int]] = []
    lead = 2 if tokens[0].is_alpha else 0  # SN-…: the letters may be glued to the next group
    pending, i, may_start = hint, 0, True
    if pending == IGNORE:  # 验证码 123456 / 银行卡 6222 …: the number after the cue is not ours
        pending, i = None, _cue_run(groups, alone, IGNORE)
    while i < len(groups):
        last = len(groups) - 1 if may_start else i
        hit = None
        for j in range(last, i - 1, -1):
            if j > i and any(alone[max(i, lead if i == 0 else 0) : j + 1]):
                continue  # never glue a complete number onto its neighbours
            raw = "".join(g.text for g in groups[i : j + 1])
            hit = (pending and _classify(raw, pending)) or _classify(raw, None)
            if hit:
                break
        if hit:
            if hit[0] == pending:
                pending = None
            out.append(_entity(hit, groups[i], groups[j]))
            i, may_start = j + 1, True
        else:
            may_start = len(groups[i].text) >= _INDEPENDENT_GROUP or not groups[i].text.isdigit()
            i += 1
    if pending is not None:  # no valid value after the cue: report what was typed, as the hint
        n = _cue_run(groups, alone, pending)
        start, end = groups[0].idx, groups[n - 1].idx + len(groups[n - 1].text)
        value = "".join(g.text for g in groups[:n]).upper()
        if pending != PHONE or value.startswith("1"):  # a landline/hotline is not a typo
            kept = (e for e in out if e[3] <= start or e[2] >= end)
            out = [(pending, value, start, end), *kept]
    return out


def _cue_run(groups: Sequence[Token], alone: list[bool], hint: str) -> int:
    """How many groups belong to the cue: the first, plus digit groups that are no field alone."""
    n = 1
    if hint != SERIAL_NUMBER:
        while n < len(groups) and groups[n].text.isdigit() and not alone[n]:
            n += 1
    return n


def _entity(hit: tuple[str, str], first: Token, last: Token) -> tuple[str, str, int, int]:
    label, value = hit
    start, end = first.idx, last.idx + len(last.text)
    doc = first.doc
    if label == PHONE and first.i > 0 and doc[first.i - 1].text == "+":
        start -= 1
    return label, value, start, end
