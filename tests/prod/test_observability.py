"""JSON logs (conversation id, no texts), Prometheus metrics, readiness."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.ops import metrics, readiness
from bot.ops.channels import observe
from bot.ops.logs import JsonFormatter, conversation_id
from bot.redaction import MASK


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("bot.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_carry_the_conversation_id_and_hide_secrets():
    token = conversation_id.set("merchant-42")
    try:
        line = JsonFormatter().format(record("login failed: 密码是 Abc12345", channel="rest"))
    finally:
        conversation_id.reset(token)
    data = json.loads(line)
    assert data["conversation_id"] == "merchant-42" and data["channel"] == "rest"
    assert "Abc12345" not in line and MASK in data["msg"]


def sample(name: str, labels: dict[str, str]) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_observe_counts_turns_latency_errors_and_logs_no_text(caplog):
    async def answer(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "好的")

    async def fail(message: UserMessage) -> None:
        raise RuntimeError("boom")

    async def silent(message: UserMessage) -> None:
        return None

    ok_before = sample("jiebang_turns_total", {"channel": "t", "outcome": "ok"})
    err_before = sample("jiebang_turns_total", {"channel": "t", "outcome": "error"})
    caplog.set_level(logging.INFO, logger="bot.ops.turns")

    def run(handler) -> None:  # noqa: ANN001
        msg = UserMessage("我的秘密文本", CollectingOutputChannel(), "s-1")
        asyncio.run(observe("t", handler)(msg))

    run(answer)
    with pytest.raises(RuntimeError):
        run(fail)
    run(silent)
    assert sample("jiebang_turns_total", {"channel": "t", "outcome": "ok"}) == ok_before + 1
    assert sample("jiebang_turns_total", {"channel": "t", "outcome": "error"}) == err_before + 2
    assert sample("jiebang_turn_latency_seconds_count", {"channel": "t"}) >= 3
    turns = [r for r in caplog.records if r.name == "bot.ops.turns"]
    assert [r.outcome for r in turns[-3:]] == ["ok", "error", "no_reply"]
    assert all("我的秘密文本" not in JsonFormatter().format(r) for r in turns)


def test_metrics_page_names_every_metric():
    body, content_type = metrics.render()
    text = body.decode()
    for name in ("jiebang_turns_total", "jiebang_turn_latency_seconds_bucket",
                 "jiebang_fallbacks_total", "jiebang_tickets_opened_total",
                 "jiebang_errors_total"):
        assert f"# TYPE {name.rsplit('_bucket', 1)[0].rsplit('_total', 1)[0]}" in text
    assert content_type.startswith("text/plain")


def test_readiness_reports_each_dependency():
    async def main():
        return await readiness.report({
            "database": readiness.check_database("postgresql://nobody@127.0.0.1:1/x"),
            "redis": readiness.check_redis("redis://127.0.0.1:1/0"),
            "model": readiness.check_model(object()),
            "stores": readiness.check_stores(object()),
        })

    ready, body = asyncio.run(main())
    assert not ready
    assert {k: v["ok"] for k, v in body["checks"].items()} == {
        "database": False, "redis": False, "model": False, "stores": False}


@pytest.mark.postgres
@pytest.mark.redis
def test_readiness_passes_on_live_services(postgres_url, redis_url):
    async def main():
        return await readiness.report({
            "database": readiness.check_database(postgres_url),
            "redis": readiness.check_redis(redis_url.split("#")[0]),
        })

    ready, body = asyncio.run(main())
    assert ready, body
