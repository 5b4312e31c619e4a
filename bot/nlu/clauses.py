"""Split a merchant message into the questions it asks.

"要带什么资料，多久能办完" asks two things. The intent classifier ranks the whole message
and, when it splits into more than one clause, each clause too
(``TfidfIntentClassifier``); the answer action then answers each question in the order
asked. A clause ends at sentence punctuation (either width), at a space between two Chinese
characters, after a "吗" that closes a question when more follows ("能线上办吗要带啥"), or
before a word that starts another question ("还有", "另外", "顺便问下", "对了" …); clauses
shorter than two characters are joined to their neighbour. Offsets refer to the text as
given.
"""

from __future__ import annotations

import re

_BREAK = re.compile(r"[，,。.？?！!；;\n]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_NEXT_QUESTION = re.compile(
    r"(?:还有就是|还有个问题|还有一个问题|还有|另外|顺便问一?下|顺便问问|顺便|再问一?下|"
    r"还想问一?下?|我还想知道|还想知道|以及|然后就是|再就是|对了|此外|除此之外|另一个问题)"
)
_QUESTION_END = re.compile(r"(?<=吗)(?=[\u4e00-\u9fff]{2})")
"""After "吗" another question may follow without punctuation (typed or dictated)."""
MIN_CHARS = 2


def split_clauses(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each clause of ``text``; one span when it has one clause."""
    cuts = {0, len(text)}
    for match in _BREAK.finditer(text):
        cuts.update((match.start(), match.end()))
    for match in _NEXT_QUESTION.finditer(text):
        if match.start() > 0:
            cuts.add(match.start())
    for match in _QUESTION_END.finditer(text):
        cuts.add(match.start())
    bounds = sorted(cuts)
    spans = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        piece = text[start:end]
        if _BREAK.fullmatch(piece) or not piece.strip():
            continue
        spans.append(_strip(text, start, end))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        short = _content(text[start:end]) < MIN_CHARS
        if merged and (short or _content(text[merged[-1][0]:merged[-1][1]]) < MIN_CHARS):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged or [(0, len(text))]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _content(piece: str) -> int:
    return sum(ch.isalnum() for ch in piece)
