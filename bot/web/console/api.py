"""JSON handlers of the console API (``/api/…``); see ``openapi.yml``.

Handlers validate their input, call the ticket service / search index / transcript
reader in a worker thread, and write one audit row per call.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.audit import AuditLog
from bot.fields import normalize_ticket_no
from bot.handoff.service import HandoffService
from bot.knowledge.guide import guide_text
from bot.outbox.store import OutboxStore
from bot.ratelimit import RateLimiter
from bot.settings import Contacts
from bot.tickets import (
    TicketService,
    TicketStoreUnavailable,
)
from bot.web.console.auth import Credentials
from bot.web.console.conversations import (
    CHANNEL_LABELS,
    MAX_EVENTS,
    TranscriptReader,
    TranscriptUnavailable,
    Turn,
)
from bot.web.console.guide_view import headings
from bot.web.console.search import MAX_QUERY, AnswerIndex, Hit, nlu_confidences

logger = logging.getLogger(__name__)
SPEC_PATH = Path(__file__).with_name("openapi.yml")
NLU_TIMEOUT = 0.08
"""Seconds to wait for Rasa's ranking (``CONSOLE_NLU_TIMEOUT``); then BM25 alone."""
MAX_SENDER = 255

T = TypeVar("T")


def nlu_timeout() -> float:
    """``CONSOLE_NLU_TIMEOUT`` (seconds), else ``NLU_TIMEOUT``."""
    return float(os.environ.get("CONSOLE_NLU_TIMEOUT") or NLU_TIMEOUT)


@dataclass
class ConsoleContext:
    """Everything the handlers need, built once per app."""

    credentials: Credentials
    tickets: TicketService
    audit: AuditLog
    transcripts: TranscriptReader
    index: AnswerIndex
    contacts: Contacts
    auth_failures: RateLimiter = field(
        default_factory=lambda: RateLimiter.from_env(
            "console_auth", "RATE_LIMIT_CONSOLE_AUTH", 10
        )
    )
    nlu_timeout: float = field(default_factory=lambda: nlu_timeout())
    max_turns: int = MAX_EVENTS
    http: aiohttp.ClientSession | None = field(default=None, repr=False)
    handoffs: HandoffService = field(default=None)  # type: ignore[assignment]
    outbox: OutboxStore = field(default=None)  # type: ignore[assignment]
    """Both on the ticket database unless given."""

    def __post_init__(self) -> None:
        if self.handoffs is None:
            self.handoffs = HandoffService(self.tickets.engine)
        if self.outbox is None:
            self.outbox = OutboxStore(self.tickets.engine)

    @functools.cached_property
    def spec(self) -> dict[str, Any]:
        return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))

    def http_session(self) -> aiohttp.ClientSession:
        """The app's one HTTP client session (opened at server start, or on first use)."""
        if self.http is None or self.http.closed:
            self.http = aiohttp.ClientSession()
        return self.http

    async def close(self) -> None:
        """Close the HTTP client session (at server stop)."""
        if self.http is not None and not self.http.closed:
            await self.http.close()
        self.http = None


def as_json(body: Any, status: int = 200) -> HTTPResponse:
    """A JSON response with readable (not escaped) Chinese."""
    return response.json(body, status=status, dumps=_dumps)


def _dumps(body: Any, **kwargs: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def error(status: int, message: str) -> HTTPResponse:
    """A JSON error with a Chinese message."""
    return as_json({"error": message}, status=status)


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking call (database access) in the default thread pool."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))


async def audited(
    request: Request, action: str, params: Mapping[str, str], reply: HTTPResponse, count: int
) -> HTTPResponse:
    """Write the audit row for this call, then return ``reply``.

    If the audit log cannot be written, data is not handed out (503); an error reply
    (which hands out nothing) is returned anyway, so the agent sees what failed.
    """
    ctx: ConsoleContext = request.ctx.console
    try:
        await blocking(
            ctx.audit.record, request.ctx.agent, action, params, reply.status, count,
            request.ctx.verified,
        )
    except SQLAlchemyError as exc:
        logger.error("audit row of %s not written (%s)", action, type(exc).__name__)
        if reply.status < 400:
            return error(503, "审计日志暂时无法写入，请稍后再试")
    return reply


# --- views ------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def hit_json(hit: Hit, contacts: Contacts) -> dict[str, Any]:
    return {
        "topic": hit.topic.id,
        "title": hit.topic.title,
        "answer": hit.topic.render(contacts),
        "score": hit.score,
        "bm25": hit.bm25,
        "matched_terms": list(hit.matched_terms),
        "nlu_confidence": hit.nlu_confidence,
        "passages": [
            {"text": p.text, "start": p.start, "end": p.end,
             "highlights": [list(span) for span in spans]}
            for p, spans in zip(hit.passages, hit.highlights, strict=True)
        ],
    }


def turn_json(turn: Turn) -> dict[str, Any]:
    return {
        "speaker": turn.speaker, "text": turn.text, "time": _iso(turn.time),
        "intent": turn.intent, "confidence": turn.confidence,
        "buttons": list(turn.buttons), "channel": turn.channel, "agent": turn.agent,
        "kind": turn.kind, "to_agent": turn.to_agent, "id": turn.event_id,
        "outbox_id": turn.outbox_id,
    }


# --- handlers ---------------------------------------------------------------------


async def session(request: Request) -> HTTPResponse:
    """The login check: the token is valid; who the agent is, whether that is verified
    and whether the agent is an admin (the 统计 page)."""
    body = {"agent": request.ctx.agent, "verified": request.ctx.verified,
            "admin": request.ctx.admin}
    return await audited(request, "login", {}, as_json(body), 0)


async def parse_with_rasa(
    http: aiohttp.ClientSession, rasa_url: str, text: str, timeout: float
) -> dict[str, Any]:
    """Rasa's ``/model/parse`` for ``text`` within ``timeout`` seconds; raises on failure."""
    async with http.post(
        f"{rasa_url.rstrip('/')}/model/parse", json={"text": text},
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as reply:
        reply.raise_for_status()
        return await reply.json()


async def answers(request: Request) -> HTTPResponse:
    """``GET /api/answers?q=``: ranked answers with the reasons they matched."""
    ctx: ConsoleContext = request.ctx.console
    query = (request.args.get("q") or "").strip()
    params = {"q": query}
    if not query or len(query) > MAX_QUERY:
        reply = error(400, f"请输入要搜索的内容（1到{MAX_QUERY}个字）")
        return await audited(request, "answers.search", params, reply, 0)
    started = time.perf_counter()
    nlu: dict[str, float] | None = None
    nlu_info: dict[str, Any] = {"available": False, "intent": None, "confidence": None}
    try:
        parsed = await parse_with_rasa(
            ctx.http_session(), request.app.config.get("RASA_URL", ""), query, ctx.nlu_timeout
        )
        nlu = nlu_confidences(parsed)
        intent = parsed.get("intent") or {}
        nlu_info.update(available=True, intent=intent.get("name"),
                        confidence=intent.get("confidence"), message=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, OSError):
        nlu_info["message"] = "Rasa NLU 暂不可用，仅按关键词（BM25）排序"
    result = ctx.index.search(query, nlu)
    took = (time.perf_counter() - started) * 1000
    body = {
        "query": query,
        "terms": list(result.terms),
        "nlu": nlu_info,
        "took_ms": round(took, 2),
        "hits": [hit_json(h, ctx.contacts) for h in result.hits],
    }
    return await audited(request, "answers.search", params, as_json(body), len(body["hits"]))


def json_object(request: Request, example: str) -> dict[str, Any] | str:
    """The request's JSON object body, or a Chinese error message naming ``example``."""
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return f"请求内容应为JSON：{example}"
    if not isinstance(body, dict):
        return f"请求内容应为JSON对象：{example}"
    return body


def _bad_sender(sender_id: str) -> bool:
    return not sender_id.strip() or len(sender_id) > MAX_SENDER or not sender_id.isprintable()


async def conversation(request: Request, sender_id: str) -> HTTPResponse:
    """``GET /api/conversations/<sender_id>``: the transcript and the sender's tickets."""
    params = {"sender": sender_id[:MAX_SENDER]}
    if _bad_sender(sender_id):
        reply = error(400, f"会话ID应为1到{MAX_SENDER}个可见字符")
        return await audited(request, "conversations.read", params, reply, 0)
    return await _transcript_reply(request, sender_id, params)


async def conversation_of_ticket(request: Request) -> HTTPResponse:
    """``GET /api/conversations?ticket=``: the conversation a ticket was opened in."""
    ctx: ConsoleContext = request.ctx.console
    args = request.get_args(keep_blank_values=True)
    raw = args.get("ticket", "")
    params = {"ticket": raw[:64]}
    if set(args) != {"ticket"}:
        reply = error(400, "请填写工单号：ticket=UB-YYYYMMDD-NNNN")
        return await audited(request, "conversations.read", params, reply, 0)
    number = normalize_ticket_no(raw)
    if number.value is None:
        reply = error(400, "工单号不能为空" if not raw.strip() else number.error or "")
        return await audited(request, "conversations.read", params, reply, 0)
    params = {"ticket": number.value}
    try:
        ticket = await blocking(ctx.tickets.get_ticket, number.value)
    except TicketStoreUnavailable:
        reply = error(503, "工单系统暂时不可用，请稍后再试")
        return await audited(request, "conversations.read", params, reply, 0)
    if ticket is None:
        reply = error(404, f"找不到工单 {number.value}")
        return await audited(request, "conversations.read", params, reply, 0)
    if not ticket.sender_id or _bad_sender(ticket.sender_id):
        reply = error(404, f"工单 {number.value} 没有关联的会话")
        return await audited(request, "conversations.read", params, reply, 0)
    params["sender"] = ticket.sender_id
    return await _transcript_reply(request, ticket.sender_id, params)


async def _transcript_reply(
    request: Request, sender_id: str, params: dict[str, str]
) -> HTTPResponse:
    ctx: ConsoleContext = request.ctx.console
    try:
        found = await blocking(ctx.transcripts.last, sender_id, ctx.max_turns)
    except TranscriptUnavailable:
        reply = error(503, "会话记录暂时不可用，请稍后再试")
        return await audited(request, "conversations.read", params, reply, 0)
    turns = found.turns
    if not turns:
        reply = error(404, "找不到这个会话的记录")
        return await audited(request, "conversations.read", params, reply, 0)
    try:
        tickets = [t.ticket_no for t in await blocking(ctx.tickets.tickets_for_sender, sender_id)]
    except TicketStoreUnavailable:
        tickets = []
    channels = [t.channel for t in turns if t.channel]
    channel = channels[-1] if channels else "unknown"
    body = {
        "sender_id": sender_id,
        "channel": channel,
        "channel_label": CHANNEL_LABELS.get(channel, channel),
        "turns": [turn_json(t) for t in turns],
        "truncated": found.truncated,
        "tickets": tickets,
    }
    return await audited(request, "conversations.read", params, as_json(body), len(turns))


@functools.lru_cache(maxsize=1)
def _guide_body() -> dict[str, Any]:
    text = guide_text()
    return {
        "text": text,
        "headings": [
            {"title": h.title, "level": h.level, "start": h.start, "end": h.end}
            for h in headings(text)
        ],
    }


async def guide(request: Request) -> HTTPResponse:
    """``GET /api/guide``: the whole sanitised guide and its headings."""
    body = _guide_body()
    return await audited(request, "guide.read", {}, as_json(body), len(body["headings"]))


async def openapi(request: Request) -> HTTPResponse:
    """``GET /api/openapi.json``."""
    ctx: ConsoleContext = request.ctx.console
    return as_json(ctx.spec)
