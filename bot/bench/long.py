"""One long conversation through the REST webhook: does a turn cost more as it grows?

A single sender sends ``turns`` messages one after another (FAQ questions for ours, the
`rasa init` bot's own phrases for the reference), waiting for every reply. Latencies are
grouped in buckets of ``bucket`` turns; the figure of merit is the p50 of the last bucket
over the p50 of the first (issue 16: ≤ 1.3×).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bot.bench.load import percentile

# FAQ questions that each end in an answer (action_answer_topic), no form opened.
OURS_FAQ = (
    "解绑要带什么资料啊",
    "在机器上要按哪个键进菜单",
    "解绑需要多久",
    "法人不在可以解绑吗",
    "解绑要收费吗",
)
REFERENCE_PHRASES = ("hello", "I am feeling very good", "are you a bot?", "I am sad", "yes")


@dataclass
class LongResult:
    """Per-turn latencies (seconds) of one long conversation."""

    bot: str
    store: str
    bucket: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def buckets(self) -> list[float]:
        """p50 in milliseconds of each full bucket of turns."""
        size = self.bucket
        return [1000 * percentile(self.latencies[i:i + size], 50)
                for i in range(0, len(self.latencies) - size + 1, size)]

    @property
    def growth(self) -> float:
        """p50 of the last bucket over p50 of the first."""
        values = self.buckets()
        return values[-1] / values[0] if len(values) > 1 and values[0] else float("nan")


async def _conversation(url: str, texts: Sequence[str], turns: int, result: LongResult) -> None:
    sender = f"bench-long-{uuid.uuid4().hex[:10]}"
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for turn in range(turns):
            text = texts[turn % len(texts)]
            start = time.perf_counter()
            try:
                async with session.post(url, json={"sender": sender, "message": text}) as reply:
                    body = await reply.json(content_type=None) if reply.status == 200 else None
            except (aiohttp.ClientError, asyncio.TimeoutError):
                body = None
            result.latencies.append(time.perf_counter() - start)
            if not body:
                result.errors += 1


def run_long(
    bot: str, store: str, url: str, texts: Sequence[str], turns: int = 600, bucket: int = 100,
) -> LongResult:
    """Send ``turns`` messages as one sender to ``url``; latencies per turn."""
    result = LongResult(bot, store, bucket)
    asyncio.run(_conversation(url, texts, turns, result))
    return result
