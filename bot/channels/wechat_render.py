"""Turn Rasa bot messages into text WeChat can show.

Buttons become numbered options ("回复数字选择：…"), markdown is stripped and long
text is split under the 2048-byte limit: at sentence or line ends (。！？ newline), or
if a sentence is too long, at ；; and ". ! ?" followed by a space, then at commas or
spaces, and only then anywhere. A chunk stays under the limit even after the CDATA
escaping of the passive reply. The numbered payloads are remembered per sender so
that "1", "１" or "第1个" picks a button.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from bot.channels.wechat_store import KeyValueStore

TEXT_MAX_BYTES = 2048
CHOICE_PROMPT = "回复数字选择："

_CN_NUMBERS = {
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_CHOICE = re.compile(
    r"^(?:第|选|选择)?\s*(\d{1,2}|[一二三四五六七八九十])\s*(?:个|项|条|号)?\s*[.。、)）]?$"
)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Where a chunk may end, best first: after each match of one of these.
_BOUNDARIES = [
    re.compile(r"[。！？\n]+"),
    re.compile(r"[；;]+\s*|[.!?]+\s+"),
    re.compile(r"[，,、：:]+\s*|\s+"),
]
_CDATA_END = "]]>"
_CDATA_END_ESCAPED = "]]]]><![CDATA[>"

_MD_RULES = [
    (re.compile(r"```[^\n]*\n(.*?)```", re.S), r"\1"),
    (re.compile(r"`([^`\n]+)`"), r"\1"),
    (re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)"), r"\1 \2"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r"\1（\2）"),
    (re.compile(r"\*\*(.+?)\*\*", re.S), r"\1"),
    (re.compile(r"__(.+?)__", re.S), r"\1"),
    # *emphasis*, also right after a CJK character (not in 2*3*4 or snake*case*)
    (re.compile(r"(?<![*A-Za-z0-9])\*(?![\s*])([^*\n]*?[^*\s])\*(?!\*)"), r"\1"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"^\s{0,3}#{1,6}\s+", re.M), ""),
    (re.compile(r"^\s{0,3}>\s?", re.M), ""),
    (re.compile(r"^\s{0,3}(?:-{3,}|\*{3,}|_{3,})\s*$", re.M), ""),
    (re.compile(r"^(\s*)[-*+]\s+", re.M), r"\1• "),
    (re.compile(r"\n{3,}"), "\n\n"),
]


def strip_markdown(text: str) -> str:
    """Plain text for WeChat: no emphasis, headings, code fences or link syntax."""
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    return _XML_INVALID.sub("", text).strip()


def cdata_safe(value: str) -> str:
    """Text that cannot close the CDATA section wechatpy wraps reply content in."""
    return value.replace(_CDATA_END, _CDATA_END_ESCAPED)


def reply_bytes(text: str) -> int:
    """UTF-8 size of ``text`` as sent, after :func:`cdata_safe` (never less than raw)."""
    return len(cdata_safe(text).encode("utf-8"))


def _cut(text: str, boundary: re.Pattern[str]) -> list[str]:
    """``text`` cut after every match of ``boundary`` (the pieces join back to it)."""
    pieces, start = [], 0
    for match in boundary.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _hard_split(piece: str, max_bytes: int) -> list[str]:
    """Cut anywhere: as many characters per part as fit (escaping counted)."""
    out, cur, size = [], "", 0
    for ch in piece:
        grows = len(ch.encode("utf-8"))
        if ch == ">" and cur.endswith("]]"):
            grows += len(_CDATA_END_ESCAPED) - len(_CDATA_END)
        if cur and size + grows > max_bytes:
            out.append(cur)
            cur, size = "", len(ch.encode("utf-8"))
        else:
            size += grows
        cur += ch
    if cur:
        out.append(cur)
    return out


def _pack(text: str, max_bytes: int, level: int = 0) -> list[str]:
    """Greedy parts of ``text`` under ``max_bytes``, cut at the best boundary that works."""
    if reply_bytes(text) <= max_bytes:
        return [text]
    if level == len(_BOUNDARIES):
        return _hard_split(text, max_bytes)
    parts: list[str] = []
    cur = ""
    for piece in _cut(text, _BOUNDARIES[level]):
        if reply_bytes(cur + piece) <= max_bytes:
            cur += piece
            continue
        if cur:
            parts.append(cur)
        if reply_bytes(piece) <= max_bytes:
            cur = piece
        else:
            *done, cur = _pack(piece, max_bytes, level + 1)
            parts.extend(done)
    if cur:
        parts.append(cur)
    return parts


def split_text(text: str, max_bytes: int = TEXT_MAX_BYTES) -> list[str]:
    """Split ``text`` into non-empty chunks of at most ``max_bytes`` UTF-8 bytes, also
    once CDATA-escaped, at the best boundaries available (see the module)."""
    return [part.strip() for part in _pack(text, max_bytes) if part.strip()]


def parse_choice(text: str) -> int | None:
    """The option number in "1", "１", "第1个", "第一个" or "选2", else None."""
    normalized = unicodedata.normalize("NFKC", text).strip()
    match = _CHOICE.match(normalized)
    if not match:
        return None
    token = match.group(1)
    return _CN_NUMBERS[token] if token in _CN_NUMBERS else int(token)


@dataclass
class Rendered:
    """Chunks to send, in order, and the payload of each numbered option."""

    chunks: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)


def render_messages(messages: list[dict[str, Any]], max_bytes: int = TEXT_MAX_BYTES) -> Rendered:
    """Render collected bot messages into WeChat text chunks and numbered options."""
    blocks: list[str] = []
    options: dict[str, str] = {}
    for message in messages:
        lines: list[str] = []
        if message.get("text"):
            lines.append(strip_markdown(str(message["text"])))
        choices: list[str] = []
        for button in message.get("buttons") or []:
            title = strip_markdown(str(button.get("title") or button.get("payload") or ""))
            if button.get("type") == "web_url" or button.get("url"):
                lines.append(f"{title}：{button.get('url') or button.get('payload')}")
                continue
            number = str(len(options) + 1)
            options[number] = str(button.get("payload") or title)
            choices.append(f"{number}. {title}")
        if choices:
            lines.append(CHOICE_PROMPT + "\n" + "\n".join(choices))
        if message.get("image"):
            lines.append(f"图片：{message['image']}")
        attachment = message.get("attachment")
        if isinstance(attachment, str) and attachment.strip():
            lines.append(strip_markdown(attachment))
        text = "\n".join(line for line in lines if line)
        if text:
            blocks.append(text)
    return Rendered(chunks=split_text("\n\n".join(blocks), max_bytes), options=options)


class ChoiceMemory:
    """Remembers each sender's numbered options from the bot's latest reply."""

    def __init__(self, store: KeyValueStore, prefix: str, ttl: float = 3600.0) -> None:
        self._store = store
        self._prefix = prefix
        self._ttl = ttl

    def _key(self, sender_id: str) -> str:
        return f"{self._prefix}:choices:{sender_id}"

    async def remember(self, sender_id: str, options: dict[str, str]) -> None:
        """Store the options of the latest reply; an empty dict forgets old ones."""
        if options:
            await self._store.set(self._key(sender_id), json.dumps(options), self._ttl)
        else:
            await self._store.delete(self._key(sender_id))

    async def resolve(self, sender_id: str, text: str) -> str | None:
        """The payload the merchant picked with a number, or None."""
        number = parse_choice(text)
        if number is None:
            return None
        raw = await self._store.get(self._key(sender_id))
        if not raw:
            return None
        return json.loads(raw).get(str(number))
