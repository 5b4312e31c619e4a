"""`python -m bot.bench.compare`: its tree specs and the ratios it prints."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.bench.compare import Tally, Tree, summary
from bot.bench.load import LoadResult


def test_a_tree_is_name_root_and_a_model_inside_it(tmp_path: Path) -> None:
    tree = Tree.parse(f"before={tmp_path}:models/bot.tar.gz")
    assert tree == Tree("before", tmp_path.resolve(), (tmp_path / "models/bot.tar.gz").resolve())
    absolute = tmp_path / "elsewhere.tar.gz"
    assert Tree.parse(f"after={tmp_path}:{absolute}").model == absolute.resolve()
    for bad in ("before", f"before={tmp_path}", f"={tmp_path}:m", f"reference={tmp_path}:m"):
        with pytest.raises(argparse.ArgumentTypeError):
            Tree.parse(bad)


def _tally(bot: str, latencies_ms: list[float], seconds: float, cpu: float) -> Tally:
    tally = Tally(LoadResult(bot, 1))
    half = len(latencies_ms) // 2
    for part in (latencies_ms[:half], latencies_ms[half:]):  # two rounds add up
        run = LoadResult(bot, 1, [ms / 1000 for ms in part], seconds / 2,
                         positions=list(range(len(part))))
        tally.add(run, {"rasa": cpu / 2})
    return tally


def test_the_summary_gives_ratios_to_the_reference_at_the_same_level() -> None:
    tallies = {
        ("after", 1): _tally("after", [10.0] * 20, 2.0, 0.2),
        ("reference", 1): _tally("reference", [40.0] * 10, 2.0, 0.5),
    }
    after, reference = summary(tallies)
    assert after.startswith("×1 after: p95 10.0 ms (0.25×), 10.0 turns/s (2.00×)")
    assert "CPU per turn: rasa 10.0 ms;" in after  # 0.2 s over 20 turns
    assert "(1.00×)" in reference and "rasa 50.0 ms" in reference


def test_the_slowest_turns_are_named_by_their_place_in_the_script() -> None:
    # 40 conversations of 4 turns: turn 3 (the ticket, say) is slow in 30 of them.
    latencies = [0.010, 0.012, 0.011, 0.030] * 30 + [0.010, 0.012, 0.011, 0.013] * 10
    result = LoadResult("ours", 1, latencies, 1.0, positions=[0, 1, 2, 3] * 40)
    assert result.slowest_turns() == {3: 1.0}
    both = LoadResult("ours", 1, [0.01, 0.05, 0.01, 0.05], 1.0, positions=[0, 1, 0, 2])
    assert both.slowest_turns(50) == {1: 0.5, 2: 0.5}
    merged = LoadResult("ours", 1)
    merged.merge(result)
    assert merged.positions == result.positions and merged.slowest_turns() == {3: 1.0}
