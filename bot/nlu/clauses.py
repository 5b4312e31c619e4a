"""Split a merchant message into the questions it asks.

"要带什么资料，多久能办完" asks two things. The intent classifier ranks the whole message
and, when it splits into more than one clause, each clause too
(``TfidfIntentClassifier``); the answer action then answers each question in the order
asked. A clause ends at sentence punctuation (either width), at a space between two Chinese
characters, after a "吗" or "呢" that closes a question when more follows ("能线上办吗要带
啥"), or before a word that starts another question ("还有", "另外", "顺便问下", "再一个",
"对了" …; an English "and" after Chinese);
clauses shorter than two characters are joined to their neighbour. Offsets refer to the
text as given.

Two questions run together with none of these ("要带什么资料多久能办好") can only be told
apart by what each part asks: :func:`inner_cuts` lists the word boundaries with a question
on either side (a question word, a question particle or an A-not-A form: grammar, not a
list of phrasings), and the classifier keeps a cut only when both parts rank as different,
sure questions.
"""

from __future__ import annotations

import re

_BREAK = re.compile(r"[，,。.？?！!；;\n]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_NEXT_QUESTION = re.compile(
    r"(?:还有就是|还有个问题|还有一个问题|还有|另外|顺便问一?下|顺便问问|顺便|再问一?下|"
    r"还想问一?下?|我还想知道|还想知道|以及|然后就是|再就是|对了|此外|除此之外|另一个问题|"
    r"再一个|再有就是|再问个|顺带问?一?下?|另外还有|"
    r"(?<=[\u4e00-\u9fff])\s*(?:and also|and|also|btw|by the way)\b)"
)
_QUESTION_END = re.compile(r"(?<=[吗呢])(?=[\u4e00-\u9fff]{2})")
"""After "吗" or "呢" another question may follow without punctuation (typed or dictated)."""
_ASKS = re.compile(
    r"什么|啥|怎么|怎样|咋|为何|如何|何时|干嘛|干吗|多久|多长|多少|几|哪|谁|吗|呢|是否|能否|"
    r"([\u4e00-\u9fff])[不没]\1|(?<=[\u4e00-\u9fff])(?:没有|没|不)\s*$"
)
"""A question word, a question particle, an A-not-A question ("要不要", "能不能") or its
short form ending in the negation ("有影响没", "能办不")."""
_REQUEST = re.compile(
    r"好吗|好嗎|行吗|行嗎|可以吗|可以嗎|好不好|行不行|帮我|幫我|请(?!问)|請(?!問)"
)
"""Words that ask for something to be done ("帮我打开通知", "别老是通知我了好吗")."""
_NEGATED = re.compile(r"(?:我|咱|俺)?(?:不|别|没|无需|无须|免得)")
"""A clause that opens with a negation ("不打电话", "别让我跑网点") and asks nothing states
a condition of the question around it; it names a topic without asking about it."""
_CONFIRMS = re.compile(r"(?:是吧|对吧|对不对|是不是|没错吧)\s*[？?。.！!]*$")
"""A clause ending in a confirmation tag ("…是吧") restates what the merchant already
believes; an open question after it ("还有别的准备吗") is what they ask."""
_AFTER = re.compile(r"之后|以后|然后|接下来|下一步|后面|完了")
"""Words that place what is asked after something else ("培训交接完 之后还要干嘛")."""
_NEXT_ONLY = re.compile(
    r"(?:那|那么)?(?:(?:然后|之后|以后|接下来|下一步|后面|再)\s*)+"
    r"(?:呢|(?:还|又)?(?:要|得|该)?(?:干嘛|干吗|干啥|做什么|做啥|弄啥|搞啥|咋办|怎么办|怎么弄|咋弄|咋整)"
    r"|是什么|是啥|是哪一?步)?[呢啊呀哇嘞咧吗嘛]*[\s?？。.!！~～]*$"
)
"""A closing "what next" that names nothing of its own ("然后呢", "之后下一步做什么")."""
_DONE = re.compile(r"完|好了|过了|通过|结束|搞定|弄好|办好|做好|装好|交了|交上去")
"""Words saying that something is done ("测完机器", "审核通过了", "新机装好了")."""
MIN_CHARS = 2
MIN_SIDE_CHARS = 4
"""Each side of a cut inside a clause is at least this long ("审核多久" is one)."""
MIN_DONE_CHARS = 3
"""What is done names something in at least this many characters ("审核完", not "弄完")."""


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


def without_joiner(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of a clause without the word that joins it to the one before ("还有就是在哪
    交" → "在哪交"): a short question is not diluted by it. Unchanged when nothing of two
    characters or more would be left."""
    match = _NEXT_QUESTION.match(text, start, end)
    if match is None:
        return start, end
    rest = _strip(text, match.end(), end)
    return rest if _content(text[rest[0]:rest[1]]) >= MIN_CHARS else (start, end)


def asks(piece: str) -> bool:
    """Whether ``piece`` asks something (has a question word or form)."""
    return _ASKS.search(piece) is not None


def requests(piece: str) -> bool:
    """Whether ``piece`` asks for something to be done rather than asks a question."""
    return _REQUEST.search(piece) is not None


def negated_statement(piece: str) -> bool:
    """Whether ``piece`` opens with a negation and asks nothing ("不打电话 我自己在机器上
    弄": the first clause says how, not what, the merchant asks)."""
    return _NEGATED.match(piece.strip()) is not None and not asks(piece)


def asks_after(piece: str) -> bool:
    """Whether ``piece`` asks what comes after something ("之后还要干嘛", "审完以后呢")."""
    return asks(piece) and _AFTER.search(piece) is not None


def next_after_done(text: str) -> list[tuple[int, int]] | None:
    """The two spans of a message that says something is done and closes with a "what
    next" naming nothing of its own ("审核通过了然后呢", "新机装好了 之后干嘛"): the
    question is about what is done, and the step after it is offered. None when the text
    does not end so, or what comes before is too short to name anything."""
    match = _NEXT_ONLY.search(text)
    if match is None or match.start() == 0:
        return None
    head = text[:match.start()]
    if _content(head) < MIN_DONE_CHARS or _DONE.search(head) is None:
        return None
    return [_strip(text, 0, match.start()), _strip(text, match.start(), len(text))]


_LATER = re.compile(r"下周|下个?星期|下个?礼拜|下个?月|明天|后天|过几天|过两天|改天|回头|到时候|"
                    r"月底|年底|以后再")
"""Words that put what is said later than now ("想下周去办解绑")."""


def plans_later(piece: str) -> bool:
    """Whether ``piece`` speaks of a later time ("想下周去办解绑": a plan, not a request now)."""
    return _LATER.search(piece) is not None


_CHOICE = re.compile(r"[\u4e00-\u9fffA-Za-z]{2}还是"
                     r"(?![不没也]|.[不没]|一样|那样|老样子)[\u4e00-\u9fffA-Za-z]{2}")
"""An alternative question ("是网上申请还是在机器上弄", "线上办还是去网点"): two things
offered with 还是 between them; not "still" before a negation or sameness ("还是用不了",
"还是没动静", "还是一样")."""


def offers_choice(piece: str) -> bool:
    """Whether ``piece`` asks which of two things ("网上申请还是在机器上弄"): its sureness is
    shared between the two, so it may rank below a question's usual confidence."""
    return _CHOICE.search(piece) is not None


_WHO = re.compile(r"谁")
"""Who to ask: the one question word whose answer does not hang on what the clause before
names ("…咋弄", "…多久" ask how or how long of it; "…找谁" asks for the contacts)."""


def short_question(piece: str) -> bool:
    """Whether a two-character clause is a question of its own ("找谁", "问谁"); "好吗",
    "后面", "咋弄" are not (the last asks about the clause before it)."""
    return _content(piece) == MIN_CHARS and _WHO.search(piece) is not None


def confirms(piece: str) -> bool:
    """Whether ``piece`` ends in a confirmation tag ("要先检查机器是吧")."""
    return _CONFIRMS.search(piece.strip()) is not None


def inner_cuts(text: str, bounds: list[int]) -> list[int]:
    """Where one clause might hold two questions run together ("要带什么资料多久能办好"):
    the word boundaries of ``bounds`` with a question on either side, each side long
    enough to ask one. The classifier decides whether either cut is real."""
    return [
        cut for cut in bounds
        if 0 < cut < len(text)
        and not _MIXED_WORD.match(text, cut - 1)
        and min(_content(text[:cut]), _content(text[cut:])) >= MIN_SIDE_CHARS
        and asks(text[:cut]) and asks(text[cut:])
    ]


_MIXED_WORD = re.compile(r"[a-z0-9][\u4e00-\u9fff]|[\u4e00-\u9fff][a-z0-9]", re.IGNORECASE)
"""Latin letters or digits written against a Chinese character make one word ("pos机",
"app里"): no cut between them."""


_LEAD_IN = re.compile(
    r"(?:还有就是|另外还有|另外|顺便|顺带|再就是|再有就是|再一个|此外|对了|以及)?[，,\s]*"
    r"(?:(?:我)?(?:还|再)?(?:想|要)?(?:问一?下|问问|请问|了解一?下))?[，,:：\s]*"
)
"""Words that only join a clause to the one before and announce a question ("另外想问下",
"顺便问一下"): they name no topic, and read alone they look like small talk."""


def topic_start(piece: str) -> int:
    """Where what ``piece`` asks begins, after a joining lead-in ("另外想问下冻结是什么意思"
    → "冻结是什么意思"); 0 when it has none or nothing would be left to ask."""
    match = _LEAD_IN.match(piece)
    end = match.end() if match else 0
    return end if end and _content(piece[end:]) >= MIN_SIDE_CHARS else 0


_WITHDRAWS = re.compile(r"(?:解绑|解綁|解了|申请|申請|工单|工單|单子|單子)"
                        r".{0,8}(?:取消|撤销|撤銷|撤回|撤|作废|作廢)"
                        r"(?:掉|了|吧|一下|啊|嘛|呗|唄)*[\s。.！!~～]*$")
"""Giving up the unbind or the application by name, then ending on cancelling it
("不想解绑了取消吧", "申请不弄了 撤了吧"): what is cancelled is the application, not the
conversation."""


def withdraws(piece: str) -> bool:
    """Whether ``piece`` names the unbind or the application and then cancels it."""
    return _WITHDRAWS.search(piece) is not None


_AFTER_DONE = r"(?:之后|以后|然后|接下来|完|好了|过了|后面)"
_NEXT = re.compile(
    r"(?:然后|之后|以后|接下来|后面)呢\s*$|"
    + _AFTER_DONE + r".{0,12}?(?:(?:干嘛|干吗|干啥|干什么|做什么|做啥|弄啥)(?!的|用)|下一步|"
    r"还有一步|还有哪一?步|还有啥步骤|还有什么步骤|还剩[哪几啥什]|剩下[的哪几啥什]|还差[哪啥]|"
    r"(?:接下来|接着|下一步)是不是)"
)
_BACK_TO_STEP = re.compile(r"(?:那|这)(?:一|个)?(?:步骤|步|环节)")
"""A clause that opens on "that step" ("那一步干嘛的", "这个步骤要多久") asks about the step
named in the clause before it, not about anything of its own."""


def refers_back(piece: str) -> bool:
    """Whether ``piece`` opens on "that step" and asks about it ("那一步干嘛的")."""
    return _BACK_TO_STEP.match(piece.strip()) is not None and asks(piece)


_ORDINAL = re.compile(r"第\s*[一二三四五六七八九\d]\s*步")
""""第一步是啥" asks which step is first, not what follows a step."""


def asks_next(piece: str) -> bool:
    """Whether ``piece`` asks what to do once something is done, or which step is left
    ("测好了还剩哪步", "审核过了然后干嘛"); not what a step is for ("…是干嘛的"), nor a
    step by its number."""
    return _NEXT.search(piece) is not None and _ORDINAL.search(piece) is None


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _content(piece: str) -> int:
    return sum(ch.isalnum() for ch in piece)
