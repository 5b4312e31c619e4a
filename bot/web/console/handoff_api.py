"""Console API of live handoff and outbound messages (``/api/handoffs``, ``/api/outbox``,
``/api/notices``); see ``openapi.yml``.

Claims, replies, hand-backs and resends are audited in their own transaction (no change
without its audit row). Reads are audited when a page opens them; the page's polls for
what is new (``?poll=1``, ``?after=``) are not, or every open console would write an
audit row every two seconds.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.engine import Connection

from bot.handoff.service import (
    ClaimRefused,
    HandoffError,
    HandoffNotFound,
    HandoffUnavailable,
    HandoffView,
    InvalidReply,
    NotHolder,
)
from bot.outbox.store import STATE_LABELS, OutboxRow, OutboxUnavailable
from bot.tickets import TicketStoreUnavailable
from bot.web.console.api import (
    ConsoleContext,
    _iso,
    as_json,
    audited,
    blocking,
    error,
    turn_json,
)
from bot.web.console.conversations import CHANNEL_LABELS, TranscriptUnavailable, channel_of

REASON_LABELS = {"requested": "商户要求转人工", "failed_attempts": "多次填写失败",
                 "low_confidence": "多次没听懂", "left_message": "留言"}
HANDOFF_STATES = {"queued": "排队中", "claimed": "接待中", "offline": "非工作时间",
                  "closed": "已结束"}
WECHAT_WINDOW = timedelta(hours=48)
TRANSCRIPT_TURNS = 200
UNAVAILABLE = "人工客服系统暂时不可用，请稍后再试"
KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _when(moment: datetime | None) -> str | None:
    return _iso(moment) if moment is not None else None


def outbox_json(row: OutboxRow) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind, "channel": row.channel, "sender_id": row.sender_id,
        "text": row.text, "agent": row.agent, "ticket_no": row.ticket_no, "step": row.step,
        "state": row.state, "state_label": STATE_LABELS.get(row.state, row.state),
        "attempts": row.attempts, "error": row.last_error, "client_id": row.client_key,
        "created_at": _iso(row.created_at), "sent_at": _when(row.sent_at),
    }


def handoff_json(view: HandoffView, agent: str, extra: dict[str, Any]) -> dict[str, Any]:
    channel = channel_of(view.channel)
    return {
        "id": view.id, "channel": view.channel,
        "channel_label": CHANNEL_LABELS.get(channel, channel), "sender_id": view.sender_id,
        "state": view.state, "state_label": HANDOFF_STATES.get(view.state, view.state),
        "reason": view.reason, "reason_label": REASON_LABELS.get(view.reason, view.reason),
        "agent": view.agent, "mine": view.state == "claimed" and view.agent == agent,
        "left_message": view.left_message, "requeued": view.requeued,
        "created_at": _iso(view.created_at), "queued_at": _iso(view.queued_at),
        "claimed_at": _when(view.claimed_at), "reply_due_at": _when(view.reply_due_at),
        "last_merchant_at": _when(view.last_merchant_at), "closed_at": _when(view.closed_at),
        "outcome": view.outcome, **extra,
    }


def _ctx(request: Request) -> ConsoleContext:
    return request.ctx.console


def _bad_id(value: int) -> bool:
    """Ids are positive 32-bit integers; anything else names nothing."""
    return not 0 < value < 2**31


def _bad_query(request: Request, allowed: tuple[str, ...]) -> bool:
    """Unknown query parameters, or ``poll`` other than 1."""
    args = request.get_args(keep_blank_values=True)
    return bool(set(args) - set(allowed)) or ("poll" in args and args.get("poll") != "1")


def _in_transaction_audit(request: Request, action: str, params: dict[str, str]) -> Any:
    """The audit row written inside the change's own transaction."""
    ctx, agent, verified = _ctx(request), request.ctx.agent, request.ctx.verified

    def write(conn: Connection) -> None:
        ctx.audit.record_in(conn, agent, action, params, 200, 1, verified)

    return write


def _open_tickets(ctx: ConsoleContext, sender_id: str) -> list[str]:
    """The open tickets this conversation opened (issue 20: by sender id only)."""
    try:
        return [t.ticket_no for t in ctx.tickets.tickets_for_sender(sender_id) if t.is_open]
    except TicketStoreUnavailable:
        return []


def _summary(ctx: ConsoleContext, view: HandoffView) -> dict[str, Any]:
    """What the queue shows of a conversation: the merchant's newest message (among the
    last few) and the open tickets."""
    try:
        turns = ctx.transcripts.last(view.sender_id, 20).turns
    except TranscriptUnavailable:
        turns = []
    said = [t for t in turns if t.speaker == "user"]
    return {"open_tickets": _open_tickets(ctx, view.sender_id),
            "preview": said[-1].text if said else ""}


def _queue(ctx: ConsoleContext) -> list[tuple[HandoffView, dict[str, Any]]]:
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    return [(view, _summary(ctx, view)) for view in ctx.handoffs.queue(closed_since=since)]


async def handoff_queue(request: Request) -> HTTPResponse:
    """``GET /api/handoffs``: queued and claimed conversations (and those closed in the
    last hour), longest waiting first."""
    ctx = _ctx(request)
    if _bad_query(request, ("poll",)):
        return await audited(request, "handoffs.queue", {}, error(400, "只接受参数 poll=1"), 0)
    polling = request.args.get("poll") == "1"
    try:
        rows = await blocking(_queue, ctx)
    except HandoffUnavailable:
        reply = error(503, UNAVAILABLE)
        return reply if polling else await audited(request, "handoffs.queue", {}, reply, 0)
    agent = request.ctx.agent
    body = {"handoffs": [handoff_json(view, agent, extra) for view, extra in rows],
            "on_duty": ctx.handoffs.on_duty(), "hours": ctx.handoffs.hours.label()}
    reply = as_json(body)
    return reply if polling else await audited(request, "handoffs.queue", {}, reply, len(rows))


def _window(view: HandoffView, turns: list[Any]) -> dict[str, Any]:
    """WeChat's 48-hour customer-service window, from the merchant's last message."""
    if view.channel != "wechat":
        return {"applies": False, "open": True, "open_until": None}
    last = max((t.time for t in turns if t.speaker == "user"), default=None)
    if view.last_merchant_at and (last is None or view.last_merchant_at > last):
        last = view.last_merchant_at
    until = last + WECHAT_WINDOW if last else None
    return {"applies": True, "open_until": _when(until),
            "open": until is not None and until > datetime.now(timezone.utc)}


def _detail(ctx: ConsoleContext, handoff_id: int, after: int) -> dict[str, Any] | None:
    view = ctx.handoffs.get(handoff_id)
    if view is None:
        return None
    found = ctx.transcripts.last(view.sender_id, TRANSCRIPT_TURNS, after_id=after)
    window_turns = found.turns if not after else ctx.transcripts.last(view.sender_id, 50).turns
    return {"view": view, "turns": found.turns, "truncated": found.truncated,
            "outbox": ctx.outbox.of_handoff(handoff_id),
            "open_tickets": _open_tickets(ctx, view.sender_id),
            "window": _window(view, window_turns)}


async def handoff_detail(request: Request, handoff_id: int) -> HTTPResponse:
    """``GET /api/handoffs/<id>[?after=<event id>]``: the conversation so far (redacted,
    from the tracker store), the agent's messages with their delivery state, the open
    tickets and, for WeChat, whether the 48-hour window is open."""
    ctx = _ctx(request)
    raw_after = request.args.get("after", "0")
    params = {"handoff": str(handoff_id)}
    if _bad_query(request, ("after",)) or not (
        raw_after.isascii() and raw_after.isdigit() and len(raw_after) < 19
    ):
        return await audited(request, "handoffs.read", params,
                             error(400, "after 应为事件编号（数字）"), 0)
    after = int(raw_after)
    if _bad_id(handoff_id):
        return await audited(request, "handoffs.read", params,
                             error(404, f"找不到人工会话 {handoff_id}"), 0)
    try:
        found = await blocking(_detail, ctx, handoff_id, after)
    except (HandoffUnavailable, OutboxUnavailable, TranscriptUnavailable):
        reply = error(503, UNAVAILABLE)
        return reply if after else await audited(request, "handoffs.read", params, reply, 0)
    if found is None:
        reply = error(404, f"找不到人工会话 {handoff_id}")
        return reply if after else await audited(request, "handoffs.read", params, reply, 0)
    view: HandoffView = found["view"]
    body = {
        "handoff": handoff_json(view, request.ctx.agent, {
            "open_tickets": found["open_tickets"], "window": found["window"]}),
        "turns": [turn_json(t) for t in found["turns"]], "truncated": found["truncated"],
        "outbox": [outbox_json(r) for r in found["outbox"]],
    }
    reply = as_json(body)
    if after:
        return reply
    return await audited(request, "handoffs.read", params, reply, len(body["turns"]))


def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


async def _change(request: Request, action: str, params: dict[str, str], work: Any,
                  ok_status: int = 200) -> HTTPResponse:
    """Run a handoff change (audited inside it); map the service's errors to replies."""
    target = params.get("handoff") or params.get("outbox") or "0"
    if _bad_id(int(target)):
        return await audited(request, action, params, error(404, f"找不到 {target}"), 0)
    try:
        result = await blocking(work, _in_transaction_audit(request, action, params))
    except HandoffNotFound as exc:
        reply = error(404, str(exc))
    except (ClaimRefused, NotHolder) as exc:
        reply = as_json({"error": str(exc), "holder": getattr(exc, "holder", None)}, 409)
    except InvalidReply as exc:
        reply = error(400, str(exc))
    except (HandoffUnavailable, OutboxUnavailable):
        reply = error(503, f"{UNAVAILABLE}（这次操作没有生效）")
    except HandoffError as exc:
        reply = error(400, str(exc))
    else:
        return as_json(result, ok_status)
    return await audited(request, action, params, reply, 0)


async def claim(request: Request, handoff_id: int) -> HTTPResponse:
    """``POST /api/handoffs/<id>/claim``: take the conversation (409 names the holder)."""
    ctx, agent = _ctx(request), request.ctx.agent

    def work(audit: Any) -> dict[str, Any]:
        view = ctx.handoffs.claim(handoff_id, agent, request.ctx.verified, audit=audit)
        return {"handoff": handoff_json(view, agent, {})}

    return await _change(request, "handoffs.claim", {"handoff": str(handoff_id)}, work)


async def send_reply(request: Request, handoff_id: int) -> HTTPResponse:
    """``POST /api/handoffs/<id>/messages`` with ``{"text", "client_id"}``: queue the
    agent's message (202; the same ``client_id`` again is not queued twice)."""
    ctx, agent = _ctx(request), request.ctx.agent
    body = _json_object(request)
    if body is None or not isinstance(body.get("text"), str):
        reply = error(400, "请求内容应为JSON：{\"text\": \"…\", \"client_id\": \"…\"}")
        return await audited(request, "handoffs.reply", {"handoff": str(handoff_id)}, reply, 0)
    key = body.get("client_id")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 64
                            or not set(key) <= KEY_CHARS):
        reply = error(400, "client_id 应为1到64个小写字母、数字或连字符")
        return await audited(request, "handoffs.reply", {"handoff": str(handoff_id)}, reply, 0)
    params = {"handoff": str(handoff_id), "text": body["text"][:500]}

    def work(audit: Any) -> dict[str, Any]:
        sent = ctx.handoffs.reply(handoff_id, agent, body["text"], key, audit=audit)
        row = ctx.outbox.get(sent.outbox_id)
        return {"message": outbox_json(row) if row else {"id": sent.outbox_id},
                "duplicate": sent.duplicate}

    return await _change(request, "handoffs.reply", params, work, ok_status=202)


async def release(request: Request, handoff_id: int) -> HTTPResponse:
    """``POST /api/handoffs/<id>/release`` with ``{"action": "handback" | "close" |
    "requeue"}``: the bot answers again, the handoff ends, or another agent takes over."""
    ctx, agent = _ctx(request), request.ctx.agent
    body = _json_object(request) or {}
    action = body.get("action")
    params = {"handoff": str(handoff_id), "action": str(action)[:16]}
    if action not in ("handback", "close", "requeue"):
        reply = error(400, "action 应为 handback（交还机器人）、close（结束）"
                           "或 requeue（放回队列）")
        return await audited(request, "handoffs.release", params, reply, 0)

    def work(audit: Any) -> dict[str, Any]:
        view = ctx.handoffs.release(handoff_id, agent, action, audit=audit)
        return {"handoff": handoff_json(view, agent, {})}

    return await _change(request, "handoffs.release", params, work)


async def resend(request: Request, outbox_id: int) -> HTTPResponse:
    """``POST /api/outbox/<id>/resend``: send a failed or uncertain message again."""
    ctx = _ctx(request)
    params = {"outbox": str(outbox_id)}
    if _bad_id(outbox_id):
        return await audited(request, "outbox.resend", params, error(404, "找不到这条消息"), 0)
    try:
        row = await blocking(ctx.outbox.resend, outbox_id)
    except OutboxUnavailable:
        reply = error(503, UNAVAILABLE)
    else:
        if row is not None:
            return await audited(request, "outbox.resend", params, as_json(
                {"message": outbox_json(row)}), 1)
        reply = error(409, "只有“发送失败”或“可能已送达”的消息可以重发")
    return await audited(request, "outbox.resend", params, reply, 0)


async def notices(request: Request) -> HTTPResponse:
    """``GET /api/notices[?ticket=…][&state=…]``: step-change notices and their delivery
    state, newest first (at most 200)."""
    ctx = _ctx(request)
    raw_ticket = request.args.get("ticket") or ""
    ticket = raw_ticket.strip().upper()[:20]
    state = request.args.get("state") or ""
    params = {"ticket": ticket, "state": state[:16]}
    if state and state not in STATE_LABELS or "state" in request.args and not state:
        reply = error(400, f"state 应为 {'、'.join(STATE_LABELS)} 之一")
        return await audited(request, "notices.list", params, reply, 0)
    if len(raw_ticket) > 64 or _bad_query(request, ("ticket", "state", "poll")):
        reply = error(400, "ticket 最多64个字符，poll 只能是 1")
        return await audited(request, "notices.list", params, reply, 0)
    fetch = (functools.partial(ctx.outbox.of_ticket, ticket) if ticket
             else functools.partial(ctx.outbox.recent, 200, ("notice",),
                                    [state] if state else None))
    try:
        rows = await blocking(fetch)
    except OutboxUnavailable:
        return await audited(request, "notices.list", params, error(503, UNAVAILABLE), 0)
    rows = [r for r in rows if r.kind == "notice" and (not state or r.state == state)]
    reply = as_json({"notices": [outbox_json(r) for r in rows]})
    return reply if request.args.get("poll") == "1" else await audited(
        request, "notices.list", params, reply, len(rows))
