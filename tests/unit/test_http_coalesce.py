"""Requests leave the Rasa process as one write of headers and body (bot.http_coalesce)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_writer import StreamWriter

from bot import http_coalesce


def _requests_sent(monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]],
                   coalesced: bool = True) -> list[bytes]:
    """Make ``calls`` (method, json body) to a local aiohttp server; every write to the
    socket (``transport.write``, one ``send``) that carried part of a request, in order."""
    writes: list[tuple[bool, bytes]] = []
    real_write = http_coalesce._rasa_write

    def spying(self: StreamWriter, chunk: bytes) -> None:
        writes.append((isinstance(self._protocol, ResponseHandler), bytes(chunk)))
        real_write(self, chunk)

    monkeypatch.setattr(http_coalesce, "_rasa_write", spying)
    if not coalesced:
        monkeypatch.setattr(StreamWriter, "write_headers", http_coalesce._rasa_write_headers)
        monkeypatch.setattr(StreamWriter, "write_eof", http_coalesce._rasa_write_eof)
        monkeypatch.setattr(StreamWriter, "_write", spying)

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"method": request.method, "size": len(body)})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_route("*", "/webhook", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as session:
                for method, body in calls:
                    async with session.request(method, f"http://127.0.0.1:{port}/webhook",
                                               json=body) as reply:
                        assert (await reply.json())["method"] == method
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    return [data for client, data in writes if client]  # the server's answers aside


def test_a_request_with_a_body_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"next_action": "action_x", "tracker": {"events": ["解绑"] * 50}}
    http_coalesce.install()
    writes = _requests_sent(monkeypatch, [("POST", body), ("GET", None), ("POST", body)])
    assert [w.split(b" ", 1)[0] for w in writes] == [b"POST", b"GET", b"POST"]
    assert writes[0].endswith(aiohttp.JsonPayload(body)._value)  # headers and body
    assert writes[1].endswith(b"\r\n\r\n")  # a request without a body: its headers


def test_without_it_aiohttp_writes_headers_and_body_apart(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``install`` changes (so the test above can fail)."""
    writes = _requests_sent(monkeypatch, [("POST", {"a": 1})], coalesced=False)
    assert len(writes) == 2 and writes[1] == b'{"a": 1}'
