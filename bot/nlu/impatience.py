"""Impatience and complaint that ask nothing of their own (data/impatience.yml).

"急死了 资料要哪些" asks for the materials; "什么破系统 申请在哪交" for the online
application. A clause made only of impatience words and particles is no question, and
the intent classifier ranks the message without it when another clause asks something
(``TfidfIntentClassifier``). A message made only of such words with an urging one
("快点快点", "催一下") urges what the merchant waits for.
"""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from bot.paths import DATA

IMPATIENCE = DATA / "impatience.yml"
_SPACE = re.compile(r"[\s，,。.？?！!；;~～…、:：]+")


@lru_cache(maxsize=1)
def _lexicon() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Urging words, all impatience words, particles: each one alternation, longest first."""
    document = yaml.safe_load(IMPATIENCE.read_text(encoding="utf-8")) or {}

    def alternation(words: list[str]) -> re.Pattern[str]:
        return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))

    urging = [str(w) for w in document.get("urging") or ()]
    words = [*urging, *(str(w) for w in document.get("complaints") or ())]
    particles = [str(w) for w in document.get("particles") or ()]
    return alternation(urging), alternation(words), alternation(particles)


def _rest(piece: str) -> tuple[str, bool]:
    """What ``piece`` says besides impatience words and particles, and whether it had any."""
    _, words, particles = _lexicon()
    compact = _SPACE.sub("", piece.lower())
    rest, found = words.subn("", compact)
    return particles.sub("", rest), found > 0


def filler(piece: str) -> bool:
    """Whether ``piece`` is only impatience or complaint ("急死了", "搞什么啊", "都几天了")."""
    rest, found = _rest(piece)
    return found and not rest


def urges(text: str) -> bool:
    """Whether ``text`` is only impatience with an urging word ("快点快点", "催一下 急死了")."""
    urging, _, _ = _lexicon()
    return filler(text) and urging.search(_SPACE.sub("", text.lower())) is not None
