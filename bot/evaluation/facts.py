"""Find invented facts in a reply: numbers, amounts and durations the guide never states.

For questions the guide does not answer (fees, a phone number, how long something takes)
the bot must not make anything up. A *fact* here is a number with what it counts (an
amount, a duration, a percentage), a bare number of three or more digits (a phone
number, a price) or a Chinese numeral with a unit ("三天", "五十元"). A fact is allowed
when the guide states it (``3-7个工作日``, ``F1``, the eight steps), when it describes a
field the bot asks for (``15位``, ``11位``, ``8–20位``), when it is the configured hotline,
or when it only numbers a list line ("1. …"). Anything else is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from bot.knowledge.guide import guide_text

_UNITS = r"(?:个)?(?:工作日|天|日|小时|分钟|周|星期|个月|月|年|元|块钱?|万|%|％|笔|次)"
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9])\d+(?:[.\-–~～至到]\d+)*\s*" + _UNITS
    + r"|(?<![A-Za-z0-9])\d{3,}(?![A-Za-z0-9])"
    + r"|[一二两三四五六七八九十百千万]+\s*" + _UNITS
)
_LIST_NUMBER = re.compile(r"^\s*\d+[.、]\s", re.MULTILINE)
FIELD_FACTS = ("15位", "11位", "8–20位", "8到20位", "后四位", "4位")
"""Formats of the values the bot asks for: its own rules, not claims about unbinding."""


@lru_cache(maxsize=1)
def _guide() -> str:
    return re.sub(r"\s+", "", guide_text())


def _compact(fact: str) -> str:
    return re.sub(r"\s+", "", fact).replace("～", "-").replace("~", "-").replace("–", "-")


def invented_facts(reply: str, allowed: Iterable[str] = ()) -> list[str]:
    """The facts in ``reply`` that are neither in the guide nor in ``allowed``."""
    text = _LIST_NUMBER.sub(" ", reply)
    for fact in (*FIELD_FACTS, *allowed):
        if fact:
            text = text.replace(fact, " ")
    guide = _guide()
    return [
        match.group().strip() for match in _NUMBER.finditer(text)
        if _compact(match.group()) not in guide
    ]
