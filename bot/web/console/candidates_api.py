"""Console API of the candidate training messages (``/api/candidates``; openapi.yml).

``GET /api/candidates`` groups the open (or labelled, or dismissed) candidates by similar
text, biggest group first; ``POST /api/candidates/label`` gives one candidate or a whole
group an intent, or dismisses them (``"intent": null``). Labels are the intents of
domain.yml. Every call is audited like the rest of the console.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.learning.candidates import (
    DISMISSED,
    LABELLED,
    OPEN,
    REASONS,
    CandidateError,
    CandidateStore,
    Group,
)
from bot.paths import ROOT
from bot.web.console.api import as_json, audited, blocking, error, json_object

STATUSES = (OPEN, LABELLED, DISMISSED)
MAX_GROUPS = 100
MAX_MEMBERS = 20
MAX_IDS = 500
MAX_ID = 2**31 - 1  # an id column's range on every backend
UNAVAILABLE = "候选语料暂时不可用，请稍后再试"


@functools.lru_cache(maxsize=1)
def labels() -> tuple[str, ...]:
    """The intents a candidate may be labelled with (domain.yml)."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return tuple(str(i) for i in domain["intents"])


def store(request: Request) -> CandidateStore:
    return CandidateStore(request.ctx.console.tickets.engine)


def group_json(group: Group) -> dict[str, Any]:
    intents: dict[str, int] = {}
    for member in group.members:
        if member.intent:
            intents[member.intent] = intents.get(member.intent, 0) + 1
    return {
        "text": group.text,
        "count": group.count,
        "reasons": group.reasons,
        "intents": intents,
        "last_seen": group.members[0].created_at.isoformat(),
        "members": [
            {"id": m.id, "text": m.text, "reason": m.reason, "intent": m.intent,
             "confidence": m.confidence, "channel": m.channel, "sender_id": m.sender_id,
             "created_at": m.created_at.isoformat(), "label": m.label,
             "labelled_by": m.labelled_by}
            for m in group.members[:MAX_MEMBERS]
        ],
    }


async def list_candidates(request: Request) -> HTTPResponse:
    """``GET /api/candidates?status=&reason=``: candidates grouped by similar text."""
    args = request.get_args(keep_blank_values=True)
    status, reason = args.get("status", OPEN), args.get("reason", "")
    params = {"status": status[:16], "reason": reason[:16]}
    if status not in STATUSES:
        reply = error(400, f"status 应为 {'、'.join(STATUSES)} 之一")
        return await audited(request, "candidates.list", params, reply, 0)
    if "reason" in args and reason not in REASONS:
        reply = error(400, f"reason 应为 {'、'.join(REASONS)} 之一")
        return await audited(request, "candidates.list", params, reply, 0)
    candidates = store(request)
    try:
        groups = await blocking(candidates.groups, status, (reason,) if reason else None)
        counts = await blocking(candidates.counts)
    except SQLAlchemyError:
        return await audited(request, "candidates.list", params, error(503, UNAVAILABLE), 0)
    body = {
        "status": status,
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "groups": [group_json(g) for g in groups[:MAX_GROUPS]],
        "labels": list(labels()),
    }
    return await audited(request, "candidates.list", params, as_json(body), len(groups))


def _label_body(request: Request) -> tuple[list[int], str | None] | str:
    """``(ids, intent)`` from the JSON body, or a Chinese error message."""
    body = json_object(request, '{"ids": [1, 2], "intent": "faq_audit"}')
    if isinstance(body, str):
        return body
    if "intent" not in body:
        return "请给出 intent（意图名，或 null 表示不采用）"
    ids, intent = body.get("ids"), body.get("intent")
    if (not isinstance(ids, list) or not ids or len(ids) > MAX_IDS
            or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID
                       for i in ids)):
        return f"ids 应为1到{MAX_IDS}个正整数"
    if intent is not None and intent not in labels():
        return "intent 应为 domain.yml 中的意图，或 null（不采用）"
    return ids, intent


async def label_candidates(request: Request) -> HTTPResponse:
    """``POST /api/candidates/label`` with ``{"ids": [...], "intent": "..." | null}``."""
    parsed = _label_body(request)
    if isinstance(parsed, str):
        return await audited(request, "candidates.label", {}, error(400, parsed), 0)
    ids, intent = parsed
    params = {"ids": ",".join(map(str, ids))[:200], "intent": intent or "(不采用)"}
    try:
        changed = await blocking(store(request).label, ids, intent, request.ctx.agent)
    except CandidateError as exc:
        return await audited(request, "candidates.label", params, error(400, str(exc)), 0)
    except SQLAlchemyError:
        return await audited(request, "candidates.label", params, error(503, UNAVAILABLE), 0)
    if not changed:
        reply = error(404, "没有找到这些候选语料")
        return await audited(request, "candidates.label", params, reply, 0)
    body = {"labelled": changed, "intent": intent}
    return await audited(request, "candidates.label", params, as_json(body), changed)
