""""第三步是啥": a question that names one of the eight steps only by its number.

The classifier learns the steps by their names (资料审核, 账户冻结 …); a message that
names a step only by its position carries none of them. When the message is nothing but
the ordinal and question words ("解绑流程第五步是什么", "第3个环节干嘛的"), it asks about
that step of the guide's order. A message with anything else ("机器上第一步按什么",
"解绑前第一步做啥") asks about something else, and is left to the classifier.
"""

from __future__ import annotations

import re

from bot.knowledge.topics import Topic, load_topics

_NUMBERS = {c: n for n, c in enumerate("一二三四五六七八", start=1)}
_ORDINAL = re.compile(r"第\s*([一二三四五六七八1-8])\s*(?:个|個)?\s*(?:步骤|步驟|步|环节|環節)")
_FILLER = re.compile(
    r"请问|請問|解绑|解綁|流程|里面|裡面|里|裡|中的|的|那个|那個|就是|到底|具体|具體|主要|"
    r"是什么意思|是什麼意思|什么|什麼|啥子|啥|干嘛|干啥|幹嘛|做什么|做啥|是|要|做|干|幹|"
    r"内容|內容|意思|讲讲|講講|说说|說說|介绍|介紹|一下|呢|吗|嗎|啊|呀|嘛|哦|那|[\s\W_]"
)


def ordinal_step(text: str) -> Topic | None:
    """The step topic ``text`` asks about by number alone, or None."""
    match = _ORDINAL.search(text)
    if match is None:
        return None
    rest = _FILLER.sub("", text[:match.start()] + text[match.end():])
    if rest:
        return None
    number = _NUMBERS.get(match.group(1)) or int(match.group(1))
    return next((t for t in load_topics().values() if t.step == number), None)
