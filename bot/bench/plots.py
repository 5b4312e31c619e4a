"""PNG plots for docs/bench/ (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bot.bench.load import LoadResult  # noqa: E402
from bot.bench.long import LongResult  # noqa: E402
from bot.bench.nlu_quality import SweepPoint  # noqa: E402


def confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path) -> None:
    """Confusion matrix of the most-confused intents (rows: expected, columns: predicted)."""
    fig, ax = plt.subplots(figsize=(9, 8))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=7,
                        color="white" if value > max(map(max, matrix)) / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    ax.set_title("Hold-out: the most-confused intents")
    fig.colorbar(image, ax=ax, shrink=0.7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def threshold(points: Sequence[SweepPoint], configured: float, path: Path) -> None:
    """Accuracy and fallback precision/recall against the FallbackClassifier threshold."""
    xs = [p.threshold for p in points]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(xs, [p.accuracy for p in points], "o-", label="accuracy (hold-out + gibberish)")
    ax.plot(xs, [p.in_scope_accuracy for p in points], "s-", label="in-scope accuracy")
    ax.plot(xs, [p.fallback_recall for p in points], "^--", label="fallback recall")
    ax.plot(xs, [p.fallback_precision for p in points], "v--", label="fallback precision")
    ax.plot(xs, [p.false_fallback_rate for p in points], "x:", label="false fallback rate")
    ax.axvline(configured, color="grey", linestyle=":", label=f"config.yml ({configured})")
    ax.set_xlabel("FallbackClassifier threshold")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency(results: dict[tuple[str, int], LoadResult], path: Path) -> None:
    """p50/p95/p99 per turn for each bot and concurrency level."""
    bots = sorted({b for b, _ in results}, key=lambda b: b != "ours")
    levels = sorted({c for _, c in results})
    fig, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 4), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        for offset, bot in enumerate(bots):
            result = results.get((bot, level))
            if not result:
                continue
            values = [result.p(50), result.p(95), result.p(99)]
            xs = [i + offset * 0.38 for i in range(3)]
            ax.bar(xs, values, width=0.36, label=bot)
        ax.set_xticks([i + 0.19 for i in range(3)], ["p50", "p95", "p99"])
        ax.set_title(f"{level} conversation{'s' if level > 1 else ''}")
        ax.set_ylabel("ms per turn")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput(groups: dict[str, dict[tuple[str, int], LoadResult]], path: Path) -> None:
    """Turns per second per bot (or worker count) and concurrency level."""
    groups = {k: v for k, v in groups.items() if v}
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), squeeze=False)
    for ax, (title, results) in zip(axes[0], groups.items(), strict=True):
        bots = list(dict.fromkeys(b for b, _ in results))
        levels = sorted({c for _, c in results})
        for offset, bot in enumerate(bots):
            xs = [i + offset * 0.38 for i in range(len(levels))]
            ax.bar(xs, [results[(bot, c)].throughput if (bot, c) in results else 0
                        for c in levels], width=0.36, label=bot)
        ax.set_xticks([i + 0.19 for i in range(len(levels))], [f"×{c}" for c in levels])
        ax.set_xlabel("concurrent conversations")
        ax.set_ylabel("turns / s")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def long_conversation(results: Sequence[LongResult], path: Path) -> None:
    """p50 turn latency per bucket of turns of one long conversation, per bot and store."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for result in results:
        values = result.buckets()
        xs = [i * result.bucket for i in range(len(values))]
        ax.plot(xs, values, marker="o", linestyle="-" if result.bot == "ours" else "--",
                label=f"{result.bot}, {result.store}")
    ax.set_xlabel("turn of the conversation (start of each bucket)")
    ax.set_ylabel("p50 ms per turn")
    ax.set_ylim(bottom=0)
    ax.set_title("One long conversation: turn latency as it grows")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
