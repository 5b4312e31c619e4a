"""Prometheus metrics of the bot (``prometheus-client``), one registry per process.

Rasa replicas expose them at ``/webhooks/ops/metrics``, action servers at ``/metrics``;
nginx serves neither publicly (see ``deploy/nginx.conf.template``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 30)

TURNS = Counter(
    "jiebang_turns", "Merchant turns received, by channel and outcome (ok, error)",
    ["channel", "outcome"], registry=REGISTRY,
)
TURN_LATENCY = Histogram(
    "jiebang_turn_latency_seconds", "Time to process one merchant turn", ["channel"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
FALLBACKS = Counter(
    "jiebang_fallbacks", "Turns that ended in the fallback (NLU or dialogue)", ["channel"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "jiebang_errors", "Errors by component and kind (never includes message texts)",
    ["component", "kind"], registry=REGISTRY,
)
TICKETS_OPENED = Counter(
    "jiebang_tickets_opened", "Unbind tickets opened (created, not reused)", ["channel"],
    registry=REGISTRY,
)
HTTP_RESPONSES = Counter(
    "jiebang_channel_responses", "Channel HTTP responses by channel and status class",
    ["channel", "status"], registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    """The text exposition of every metric and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
