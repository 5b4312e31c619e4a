"""The console's candidates page API: grouped by similar text, labelled, validated, audited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from console_support import AGENT, HEADERS, Databases, get
from sanic import Sanic

from bot.audit import AuditLog
from bot.db import make_engine
from bot.learning.candidates import CandidateStore


@pytest.fixture
def store(dbs: Databases) -> Iterator[CandidateStore]:
    store = CandidateStore(make_engine(dbs.tickets_url))
    yield store
    store.engine.dispose()



async def label(app: Sanic, body: object):
    data = body if isinstance(body, str) else json.dumps(body)
    _, reply = await app.asgi_client.post("/api/candidates/label", headers=HEADERS,
                                          content=data)
    return reply


async def test_candidates_need_the_token(app: Sanic) -> None:
    assert (await get(app, "/api/candidates", headers={})).status == 401
    _, reply = await app.asgi_client.post("/api/candidates/label", content="{}")
    assert reply.status == 401


async def test_candidates_are_grouped_and_labelled(app: Sanic, store: CandidateStore,
                                                   dbs: Databases) -> None:
    ids = [store.record("web-1", text, reason, intent, 0.2, "rest") for text, reason, intent in [
        ("店员要培训吗", "fallback", "nlu_fallback"),
        ("店员要不要培训呀", "low_confidence", "faq_process"),
        ("解绑收费吗", "handoff", "faq_unbind_reasons"),
        ("密码是123456 店员要培训吗", "fallback", "nlu_fallback"),
    ]]
    body = (await get(app, "/api/candidates")).json
    assert body["counts"] == {"open": 4, "labelled": 0, "dismissed": 0}
    assert "faq_step_training" in body["labels"] and "nlu_fallback" not in body["labels"]
    biggest = body["groups"][0]
    assert biggest["count"] >= 2 and "培训" in biggest["text"]
    texts = json.dumps(body, ensure_ascii=False)
    assert "123456" not in texts  # kept redacted
    assert (await get(app, "/api/candidates?reason=handoff")).json["groups"][0]["count"] == 1

    reply = await label(app, {"ids": ids[:2], "intent": "faq_step_training"})
    assert reply.status == 200 and reply.json == {"labelled": 2, "intent": "faq_step_training"}
    assert (await label(app, {"ids": [ids[2]], "intent": None})).json["labelled"] == 1
    counts = (await get(app, "/api/candidates?status=labelled")).json["counts"]
    assert counts == {"open": 1, "labelled": 2, "dismissed": 1}
    labelled = store.labelled()
    assert {c.labelled_by for c in labelled} == {AGENT}
    actions = [row.action for row in AuditLog(store.engine).recent()]
    assert "candidates.label" in actions and "candidates.list" in actions


@pytest.mark.parametrize(("body", "message"), [
    ("nope", "JSON"),
    ([1, 2], "JSON对象"),
    ({"ids": [], "intent": "faq_audit"}, "ids"),
    ({"ids": [1, "2"], "intent": "faq_audit"}, "ids"),
    ({"ids": [True], "intent": "faq_audit"}, "ids"),
    ({"ids": [2**80], "intent": "faq_audit"}, "ids"),
    ({"ids": [1], "intent": "faq_nope"}, "intent"),
    ({"ids": [1]}, "intent"),  # a missing intent is not a dismissal by accident
])
async def test_label_input_is_validated(app: Sanic, body: object, message: str) -> None:
    reply = await label(app, body)
    assert reply.status == 400 and message in reply.json["error"]


async def test_unknown_candidates_and_bad_filters(app: Sanic) -> None:
    assert (await label(app, {"ids": [999], "intent": "faq_audit"})).status == 404
    assert (await get(app, "/api/candidates?status=all")).status == 400
    assert (await get(app, "/api/candidates?reason=x")).status == 400
    assert (await get(app, "/api/candidates?reason=")).status == 400
