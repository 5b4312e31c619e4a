"""Console answer search: `GET /api/answers?q=` of the running web app in front of our Rasa.

After an unrecorded warm-up pass (the topic titles, minus any that is also a measured
query), every query of the two console query sets is sent ``passes`` times, each pass in
a new random order, one request at a time over one kept-alive connection, with the
shared console token and an ``X-Agent`` name. Our intent classifier caches its ranking
per text inside Rasa, so the first pass shows a query new to Rasa and later passes a
repeated one; replies keep their pass number. Client latency is request sent → whole
reply read; the server's own figure is the reply's ``took_ms``. A reply is a top-3 hit
when the query's expected topic is among its first three hits (the criterion of
tests/console/test_console_search.py).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import yaml

from bot.bench.load import percentile
from bot.paths import ROOT

QUERY_FILES = {
    "tuned": ROOT / "tests" / "console_queries.yml",
    "held-out": ROOT / "tests" / "console_queries_heldout.yml",
}
AGENT = "bench"


@dataclass(frozen=True)
class Query:
    """One search the agent types and the topic id it expects in the top 3."""

    set: str
    text: str
    topic: str


@dataclass(frozen=True)
class Reply:
    """What one measured request gave; ``status`` 0 means no HTTP reply at all."""

    query: Query
    pass_no: int
    status: int
    seconds: float
    took_ms: float | None = None
    nlu: bool = False
    hit: bool = False

    @property
    def ok(self) -> bool:
        """A 200 with the documented body (``took_ms`` is None without one)."""
        return self.status == 200 and self.took_ms is not None


@dataclass(frozen=True)
class ConsoleStats:
    """Latency percentiles (ms) and shares of a group of replies."""

    replies: list[Reply]

    @property
    def requests(self) -> int:
        return len(self.replies)

    @property
    def errors(self) -> int:
        return sum(not r.ok for r in self.replies)

    def client_ms(self, q: float) -> float:
        return 1000 * percentile([r.seconds for r in self.replies], q)

    @property
    def client_max_ms(self) -> float:
        return 1000 * max((r.seconds for r in self.replies), default=float("nan"))

    def took_ms(self, q: float) -> float:
        return percentile([r.took_ms for r in self.replies if r.took_ms is not None], q)

    @property
    def nlu_share(self) -> float:
        """Share of requests answered with Rasa's ranking fused in (not BM25 alone)."""
        return self._share(sum(r.nlu for r in self.replies))

    @property
    def hit_rate(self) -> float:
        """Share of requests with the expected topic in the top 3 (failures count as misses)."""
        return self._share(sum(r.hit for r in self.replies))

    def _share(self, count: int) -> float:
        return count / len(self.replies) if self.replies else float("nan")


@dataclass
class ConsoleResult:
    """All measured replies, and how the web app itself started and grew."""

    passes: int
    queries: int
    replies: list[Reply] = field(default_factory=list)
    nlu_budget_ms: float = float("nan")
    startup_seconds: float = float("nan")
    memory_mb: float = float("nan")

    def of(self, name: str | None = None, first: bool | None = None) -> ConsoleStats:
        """Figures of one query set (None: both), of the first pass, later ones or all."""
        return ConsoleStats([
            r for r in self.replies
            if (name is None or r.query.set == name)
            and (first is None or (r.pass_no == 1) == first)
        ])

    @property
    def errors(self) -> int:
        return self.of().errors


def load_queries() -> list[Query]:
    """Both query sets, tuned first."""
    return [
        Query(name, str(case["q"]), str(case["topic"]))
        for name, path in QUERY_FILES.items()
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["queries"]
    ]


def warm_up_queries(measured: Sequence[Query]) -> list[Query]:
    """The topic titles that are not measured queries (their rankings are cached too)."""
    from bot.knowledge.topics import load_topics

    texts = {q.text for q in measured}
    return [Query("warm-up", t.title, t.id) for t in load_topics().values()
            if t.title not in texts]


def _reply(query: Query, pass_no: int, status: int, seconds: float, raw: bytes) -> Reply:
    if status != 200:
        return Reply(query, pass_no, status, seconds)
    try:
        body: dict[str, Any] = json.loads(raw)
        top3 = [hit.get("topic") for hit in body.get("hits", [])[:3]]
        return Reply(query, pass_no, status, seconds, float(body["took_ms"]),
                     bool((body.get("nlu") or {}).get("available")), query.topic in top3)
    except (ValueError, KeyError, TypeError, AttributeError):
        return Reply(query, pass_no, status, seconds)  # a 200 without the documented body


async def _ask(
    session: aiohttp.ClientSession, url: str, query: Query, pass_no: int = 0,
) -> Reply:
    start = time.perf_counter()
    try:
        async with session.get(url, params={"q": query.text}) as response:
            raw = await response.read()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return Reply(query, pass_no, 0, time.perf_counter() - start)
    return _reply(query, pass_no, status, time.perf_counter() - start, raw)


async def _measure(
    base_url: str, token: str, queries: Sequence[Query], passes: int, seed: int,
) -> list[Reply]:
    url = f"{base_url.rstrip('/')}/api/answers"
    headers = {"Authorization": f"Bearer {token}", "X-Agent": AGENT}
    order = random.Random(seed)
    replies: list[Reply] = []
    async with aiohttp.ClientSession(
        headers=headers, timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=1),
    ) as session:
        for query in warm_up_queries(queries):  # first parses, connection; not recorded
            await _ask(session, url, query)
        for pass_no in range(1, passes + 1):
            shuffled = list(queries)
            order.shuffle(shuffled)
            for query in shuffled:
                replies.append(await _ask(session, url, query, pass_no))
    return replies


def measure_answers(
    base_url: str, token: str, passes: int, seed: int = 7,
) -> ConsoleResult:
    """A warm-up pass, then ``passes`` measured passes over every console query."""
    from bot.web.console.api import nlu_timeout  # what the web app reads from the same env

    queries = load_queries()
    result = ConsoleResult(passes, len(queries), nlu_budget_ms=1000 * nlu_timeout())
    result.replies = asyncio.run(_measure(base_url, token, queries, passes, seed))
    return result
