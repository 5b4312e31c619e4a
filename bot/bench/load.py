"""Conversation load through the REST webhook.

``concurrency`` simulated merchants each hold one conversation at a time and send its
turns one after another, waiting for every reply; when a conversation ends they start a
new one with a new sender id. Each run lasts a fixed time; turns in flight at the end
are finished and counted. Latency is per turn (request sent → reply received).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

TICKET_RE = re.compile(r"UB-\d{8}-\d{4}")
Script = Callable[[int], Sequence[str]]
_counter = itertools.count(1)


def ours_script(n: int) -> list[str]:
    """FAQ questions around a full unbind form with a merchant number unique to ``n``."""
    merchant = f"86{n:013d}"
    return [
        "你好",
        "解绑要带什么资料啊",
        "我要解绑",
        merchant,
        '/inform{"unbind_reason":"更换设备"}',
        f"SN{n:010d}",
        "13812345678",
        "确认提交",
        "我的解绑进度怎么样",
        "在机器上要按哪个键进菜单",
        "谢谢",
    ]


def reference_script(n: int) -> list[str]:
    """The `rasa init` bot's own greet / mood / bot-challenge phrases."""
    return [
        "hello", "I am feeling very good", "hi there", "I am sad", "yes",
        "hey", "very bad", "no", "are you a bot?", "goodbye",
    ]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class LoadResult:
    """Per-turn latencies (seconds) and counts of one or more runs of one bot at one level."""

    bot: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    conversations: int = 0
    tickets: int = 0
    throughputs: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    """Each latency's turn in its script (0 = the first message)."""

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Turns per second over all runs."""
        return self.turns / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        """Percentile latency in milliseconds."""
        return 1000 * percentile(self.latencies, q)

    def slowest_turns(self, q: float = 95) -> dict[int, float]:
        """For each turn of the script, its share of the turns at or above the ``q``-th
        percentile: which turns make the tail."""
        cut = percentile(self.latencies, q) if self.latencies else 0.0
        slow = [n for n, s in zip(self.positions, self.latencies, strict=True) if s >= cut]
        return {n: slow.count(n) / len(slow) for n in sorted(set(slow))}

    def merge(self, other: LoadResult) -> None:
        self.latencies += other.latencies
        self.positions += other.positions
        self.seconds += other.seconds
        self.errors += other.errors
        self.conversations += other.conversations
        self.tickets += other.tickets
        self.throughputs += other.throughputs


async def timed_turn(
    session: aiohttp.ClientSession, url: str, sender: str, text: str,
) -> tuple[float, list[dict] | None]:
    """One REST turn: its seconds, and the bot's replies (``None`` when it failed)."""
    start = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as reply:
            body = await reply.json(content_type=None) if reply.status == 200 else None
    except (aiohttp.ClientError, asyncio.TimeoutError):
        body = None
    return time.perf_counter() - start, body


async def _merchant(
    session: aiohttp.ClientSession, url: str, script: Script, deadline: float,
    result: LoadResult, tag: str, on_turn: Callable[[], None] | None,
) -> None:
    while time.monotonic() < deadline:
        n = next(_counter)
        sender = f"bench-{tag}-{n}-{uuid.uuid4().hex[:6]}"
        result.conversations += 1
        for position, text in enumerate(script(n)):
            if time.monotonic() >= deadline:
                return
            seconds, body = await timed_turn(session, url, sender, text)
            result.latencies.append(seconds)
            result.positions.append(position)
            if on_turn:
                on_turn()
            if not body:
                result.errors += 1
                continue
            if any(TICKET_RE.search(m.get("text") or "") for m in body) and "确认" in text:
                result.tickets += 1


async def _run(
    bot: str, url: str, script: Script, concurrency: int, seconds: float,
    on_turn: Callable[[], None] | None,
) -> LoadResult:
    result = LoadResult(bot, concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=concurrency + 4)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        start = time.monotonic()
        deadline = start + seconds
        tag = uuid.uuid4().hex[:4]
        await asyncio.gather(*(
            _merchant(session, url, script, deadline, result, tag, on_turn)
            for _ in range(concurrency)
        ))
        result.seconds = time.monotonic() - start
    result.throughputs.append(result.throughput)
    return result


def run_load(
    bot: str, url: str, script: Script, concurrency: int, seconds: float,
    on_turn: Callable[[], None] | None = None,
) -> LoadResult:
    """Drive ``concurrency`` conversations against ``url`` for ``seconds``."""
    return asyncio.run(_run(bot, url, script, concurrency, seconds, on_turn))


def warm_up(url: str, script: Script) -> None:
    """One unrecorded conversation, so lazy loading is not measured."""
    asyncio.run(_one_conversation(url, script))


async def _one_conversation(url: str, script: Script) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        sender = f"bench-warm-{uuid.uuid4().hex[:8]}"
        for text in script(next(_counter)):
            async with session.post(url, json={"sender": sender, "message": text}) as reply:
                await reply.read()
