"""Simulated merchants for ``make loadtest`` (run by ``python -m bot.loadtest``).

Each Locust user plays whole conversations, one after another, until the run's
number of conversations (``LOADTEST_CONVERSATIONS``) has been started:

- ``faq``     greeting, two guide questions, thanks;
- ``form``    a complete unbind request with a merchant number unique to the run,
              confirmed, then a status check (one ticket expected);
- ``status``  a status check in a conversation without tickets;
- ``wechat``  three signed WeChat callbacks; some are re-sent as WeChat does;
- ``handoff`` 转人工, then the same Locust user plays the agent in the console API: it
              claims the conversation, the merchant writes twice (the bot must stay
              silent, whichever replica answers), the agent replies twice and hands the
              conversation back, and the bot answers the merchant's thanks again.

After a completed form the agent also advances the ticket's first step in the console,
so a step-change notice goes to that conversation through the outbox.

Every turn carries ``metadata.turn_id``; it is stored with the user event, so the
verification can tell which turns reached the tracker. A failed turn (5xx, 409, timeout,
``[]``) is retried like a client would: the same turn id, also as the REST
``message_id``, so a turn already processed is answered from its stored answer and not
processed again. Every attempt is written to ``$LOADTEST_OUT/turns-<pid>.jsonl``.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from pathlib import Path
from urllib.parse import quote

from locust import HttpUser, between, events, task
from locust.exception import StopUser

from bot.channels.wechat_inbound import ERROR_REPLY
from bot.loadtest import wechat

RUN = os.environ.get("LOADTEST_RUN_ID", "lt")
OUT = Path(os.environ.get("LOADTEST_OUT", "var/loadtest"))
TOTAL = int(os.environ.get("LOADTEST_CONVERSATIONS", "100"))
MIX = {"faq": 4, "form": 3, "status": 1, "wechat": 2, "handoff": 2}
CONSOLE_TOKEN = os.environ.get("CONSOLE_TOKEN", "")
RETRIES = 6
TICKET_RE = re.compile(r"UB-\d{8}-\d{4,}")
FAQ = ["解绑需要哪些资料", "解绑流程是怎样的", "POS机上怎么操作解绑", "解绑审核要多久",
       "能在网上申请解绑吗", "解绑有什么注意事项", "解绑前需要准备什么", "为什么要解绑"]
REASONS = ["更换设备", "业务调整", "设备故障"]

_started = itertools.count()
_msg_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)
_log = None


def log(record: dict) -> None:
    global _log
    if _log is None:
        OUT.mkdir(parents=True, exist_ok=True)
        _log = (OUT / f"turns-{os.getpid()}.jsonl").open("a", encoding="utf-8", buffering=1)
    _log.write(json.dumps(record, ensure_ascii=False) + "\n")


class Merchant(HttpUser):
    wait_time = between(0.3, 1.0)

    @task
    def conversation(self) -> None:
        number = next(_started)
        if number >= TOTAL:
            raise StopUser()
        kind = random.choices(list(MIX), weights=list(MIX.values()))[0]
        self.conv = f"{RUN}-{kind}-{number:04d}"
        self.turn = 0
        log({"event": "start", "conv": self.conv, "kind": kind, "t": time.time()})
        getattr(self, f"play_{kind}")(number)
        log({"event": "end", "conv": self.conv, "kind": kind, "t": time.time()})

    # -- REST ------------------------------------------------------------------

    def say(self, text: str) -> str | None:
        """One turn, retried on any visible failure; the reply text or None."""
        self.turn += 1
        turn_id = f"{self.conv}#{self.turn}"
        body = {"sender": self.conv, "message": text, "message_id": turn_id,
                "metadata": {"turn_id": turn_id}}
        for attempt in range(1, RETRIES + 1):
            started = time.time()
            status, reply, error, with_agent = 0, None, None, False
            with self.client.post("/webhooks/rest/webhook", json=body, timeout=30,
                                  name="rest turn", catch_response=True) as resp:
                status = resp.status_code or 0
                try:
                    data = resp.json() if status else None
                except ValueError:
                    data = None
                if status == 200 and isinstance(data, list) and data:
                    reply = "\n".join(m.get("text") or "" for m in data)
                    with_agent = any((m.get("custom") or {}).get("handoff") == "with_agent"
                                     for m in data)
                    resp.success()
                else:
                    error = f"status {status}" if status else type(resp.error).__name__
                    if status == 200:
                        error = "empty 200"
                    resp.failure(error)
            log({"event": "turn", "conv": self.conv, "turn_id": turn_id, "attempt": attempt,
                 "status": status, "ok": reply is not None, "error": error,
                 "t": started, "latency": time.time() - started, "with_agent": with_agent,
                 "ticket": (TICKET_RE.search(reply or "") or [None])[0]})
            if reply is not None:
                self.wait()
                return reply
            time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
        return None

    def play_faq(self, number: int) -> None:
        self.say("你好")
        for question in random.sample(FAQ, 2):
            self.say(question)
        self.say("谢谢")

    def play_form(self, number: int) -> None:
        merchant = f"8{abs(hash(RUN)) % 10**9:09d}{number:05d}"[:15]
        log({"event": "form", "conv": self.conv, "merchant": merchant})
        steps = ["我要解绑", merchant, f'/inform{{"unbind_reason":"{random.choice(REASONS)}"}}',
                 f"SN{number:04d}A{random.randint(1000, 9999)}", f"138{number:08d}"[:11]]
        for text in steps:
            if self.say(text) is None:
                return
        reply = self.say("确认提交")
        ticket = TICKET_RE.search(reply or "")
        log({"event": "form_done", "conv": self.conv, "merchant": merchant,
             "ticket": ticket.group() if ticket else None, "confirmed": reply is not None})
        self.say("我的解绑进度怎么样")
        if ticket:
            path = f"/api/tickets/{ticket.group()}/steps/资料审核"
            if self.agent("post", path, {"status": "进行中", "note": "压测"}) is not None:
                log({"event": "step_change", "conv": self.conv, "ticket": ticket.group()})

    # -- the agent (console API through nginx) -----------------------------------

    def agent(self, method: str, path: str, body: dict | None = None,
              accept: tuple[int, ...] = ()) -> dict | None:
        """One console call as this user's agent, retried on 5xx and timeouts."""
        headers = {"Authorization": f"Bearer {CONSOLE_TOKEN}",
                   "X-Agent": quote(f"压测坐席{id(self) % 1000}")}
        for attempt in range(1, RETRIES + 1):
            with getattr(self.client, method)(path, json=body, headers=headers, timeout=30,
                                              name=f"console {method}",
                                              catch_response=True) as resp:
                status = resp.status_code or 0
                if 200 <= status < 300 or status in accept:
                    resp.success()
                    try:
                        return {"status": status, **resp.json()}
                    except ValueError:
                        return {"status": status}
                resp.failure(f"status {status}")
            log({"event": "agent_error", "conv": self.conv, "path": path.split("?")[0],
                 "status": status, "attempt": attempt})
            time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
        return None

    def play_handoff(self, number: int) -> None:
        if self.say("转人工") is None:
            return
        handoff = None
        for _ in range(60):
            listed = self.agent("get", "/api/handoffs?poll=1")
            handoff = next((h for h in (listed or {}).get("handoffs", [])
                            if h["sender_id"] == self.conv and h["state"] == "queued"), None)
            if handoff:
                break
            time.sleep(0.5)
        if handoff is None:
            log({"event": "handoff_missing", "conv": self.conv})
            return
        if self.agent("post", f"/api/handoffs/{handoff['id']}/claim") is None:
            return
        log({"event": "handoff", "conv": self.conv, "handoff": handoff["id"]})
        for text in ("我的POS机屏幕坏了", "还能解绑吗"):
            turn = self.turn + 1
            self.say(text)
            log({"event": "to_agent", "conv": self.conv, "turn_id": f"{self.conv}#{turn}"})
        for index, text in enumerate(("可以解绑，请准备营业执照。", "还有别的问题吗？")):
            sent = self.agent("post", f"/api/handoffs/{handoff['id']}/messages",
                              {"text": text, "client_id": f"{self.conv.lower()}-r{index}"})
            if sent:
                log({"event": "agent_reply", "conv": self.conv,
                     "outbox": sent["message"]["id"]})
        if self.agent("post", f"/api/handoffs/{handoff['id']}/release",
                      {"action": "handback"}, accept=(409,)) is not None:
            log({"event": "handback", "conv": self.conv, "handoff": handoff["id"]})
            self.say("谢谢")

    def play_status(self, number: int) -> None:
        self.say("查一下我的解绑进度")
        self.say("谢谢")

    # -- WeChat -------------------------------------------------------------------

    def play_wechat(self, number: int) -> None:
        openid = f"o{self.conv}"
        for text in ("你好", random.choice(FAQ), "谢谢"):
            for _ in range(3):  # an apology ("系统暂时繁忙") makes the merchant send it again
                if not self.send_wechat(openid, text):
                    break
            self.wait()

    def send_wechat(self, openid: str, text: str) -> bool:
        """One WeChat message, with WeChat's retries; True when the bot apologised."""
        msg_id = next(_msg_ids)
        resend = random.random() < 0.3
        apologised = False
        for attempt in range(1, 4 + int(resend)):
            params, body = wechat.callback(openid, text, msg_id)
            started = time.time()
            with self.client.post("/webhooks/wechat/webhook", params=params, data=body,
                                  timeout=5, name="wechat callback",
                                  catch_response=True) as resp:
                status = resp.status_code or 0
                content = resp.text or "" if status else ""
                ok = status == 200 and bool(content)
                if ok:
                    resp.success()
                else:
                    resp.failure(f"status {status}")
            apologised = ok and ERROR_REPLY in content
            log({"event": "wechat", "conv": openid, "msg_id": msg_id, "attempt": attempt,
                 "status": status, "ok": ok, "passive": ok and content != "success",
                 "apology": apologised, "t": started, "latency": time.time() - started})
            if ok and not (resend and attempt == 1):
                break
            time.sleep(0.5 if ok else 1.0)
        return apologised


@events.test_start.add_listener
def _announce(environment, **kwargs) -> None:  # noqa: ANN001
    log({"event": "locust_start", "t": time.time(), "total": TOTAL})


@events.init.add_listener
def _stop_when_done(environment, **kwargs) -> None:  # noqa: ANN001
    """Quit once every conversation has been played (all users stopped)."""
    import gevent

    def watch() -> None:
        while True:
            gevent.sleep(1)
            runner = environment.runner
            if runner is None or next_number() < TOTAL:
                continue
            if runner.user_count == 0:
                runner.quit()
                return

    gevent.spawn(watch)


def next_number() -> int:
    """How many conversations have been started (without starting one)."""
    return int(repr(_started).split("(")[1].rstrip(")"))
