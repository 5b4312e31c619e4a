"""`python -m bot.bench.compare`: trees of this project against the reference, alternating.

For checking a change between full runs: each tree (a checkout and its trained model,
e.g. ``before=/tmp/old:/tmp/old/models/bot.tar.gz`` from ``git archive``) is started as
`make run` starts it, beside one `rasa init` reference, and all of them get the same
load script in turn (the order reversed every round, so drift in the machine's load
falls on each alike). Printed per bot and level: p95 latency and throughput, each as a
ratio to the reference, and each server's CPU time per turn (psutil, process trees).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bot.bench.load import LoadResult, Script, ours_script, reference_script, run_load, warm_up
from bot.bench.system import Server, our_bot, reference_server


@dataclass(frozen=True)
class Tree:
    """One checkout of the project to serve, and the model it serves."""

    name: str
    root: Path
    model: Path

    @classmethod
    def parse(cls, spec: str) -> Tree:
        """``name=ROOT:MODEL``; a relative MODEL is taken inside ROOT."""
        name, sep, rest = spec.partition("=")
        root, colon, model = rest.partition(":")
        if not (sep and colon and name and root and model) or name == "reference":
            raise argparse.ArgumentTypeError(f"expected name=ROOT:MODEL, got {spec!r}")
        return cls(name, Path(root).resolve(), (Path(root) / model).resolve())


@dataclass
class Tally:
    """Everything measured for one bot at one level of concurrency."""

    result: LoadResult
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, run: LoadResult, cpu: dict[str, float]) -> None:
        self.result.merge(run)
        for label, seconds in cpu.items():
            self.cpu[label] = self.cpu.get(label, 0.0) + seconds

    def cpu_ms_per_turn(self) -> dict[str, float]:
        turns = max(1, self.result.turns)
        return {label: 1000 * seconds / turns for label, seconds in self.cpu.items()}


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    script: Script
    servers: dict[str, Server]


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children."""
    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def measure(targets: list[Target], levels: tuple[int, ...], rounds: int, seconds: float,
            say: Callable[[str], None] = print) -> dict[tuple[str, int], Tally]:
    """Every target at every level, ``rounds`` times, in alternating order."""
    tallies: dict[tuple[str, int], Tally] = {}
    for level in levels:
        for round_no in range(rounds):
            for target in targets if round_no % 2 == 0 else targets[::-1]:
                before = {label: tree_cpu(s.pid) for label, s in target.servers.items()}
                run = run_load(target.name, target.url, target.script, level, seconds)
                cpu = {label: tree_cpu(s.pid) - before[label]
                       for label, s in target.servers.items()}
                tally = tallies.setdefault((target.name, level),
                                           Tally(LoadResult(target.name, level)))
                tally.add(run, cpu)
                say(f"{target.name} ×{level} round {round_no + 1}: {run.turns} turns, "
                    f"p95 {run.p(95):.1f} ms, {run.throughput:.1f}/s, {run.errors} errors")
    return tallies


def summary(tallies: dict[tuple[str, int], Tally]) -> list[str]:
    """One line per bot and level, ratios to the reference at the same level."""
    lines = []
    for (name, level), tally in tallies.items():
        reference = tallies[("reference", level)].result
        result = tally.result
        cpu = ", ".join(f"{label} {ms:.1f} ms" for label, ms in tally.cpu_ms_per_turn().items())
        slowest = ", ".join(f"turn {n} {share:.0%}"
                            for n, share in result.slowest_turns().items())
        lines.append(
            f"×{level} {name}: p95 {result.p(95):.1f} ms ({result.p(95) / reference.p(95):.2f}×), "
            f"{result.throughput:.1f} turns/s ({result.throughput / reference.throughput:.2f}×), "
            f"errors {result.errors}; CPU per turn: {cpu}; the top 5%: {slowest}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.compare", description=__doc__)
    parser.add_argument("trees", nargs="+", type=Tree.parse, help="name=ROOT:MODEL")
    parser.add_argument("--reference", type=Path, required=True,
                        help="a `rasa init` project with its trained model "
                             "(bot.bench.training.create_reference makes one)")
    parser.add_argument("--work", type=Path, required=True, help="folder for DBs and logs")
    parser.add_argument("--levels", default="1,10", help="concurrent conversations")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0, help="per run")
    args = parser.parse_args(argv)
    os.environ.setdefault("RATE_LIMIT_SENDER", "1000000")
    servers: list[Server] = []
    targets: list[Target] = []
    for tree in args.trees:
        bot = our_bot(args.work / tree.name, tree.model, tree.name)
        for server in (bot.actions, bot.rasa):
            server.cwd = tree.root
            server.env["PYTHONPATH"] = str(tree.root)
        servers += [bot.actions, bot.rasa]
        targets.append(Target(tree.name, bot.rest_url, ours_script,
                              {"rasa": bot.rasa, "actions": bot.actions}))
    reference = reference_server(args.reference, args.work)
    servers.append(reference)
    targets.append(Target("reference", reference.health_url.replace(
        "/status", "/webhooks/rest/webhook"), reference_script, {"rasa": reference}))
    try:
        for server in servers:
            server.start()
        for target in targets:
            warm_up(target.url, target.script)
        levels = tuple(int(level) for level in args.levels.split(","))
        tallies = measure(targets, levels, args.rounds, args.seconds)
    finally:
        for server in servers:
            server.stop()
    print("\n".join(["", *summary(tallies)]))
    return 1 if any(t.result.errors for t in tallies.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
