"""A worker wired to fakes: the platform API (tests/fakes/wechat_api.py) and Rasa's
outbound endpoint (tests/fakes/rasa_outbound.py), on the test's database and clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.channels.wechat_api import OfficialAccountApi, WeComApi
from bot.handoff.service import HandoffService
from bot.handoff.settings import DutyHours
from bot.outbox.adapters import PlatformAdapter, PlatformSender, RasaRecorder, RecordOnly, web_chat
from bot.outbox.models import OutboxMessage
from bot.outbox.store import Backoff, OutboxStore
from bot.outbox.worker import OutboxWorker, WorkerSettings
from tests.fakes.rasa_outbound import FakeRasaOutbound
from tests.fakes.wechat_api import AGENT_ID, APPID, APPSECRET, CORP_ID, CORP_SECRET, FakeWeChatApi

OPENID = "oUNBIND_outbox_merchant_0001"
WECOM_USER = "LiSi"


@dataclass
class Harness:
    worker: OutboxWorker
    api: FakeWeChatApi
    rasa: FakeRasaOutbound
    engine: Engine

    def rows(self) -> list[OutboxMessage]:
        table = OutboxMessage.__table__
        with self.engine.connect() as conn:
            return list(conn.execute(select(table).order_by(table.c.id)).all())

    def state(self, row_id: int) -> str:
        return next(r.state for r in self.rows() if r.id == row_id)

    async def drain(self, rounds: int = 5) -> None:
        """Run worker rounds until one finds nothing due."""
        for _ in range(rounds):
            if await self.worker.tick() == 0:
                return


def build(engine: Engine, db_url: str, clock: object, api: FakeWeChatApi,
          rasa: FakeRasaOutbound, timeout: float = 2.0, owner: str | None = None,
          tracker_engine: Engine | None = None) -> OutboxWorker:
    prefix = f"test:outbox:{uuid.uuid4().hex[:8]}"
    handoffs = HandoffService(engine, clock=clock, hours=DutyHours(None))
    store = OutboxStore(engine, clock=clock, backoff=Backoff(jitter=0, max_attempts=4))
    recorder = RasaRecorder(rasa.url)
    wechat = PlatformSender("wechat", OfficialAccountApi(APPID, APPSECRET, api.base_url),
                            f"{prefix}:wechat", None, db_url)
    wecom = PlatformSender("wecom", WeComApi(CORP_ID, CORP_SECRET, str(AGENT_ID), api.base_url),
                           f"{prefix}:wecom", None, db_url)
    adapters = {"socketio": web_chat(recorder),
                "wechat": PlatformAdapter(recorder, wechat, timeout),
                "wecom": PlatformAdapter(recorder, wecom, timeout)}
    worker = OutboxWorker(store, handoffs, adapters, RecordOnly(recorder), tracker_engine,
                          WorkerSettings(poll=0.05, send_timeout=timeout))
    if owner:
        worker.owner = owner
    return worker


@asynccontextmanager
async def harness(engine: Engine, db_url: str, clock: object, **kwargs: object
                  ) -> AsyncIterator[Harness]:
    async with FakeWeChatApi().running() as api, FakeRasaOutbound().running() as rasa:
        worker = build(engine, db_url, clock, api, rasa, **kwargs)  # type: ignore[arg-type]
        try:
            yield Harness(worker, api, rasa, engine)
        finally:
            for adapter in worker.adapters.values():
                sender = getattr(adapter, "sender", None)
                if sender is not None:
                    await sender.aclose()
            await worker.adapters["socketio"].recorder.close()  # type: ignore[attr-defined]
