"""A stand-in for Rasa's ``/webhooks/outbound/deliver`` for outbox worker tests.

It keeps what a conversation would store (one entry per outbox id, like the real
endpoint) and can refuse (``fail_next``) or hang. The real endpoint, inside Rasa, is
tested with the running bot (tests/handoff).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.threaded import ServedInThread


@dataclass
class FakeRasaOutbound(ServedInThread):
    calls: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[int, dict[str, Any]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    hang: bool = False
    url: str = ""

    def texts(self, sender_id: str) -> list[str]:
        return [m["text"] for m in self.stored.values() if m["sender_id"] == sender_id]

    async def _deliver(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(body)
        while self.hang:
            await asyncio.sleep(0.02)
        if self.fail_next:
            return web.json_response({"error": "down"}, status=self.fail_next.pop(0))
        duplicate = body["outbox_id"] in self.stored
        self.stored.setdefault(body["outbox_id"], body)
        return web.json_response({"recorded": True, "duplicate": duplicate,
                                  "pushed": body["channel"] == "socketio"})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeRasaOutbound]:
        app = web.Application()
        app.router.add_post("/webhooks/outbound/deliver", self._deliver)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        try:
            yield self
        finally:
            self.hang = False
            await runner.cleanup()

